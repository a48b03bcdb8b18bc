"""Stores: where items, vectors and the lexical index live, chosen by URI."""

from polyseek.stores.base import Row, Store, open_store, stores

__all__ = ["Row", "Store", "open_store", "stores"]
