"""Name → factory registries for backends (stores, encoders, ingestors, generators...).

Backends register with a decorator; a dotted path ``package.module:Class`` is the escape hatch
for backends that live outside polyseek. Installed packages extend polyseek without editing it through the
``polyseek.plugins`` entry-point group: each entry point names a module, imported the first time any
registry is consulted, whose ``@stores.register(...)``, ``@encoders.register(...)``, ``@ingestors.register(...)``
or ``@generators.register(...)`` decorators add its backends (the way pytest and llm plugins work).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from polyseek.errors import InvalidInputError

T = TypeVar("T")
PLUGIN_GROUP = "polyseek.plugins"
log = logging.getLogger(__name__)
_plugins_loaded = False
plugin_errors: dict[str, str] = {}  # entry point name → why it failed to load


def load_plugins() -> None:
    """Import every module declared in the ``polyseek.plugins`` entry-point group, once per process.

    A plugin that fails to import is logged with its reason and skipped; polyseek keeps working.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points  # here: a search whose names are all built in never needs it (~30 ms)

    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break polyseek
            plugin_errors[entry.name] = f"{type(exc).__name__}: {exc}"
            log.warning("polyseek plugin %r (%s) failed to load: %s", entry.name, entry.value, plugin_errors[entry.name])


class Registry(Generic[T]):
    """A registry of named factories; ``lazy`` maps names to modules imported on first use."""

    def __init__(self, kind: str, lazy: dict[str, str] | None = None) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._lazy = dict(lazy or {})

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        load_plugins()
        return sorted(set(self._factories) | set(self._lazy))

    def get(self, name: str) -> Callable[..., T]:
        if name not in self._factories and name not in self._lazy:
            load_plugins()
        if name not in self._factories and name in self._lazy:
            importlib.import_module(self._lazy[name])
        if name in self._factories:
            return self._factories[name]
        if ":" in name:
            module_name, _, attr = name.partition(":")
            try:
                return getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                raise InvalidInputError(f"cannot load {self.kind} {name!r}: {exc}") from exc
        raise InvalidInputError(
            f"unknown {self.kind} {name!r}",
            hint="known: " + ", ".join(self.names()) + ", or a dotted path 'package.module:Class'",
        )

    def create(self, name: str, *args, **kwargs) -> T:
        return self.get(name)(*args, **kwargs)
