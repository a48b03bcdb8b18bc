"""Golden output of every CLI verb (``--json``), on the plumbing encoders and generated files.

Paths are masked as ``<root>``, ids as ``<id>``, timings and the version as ``<...>``, floats rounded to 4 places,
so a golden depends only on what polyseek does. ``POLYSEEK_UPDATE_GOLDEN=1`` rewrites them after an intended change
(then read the diff). The search golden lives in ``test_cli.py``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from polyseek.cli.app import app

GOLDEN = Path(__file__).parent / "golden"
PLUMBING = ["--image-encoder", "deterministic", "--text-encoder", "deterministic"]
VOLATILE = {"seconds", "polyseek_version", "took_ms"}
_ID = re.compile(r"^[0-9a-f]{20}$")


def run(*args: str) -> dict:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def normalise(value, root: Path):
    if isinstance(value, dict):
        return {k: f"<{k}>" if k in VOLATILE else normalise(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, root) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, str):
        return "<id>" if _ID.match(value) else value.replace(str(root), "<root>")
    return value


def check(name: str, value, root: Path) -> None:
    got = normalise(value, root)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("POLYSEEK_UPDATE_GOLDEN") or not path.exists():
        if not os.environ.get("POLYSEEK_UPDATE_GOLDEN"):
            pytest.fail(f"no golden {path.name}: run with POLYSEEK_UPDATE_GOLDEN=1 and review it")
        path.write_text(json.dumps(got, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    assert got == json.loads(path.read_text()), f"{name} differs from {path}"


@pytest.fixture
def indexed(collection, tmp_path):
    store = str(tmp_path / "store")
    summary = run("index", str(collection), "--store", store, "--json", *PLUMBING)
    return store, summary


def test_index_golden(indexed, tmp_path):
    _, summary = indexed
    check("index", summary, tmp_path)


def test_reindex_golden(indexed, collection, tmp_path):
    store, _ = indexed
    (collection / "notes" / "pets.md").write_text("# Dogs\nA dog running on grass, twice.\n")
    (collection / "photos" / "green.jpg").unlink()
    check("reindex", run("index", str(collection), "--store", store, "--json"), tmp_path)


def test_status_golden(indexed, tmp_path):
    store, _ = indexed
    check("status", run("status", "--store", store), tmp_path)


def test_delete_golden(indexed, collection, tmp_path):
    store, _ = indexed
    removed = run("delete", str(collection / "notes"), "--store", store, "--json")
    after = run("status", "--store", store)
    check("delete", {"delete": removed, "status_after": after}, tmp_path)


def test_ask_extractive_golden(indexed, tmp_path):
    store, _ = indexed
    answer = run("ask", "what do cats do", "--store", store, "--json", "--generator", "extractive")
    answer["context"] = sorted(answer["context"], key=lambda c: c["path"])  # equal scores: order by path
    check("ask_extractive", answer, tmp_path)


def test_concept_add_and_list_golden(indexed, collection, tmp_path):
    store, _ = indexed
    added = run("concept", "add", "Rex", "--description", "my red dog", "--attr", "age=4",
                "--image", str(collection / "photos" / "red.jpg"), "--store", store, "--json")
    listed = run("concept", "list", "--store", store, "--json")
    check("concept_add_list", {"add": added, "list": listed}, tmp_path)


def test_eval_captions_golden(tmp_path):
    root = tmp_path / "captions"
    (root / "images").mkdir(parents=True)
    colours = {"red.jpg": (220, 20, 20), "green.jpg": (20, 200, 40), "blue.jpg": (30, 40, 220)}
    for name, rgb in colours.items():
        Image.new("RGB", (40, 30), rgb).save(root / "images" / name)
    captions = [{"image": name, "captions": [f"a {name[:-4]} square", f"something {name[:-4]}"]} for name in colours]
    (root / "captions.json").write_text(json.dumps(captions))
    summary = run("eval", "captions", str(root), "--output", str(tmp_path / "report.json"), "--backend", "memory",
                  "--json", *PLUMBING)
    check("eval_captions", summary, tmp_path)
    assert (tmp_path / "report.json").is_file() and (tmp_path / "report.md").is_file()
