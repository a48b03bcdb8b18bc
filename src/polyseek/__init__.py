"""polyseek: universal multimodal retrieval and grounded answers, offline by default."""

from __future__ import annotations

from polyseek.errors import PolyseekError  # noqa: E402
from polyseek.types import Filters, Hit, Item, Locator, Modality, Query, QueryPart  # noqa: E402
from polyseek.version import __version__


def __getattr__(name: str):
    if name == "Engine":  # imported lazily: it pulls numpy and the stores
        from polyseek.engine import Engine

        return Engine
    raise AttributeError(name)


__all__ = ["Engine", "Filters", "Hit", "Item", "Locator", "Modality", "PolyseekError", "Query", "QueryPart", "__version__"]
