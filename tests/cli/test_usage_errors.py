"""Everyday mistakes at the command line: one line naming the mistake and where to read more, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from polyseek.cli.app import main


def cli(*args: str, env=None):
    return subprocess.run([sys.executable, "-m", "polyseek", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "120", **(env or {})}, timeout=120)


def one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("args, words", [
    (["search", "x", "--k", "abc"], ["Invalid value for '--k'", "polyseek search --help"]),
    (["search", "x", "--k", "0"], ["--k", "polyseek search --help"]),
    (["search", "x", "--bogus"], ["No such option: --bogus", "polyseek search --help"]),
    (["serch", "x"], ["No such command 'serch'", "polyseek --help"]),
    (["index"], ["Missing argument 'paths'", "polyseek index --help"]),
    (["concept", "add"], ["Missing argument 'name'", "polyseek concept add --help"]),
    (["search", "x", "--modality"], ["--modality", "requires an argument"]),
])
def test_usage_errors_are_one_line_with_a_hint(args, words):
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    line = one_line(result)
    for word in words:
        assert word in line, line


@pytest.mark.parametrize("args", [[], ["concept"], ["eval"]])
def test_a_bare_command_shows_its_help(args):
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("verb", [["search", "cats"], ["ask", "what is it"], ["status"], ["delete", "x.jpg"],
                                  ["concept", "list"], ["concept", "show", "Rex"]])
def test_a_store_that_holds_no_index_is_named_not_created(verb, tmp_path):
    typo = tmp_path / "my-indx"
    result = cli(*verb, "--store", str(typo))
    assert result.returncode == 4, result.stderr
    assert f"no index at {typo}" in one_line(result)
    assert not typo.exists()  # nothing was created in its place


def test_a_read_command_refuses_a_folder_that_is_not_an_index(tmp_path):
    (tmp_path / "photos").mkdir()
    result = cli("search", "cats", "--store", str(tmp_path / "photos"))
    assert result.returncode == 4 and "no index at" in one_line(result)
    assert list((tmp_path / "photos").iterdir()) == []


def test_indexing_only_missing_paths_fails_without_creating_a_store(tmp_path):
    store = tmp_path / "store"
    result = cli("index", str(tmp_path / "does" / "not" / "exist"), "--store", str(store))
    assert result.returncode == 4, result.stderr
    assert "no such file or folder" in one_line(result)
    assert not store.exists()


@pytest.fixture(scope="module")
def indexed_store(tmp_path_factory) -> str:
    """A small index built in-process (the CLI's own code; a subprocess per test would cost seconds each)."""
    from typer.testing import CliRunner

    from polyseek.cli.app import app
    from tests.conftest import make_images

    root = tmp_path_factory.mktemp("usage")
    make_images(root / "collection" / "photos")
    (root / "collection" / "notes.md").write_text("# Dogs\nA dog's toy, a covid-19 note from 2020, a 2:30 pm meeting.\n")
    store = str(root / "store")
    result = CliRunner().invoke(app, ["index", str(root / "collection"), "--store", store, "--image-encoder",
                                      "deterministic", "--text-encoder", "deterministic"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return store


def test_indexing_a_missing_path_into_an_existing_store_fails_too(indexed_store, tmp_path):
    result = cli("index", str(tmp_path / "nope"), "--store", indexed_store)
    assert result.returncode == 4 and "no such file or folder" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert result.stdout.strip() == "" and len(result.stderr.strip().splitlines()) == 1  # one line, no summary


@pytest.mark.parametrize("query", ["a dog's toy", "2:30 pm meeting", "covid-19 - 2020", '"unclosed'])
def test_ordinary_text_is_searched(query, indexed_store):
    from typer.testing import CliRunner

    from polyseek.cli.app import app

    result = CliRunner().invoke(app, ["search", query, "--store", indexed_store, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert '"hits"' in result.stdout and "notes.md" in result.stdout


def test_ordinary_text_in_a_real_process(indexed_store):
    result = cli("search", "a dog's toy", "--store", indexed_store, "--json")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


def test_the_cli_leaves_hugging_face_online(monkeypatch, capsys):
    """An online user must be able to load hub models (hf-clip:openai/clip-vit-base-patch32): nothing forces offline."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and "polyseek" in capsys.readouterr().out
    assert "HF_HUB_OFFLINE" not in os.environ


def test_the_offline_hint_names_the_variable_that_is_set(monkeypatch):
    from polyseek.encoders.hf_clip import load_failure

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    error = load_failure("CLIP", "openai/clip-vit-base-patch32", OSError("offline"))
    assert "TRANSFORMERS_OFFLINE is set" in error.message and "TRANSFORMERS_OFFLINE unset" in error.hint
    assert "HF_HUB_OFFLINE" not in str(error)


def test_a_bug_is_one_line_with_exit_70_and_the_traceback_on_request(monkeypatch, capsys):
    import polyseek.cli.core as core

    def broken(*args, **kwargs):
        raise KeyError("a bug inside polyseek")

    monkeypatch.setattr(core, "make_engine", broken)
    monkeypatch.delenv("POLYSEEK_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stop:
        main(["status"])
    assert stop.value.code == 70
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: internal error (KeyError") and "POLYSEEK_DEBUG=1" in lines[0], err

    monkeypatch.setenv("POLYSEEK_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["status"])
