"""``polyseek upgrade`` from the shell: start without backfill, status, resume, rollback, and refusals."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from polyseek.cli.app import app
from polyseek.engine import Engine
from polyseek.errors import InvalidInputError, PolyseekError
from tests.upgrade.test_upgrade import NEW, make_notes


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def ok(*args: str) -> dict:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_upgrade_commands(tmp_path):
    make_notes(tmp_path / "notes", n=24)
    store = str(tmp_path / "store")
    engine = Engine(store, image_encoder="deterministic", text_encoder="deterministic")
    engine.index([str(tmp_path / "notes")])
    engine.close()

    refused = invoke("upgrade", "--store", store, "--text-encoder", NEW, "--anchor", "1.5")
    assert refused.exit_code == 2 and "--anchor" in refused.output  # usage error, nothing started
    assert ok("upgrade", "--store", store, "--status") == {}
    started = ok("upgrade", "--store", store, "--text-encoder", NEW, "--sample", "12", "--no-backfill", "--anchor", "0.3")
    assert started["start"]["space"] == "text" and "backfill" not in started
    assert started["start"]["fit"]["anchor"]["weight"] == 0.3
    shown = ok("upgrade", "--store", store, "--status")
    assert shown["text"]["items_done"] == 12 and shown["text"]["items_total"] == 24
    rolled = ok("upgrade", "--store", store, "--rollback")
    assert rolled["encoder"] == "deterministic"
    assert ok("upgrade", "--store", store, "--status") == {}

    done = ok("upgrade", "--store", store, "--text-encoder", NEW, "--sample", "12", "--batch-files", "5")
    assert done["backfill"]["finalize"]["encoder"] == NEW
    reopened = Engine(store)
    assert reopened.encoder_names()["text"] == NEW
    reopened.close()


def test_refusals_are_one_line(tmp_path):
    for args, message in [
        (("upgrade", "--store", str(tmp_path / "none"), "--status"), "no index"),
        (("upgrade", "--store", str(tmp_path / "none")), "say what to do"),
        (("upgrade", "--store", str(tmp_path / "none"), "--resume", "--space", "audio"), "unknown space"),
    ]:
        result = invoke(*args)
        assert result.exit_code != 0
        assert isinstance(result.exception, PolyseekError), result.output
        assert message in str(result.exception).lower() or message in result.output.lower(), (message, str(result.exception))
    assert issubclass(InvalidInputError, PolyseekError)


def test_query_encoder_is_recorded_and_attached(tmp_path):
    import numpy as np

    from polyseek.encoders.base import load_encoder
    from polyseek.upgrade import attach

    make_notes(tmp_path / "notes", n=6)
    store = str(tmp_path / "store")
    engine = Engine(store, image_encoder="deterministic", text_encoder="deterministic")
    engine.index([str(tmp_path / "notes")])
    engine.close()
    assert ok("upgrade", "--store", store, "--query-encoder", NEW) == {"query_encoder": NEW, "spaces": ["image", "text"]}
    reopened = Engine(store)
    attach(reopened)  # what Engine.__init__ does once wired
    expected = load_encoder(NEW).encode_queries(["dog beach"])
    assert np.allclose(reopened.encoder("text").encode_queries(["dog beach"]), expected)
    assert reopened.encoder("text").encode_documents(["dog beach"]).tolist() == load_encoder("deterministic").encode_documents(["dog beach"]).tolist()
    reopened.close()
    assert ok("upgrade", "--store", store, "--query-encoder", "default")["query_encoder"] == "default"
    again = Engine(store)
    attach(again)
    assert np.allclose(again.encoder("text").encode_queries(["dog beach"]), load_encoder("deterministic").encode_queries(["dog beach"]))
    again.close()
