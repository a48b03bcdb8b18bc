"""polyseek: universal multimodal retrieval and grounded answers, offline by default."""

from __future__ import annotations

from polyseek.version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms of a command a server answers)

if TYPE_CHECKING:
    from polyseek.engine import Engine
    from polyseek.errors import PolyseekError
    from polyseek.types import Filters, Hit, Item, Locator, Modality, Query, QueryPart

# imported on first use: a command answered by a running server (cli/remote.py) never needs them (~25 ms of CPU),
# and Engine pulls numpy and the stores
_LAZY = {"Engine": "polyseek.engine", "PolyseekError": "polyseek.errors", "Filters": "polyseek.types",
         "Hit": "polyseek.types", "Item": "polyseek.types", "Locator": "polyseek.types", "Modality": "polyseek.types",
         "Query": "polyseek.types", "QueryPart": "polyseek.types"}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'polyseek' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["Engine", "Filters", "Hit", "Item", "Locator", "Modality", "PolyseekError", "Query", "QueryPart", "__version__"]
