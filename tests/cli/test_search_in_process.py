"""A plain ``polyseek search`` with no server up runs in-process without the Typer app, and prints exactly what the
full CLI prints (hits, table, errors); the shipped encoders are loaded in a thread while the store opens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from polyseek.cli.remote import index_encoders, preload_encoders

FAST = "from polyseek.cli import main; main(sys.argv[1:])"
FULL = "from polyseek.cli.app import main; main(sys.argv[1:])"


def run(entry: str, *args: str) -> subprocess.CompletedProcess:
    """``polyseek ARGS`` in a new process through ``entry``; stderr's last line says whether Typer was imported."""
    code = ("import atexit, sys; atexit.register(lambda: print('TYPER' if 'typer' in sys.modules else 'NO-TYPER', "
            f"file=sys.stderr)); {entry}")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "POLYSEEK_TIMINGS": "0", "COLUMNS": "160"}
    env.pop("POLYSEEK_STORE", None)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def shipped_index(tmp_path_factory) -> Path:
    """A small index of notes and photos made with the shipped encoders (their files come with the install)."""
    from polyseek.engine import Engine
    from tests.conftest import make_images

    root = tmp_path_factory.mktemp("collection")
    make_images(root / "photos")
    (root / "notes").mkdir()
    for name, text in {"pets.md": "# Dogs\nA dog running on grass.\n\n# Cats\nCats sleep a lot on the sofa.",
                       "harbour.txt": "The ferry leaves the harbour at seven; the lighthouse stands on the pier.",
                       "money.txt": "Quarterly revenue by region rose in Europe and fell in Asia."}.items():
        (root / "notes" / name).write_text(text)
    store = root.parent / "store"
    engine = Engine(str(store))
    engine.index([root])
    engine.close()
    return store


@pytest.mark.slow
@pytest.mark.parametrize("extra", [["--json"], ["-k", "3", "--type", "TXT", "--no-rerank"], ["-m", "text", "--json"]])
def test_the_in_process_fast_path_prints_what_the_full_cli_prints(shipped_index: Path, extra: list[str]):
    args = ["search", "a dog on the grass", "--store", str(shipped_index), *extra]
    fast, full = run(FAST, *args), run(FULL, *args)
    assert fast.returncode == 0 and full.returncode == 0, fast.stderr + full.stderr
    assert fast.stdout == full.stdout and fast.stdout.strip() not in ("", "no results")
    assert fast.stderr.strip().splitlines()[-1] == "NO-TYPER"
    assert full.stderr.strip().splitlines()[-1] == "TYPER"


@pytest.mark.slow
def test_errors_read_as_the_full_cli_reports_them(shipped_index: Path, tmp_path: Path):
    # a polyseek error inside the search (an image term naming a missing file): reported by the fast path itself
    missing = ["search", '"a dog"', "+", "./missing.jpg", "--store", str(shipped_index)]
    fast, full = run(FAST, *missing), run(FULL, *missing)
    assert fast.returncode == full.returncode != 0
    assert fast.stderr.splitlines()[:-1] == full.stderr.splitlines()[:-1] and "missing.jpg" in fast.stderr
    assert fast.stderr.strip().splitlines()[-1] == "NO-TYPER"
    # no index in the folder: left to the full CLI, which names it
    empty = run(FAST, "search", "dog", "--store", str(tmp_path / "nothing"))
    assert empty.returncode != 0 and "no index at" in empty.stderr and empty.stderr.strip().splitlines()[-1] == "TYPER"


def test_the_shipped_encoders_are_preloaded_and_others_are_not(tmp_path: Path, engine_factory, collection: Path):
    engine = engine_factory(tmp_path / "plumbing")  # deterministic encoders: never preloaded
    engine.index([collection])
    engine.close()
    assert index_encoders(tmp_path / "plumbing") == ["deterministic", "deterministic"]
    assert preload_encoders(tmp_path / "plumbing") is None
    assert index_encoders(tmp_path / "nowhere") == []
