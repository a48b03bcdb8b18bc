"""The backfill beside searches: its encoder runs on the threads it is given, and the next batch is decoded on
another thread while the current one is encoded (the journal still records each batch after its write)."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest

from polyseek.engine import Engine
from polyseek.types import item_id
from polyseek.upgrade import backfill, status, upgrade
from polyseek.upgrade import state as st
from tests.upgrade.small_encoders import Threaded
from tests.upgrade.test_upgrade import make_notes

NEW = "tests.upgrade.small_encoders:Threaded"
backfill_module = importlib.import_module("polyseek.upgrade.backfill")  # the package exports the function by that name


@pytest.fixture
def engine(tmp_path):
    make_notes(tmp_path / "notes", n=24)
    engine = Engine(str(tmp_path / "store"), image_encoder="deterministic", text_encoder="deterministic")
    engine.index([str(tmp_path / "notes")])
    upgrade(engine, text_encoder=NEW, sample=8, keep_sample=False)
    yield engine
    engine.close()


def test_the_backfill_encoder_runs_on_the_threads_it_is_given(engine):
    Threaded.calls = []
    backfill(engine, batch_files=4, max_files=8, finalize_when_done=False)
    assert Threaded.calls == [1, 1]  # one thread by default: searches keep the other cores
    Threaded.calls = []
    backfill(engine, batch_files=4, max_files=8, finalize_when_done=False, threads=None)
    assert Threaded.calls == [None, None]  # the encoder's own default


def test_the_next_batch_is_decoded_while_the_current_one_is_encoded(engine, monkeypatch):
    decoded = [threading.Event() for _ in range(6)]
    decoders: list[str] = []
    original_decode, original_encode = backfill_module.decode_files, backfill_module.encode_decoded
    encoded = {"n": 0}
    overlapped: list[bool] = []

    def decode(keys, space, rows_of=None):
        decoders.append(threading.current_thread().name)
        decoded[len(decoders) - 1].set()
        return original_decode(keys, space, rows_of)

    def encode(batch, encoder):
        n = encoded["n"]
        encoded["n"] += 1
        if n + 1 < 6:  # the next batch's decoding has begun before this batch's encoding ends
            overlapped.append(decoded[n + 1].wait(timeout=10))
        return original_encode(batch, encoder)

    monkeypatch.setattr(backfill_module, "decode_files", decode)
    monkeypatch.setattr(backfill_module, "encode_decoded", encode)
    result = backfill(engine, batch_files=4, finalize_when_done=False)
    assert result["files"] == 24 and result["remaining_files"] == 0
    assert overlapped == [True] * 5
    assert decoders and all(name.startswith("backfill-decode") for name in decoders)
    assert len(st.done_files(engine.catalog, "text")) == 24 and status(engine)["text"]["items_done"] == 24


def test_stopping_early_journals_only_the_batches_written(engine):
    result = backfill(engine, batch_files=4, max_files=10, finalize_when_done=False)
    assert result["files"] == 10  # batches of 4, 4 and 2; the decode read ahead of the stop is dropped
    done = st.done_files(engine.catalog, "text")
    assert len(done) == 10 and status(engine)["text"]["items_done"] == 10
    ids = [i for key in done for i in engine.store.get_vectors("text__next", [item_id(key, 0)])]
    assert len(ids) == 10


def test_the_aligner_runs_its_images_on_a_session_of_the_threads_it_is_given():
    from PIL import Image

    from polyseek.align.features import onnx_backbone
    from polyseek.encoders.aligner import AlignerEncoder
    from polyseek.errors import InvalidInputError

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, size=(40, 60, 3), dtype=np.uint8)) for _ in range(3)]
    encoder = AlignerEncoder()
    one = encoder.with_threads(1)
    assert one.threads == 1 and encoder.threads is None and one.tower is encoder.tower
    assert np.allclose(one.encode_images(images), encoder.encode_images(images), atol=1e-5)
    session = onnx_backbone(encoder.config.backbone, 1)
    if session is not None:  # the ONNX runtime (torch is used where the export is impossible)
        assert session.get_session_options().intra_op_num_threads == 1
        assert session is not onnx_backbone(encoder.config.backbone)
    with pytest.raises(InvalidInputError):
        encoder.with_threads(0)


def test_cli_threads_and_nice_reach_the_backfill(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from polyseek.cli.app import app

    make_notes(tmp_path / "notes", n=12)
    store = str(tmp_path / "store")
    Engine(store, image_encoder="deterministic", text_encoder="deterministic").index([str(tmp_path / "notes")])
    niced: list[int] = []
    monkeypatch.setattr("os.nice", lambda n: niced.append(n) or n)  # the test runner keeps its priority
    run = CliRunner()
    for args, named in [(("--threads", "0"), "--threads"), (("--nice", "20"), "--nice"), (("--nice", "-1"), "--nice"),
                        (("--threads", "two"), "--threads")]:
        refused = run.invoke(app, ["upgrade", "--store", store, "--text-encoder", NEW, *args], env={"COLUMNS": "200"})
        assert refused.exit_code == 2 and named in refused.output  # the installed command prints it as one line
    assert st.states(Engine(store).catalog) == {}  # refused before anything started
    Threaded.calls = []
    done = run.invoke(app, ["upgrade", "--store", store, "--text-encoder", NEW, "--sample", "8", "--batch-files", "2",
                            "--threads", "3", "--nice", "7", "--json"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert niced == [7]
    backfilled = Threaded.calls[Threaded.calls.index(3):] if 3 in Threaded.calls else []  # after the sample's calls
    assert backfilled and set(backfilled) == {3}
