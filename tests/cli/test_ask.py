"""``polyseek ask`` and ``polyseek concept`` from the shell: the JSON contract, streaming output, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from polyseek.cli.app import app
from polyseek.errors import PolyseekError

PLUMBING = ["--image-encoder", "deterministic", "--text-encoder", "deterministic"]


def run(*args: str):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result


def fails(*args: str) -> PolyseekError:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert isinstance(result.exception, PolyseekError), result.output
    return result.exception


def test_ask_json_contract_and_streamed_text(collection, tmp_path):
    store = str(tmp_path / "store")
    run("index", str(collection), "--store", store, "--json", *PLUMBING)
    out = json.loads(run("ask", "what", "do", "cats", "do?", "--store", store, "--json").stdout)
    assert set(out) >= {"answer", "citations"} and "Cats sleep a lot" in out["answer"]
    citation = out["citations"][0]
    assert citation["path"] == str(collection / "notes" / "pets.md") and citation["locator"]["line_start"] >= 1
    assert isinstance(citation["id"], str) and citation["number"] == 1
    shown = run("ask", "what do cats do?", "--store", store).stdout
    assert shown.startswith("Cats sleep a lot") and f"[1] {collection / 'notes' / 'pets.md'}" in shown
    events = [json.loads(line) for line in run("ask", "what do cats do?", "--store", store, "--events").stdout.splitlines()]
    assert events[0]["type"] == "context" and events[-1]["type"] == "done"


def test_ask_errors_are_one_line(collection, tmp_path):
    store = str(tmp_path / "store")
    run("index", str(collection), "--store", store, *PLUMBING)
    result = subprocess.run([sys.executable, "-m", "polyseek", "ask", "what do cats do?", "--store", store,
                             "--generator", "openai:m@http://127.0.0.1:9/v1"], capture_output=True, text=True, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: cannot reach the generator endpoint")
    assert "bad openai generator spec" in str(fails("ask", "hello?", "--store", store, "--generator", "openai:oops"))


def test_concept_commands_round_trip(collection, tmp_path):
    store = str(tmp_path / "store")
    run("index", str(collection), "--store", store, *PLUMBING)
    ref = tmp_path / "rex.png"
    Image.new("RGB", (20, 20), (30, 30, 220)).save(ref)
    added = json.loads(run("concept", "add", "Rex", "--description", "my dog", "--attr", "age=4", "--image", str(ref),
                           "--store", store, "--json").stdout)
    assert added == {"name": "Rex", "description": "my dog", "attributes": {"age": "4"}, "images": [str(ref)]}
    hits = json.loads(run("search", "Rex", "--store", store, "--signal", "image", "--json").stdout)["hits"]
    assert Path(hits[0]["path"]).stem == "blue"
    edited = json.loads(run("concept", "edit", "rex", "--attr", "age=", "--attr", "breed=mutt", "--store", store, "--json").stdout)
    assert edited["attributes"] == {"breed": "mutt"}
    exported = tmp_path / "concepts.json"
    run("concept", "export", str(exported), "--store", store)
    run("concept", "remove", "Rex", "--store", store)
    assert json.loads(run("concept", "list", "--store", store, "--json").stdout) == {"concepts": []}
    run("concept", "import", str(exported), "--store", store)
    assert [c["name"] for c in json.loads(run("concept", "list", "--store", store, "--json").stdout)["concepts"]] == ["Rex"]
    assert "not found" in str(fails("concept", "add", "Mia", "--image", str(tmp_path / "missing.png"), "--store", store))
    assert "--attr takes key=value" in str(fails("concept", "add", "Mia", "--attr", "oops", "--store", store))
    assert [c["name"] for c in json.loads(run("concept", "list", "--store", store, "--json").stdout)["concepts"]] == ["Rex"]


def test_an_empty_answer_is_named_with_its_sources_not_printed_blank(collection, tmp_path, monkeypatch):
    (tmp_path / "silentpkg").mkdir()
    (tmp_path / "silentpkg" / "__init__.py").write_text("")
    (tmp_path / "silentpkg" / "gen.py").write_text(
        "class Silent:\n"
        "    accepts_images = False\n"
        "    context_window = 4096\n"
        "    def __init__(self, arg=''):\n"
        "        self.name = 'silentpkg.gen:Silent'\n"
        "    def stream(self, question, blocks, facts=()):\n"
        "        yield '  '\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    store = str(tmp_path / "store")
    run("index", str(collection), "--store", store, *PLUMBING)
    shown = run("ask", "what do cats do?", "--store", store, "--generator", "silentpkg.gen:Silent").stdout
    assert "(no answer: " in shown and "wrote nothing usable" in shown
    assert f"[1] {collection}" in shown  # the sources it was given are listed
    out = json.loads(run("ask", "what do cats do?", "--store", store, "--generator", "silentpkg.gen:Silent", "--json").stdout)
    assert out["answer"].strip() == "" and out["context"]  # the JSON stays as it was: an empty answer, its context
