"""Name → factory registries for backends (stores, encoders, ingestors, generators...).

Backends register with a decorator; a dotted path ``package.module:Class`` is the escape hatch
for backends that live outside polyseek.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from polyseek.errors import InvalidInputError

T = TypeVar("T")


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
        return sorted(set(self._factories) | set(self._lazy))

    def get(self, name: str) -> Callable[..., T]:
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
