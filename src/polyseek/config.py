"""Defaults and where things live: store URI resolution, default encoders."""

from __future__ import annotations

import os
from pathlib import Path

STORE_ENV = "POLYSEEK_STORE"
DEFAULT_TEXT_ENCODER = "bge-small-onnx"
DEFAULT_IMAGE_ENCODER = "aligner"
SCHEMA_VERSION = 1


def default_store_uri() -> str:
    from platformdirs import user_data_dir

    return str(Path(user_data_dir("polyseek")) / "index")


def resolve_store_uri(uri: str | os.PathLike[str] | None) -> str:
    """Explicit URI, else ``$POLYSEEK_STORE``, else a folder under the user's data directory."""
    if uri:
        return os.fspath(uri)
    return os.environ.get(STORE_ENV) or default_store_uri()
