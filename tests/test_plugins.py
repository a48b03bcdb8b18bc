"""Extension without editing polyseek: a package installed with pip adds a store and an ingestor by entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = '''
"""A tiny polyseek plugin: a store for ``recording://`` URIs and an ingestor for ``.note`` files."""
from polyseek.ingest.base import Chunk, ingestors
from polyseek.stores.base import stores
from polyseek.stores.memory import MemoryStore
from polyseek.types import Locator, Modality


@stores.register("recording")
class RecordingStore(MemoryStore):
    """The reference store, counting the rows written through it."""
    written = 0

    def upsert(self, rows):
        RecordingStore.written += len(rows)
        super().upsert(rows)


@ingestors.register("note")
class NoteIngestor:
    name = "note"
    extensions = frozenset({"note"})

    def ingest(self, path, progress=None):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                yield Chunk(modality=Modality.TEXT, locator=Locator(line_start=number, line_end=number), text="NOTE " + line)
'''

SETUP = '''
from setuptools import setup
setup(name="polyseek-demo-plugin", version="0.0.1", py_modules=["polyseek_demo_plugin"],
      entry_points={"polyseek.plugins": ["demo = polyseek_demo_plugin"]})
'''

USE = '''
import json, sys
from polyseek.engine import Engine
engine = Engine("recording://", image_encoder="deterministic", text_encoder="deterministic")
summary = engine.index([sys.argv[1]])
hits = engine.search("lighthouse", k=2)
print(json.dumps({"store": type(engine.store).__name__, "written": type(engine.store).written,
                  "added": summary.added, "texts": [h.item.text for h in hits]}))
'''


@pytest.mark.slow
def test_an_installed_plugin_adds_a_store_and_an_ingestor(tmp_path: Path):
    source = tmp_path / "plugin"
    source.mkdir()
    (source / "polyseek_demo_plugin.py").write_text(textwrap.dedent(PLUGIN))
    (source / "setup.py").write_text(textwrap.dedent(SETUP))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(source)], check=True, capture_output=True, timeout=300)
    assert list(site.glob("polyseek_demo_plugin-*.dist-info/entry_points.txt"))
    note = tmp_path / "harbour.note"
    note.write_text("the lighthouse was built in 1902\n\nthe ferry leaves at noon\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", USE, str(note)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["store"] == "RecordingStore" and out["written"] == 2 and out["added"] == 1
    assert out["texts"][0] == "NOTE the lighthouse was built in 1902"


def test_without_the_plugin_the_scheme_is_refused_naming_the_valid_ones():
    from polyseek.errors import StoreURIError
    from polyseek.stores import open_store

    with pytest.raises(StoreURIError, match="memory://"):
        open_store("recording://")
