"""Run a coroutine to completion on a fresh event loop in its own thread.

Playwright's sync API (the UI tests, which run earlier in the same session) keeps an event loop running in the
main thread while its browser fixture lives, and ``asyncio.run`` refuses to start inside a running loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
