"""A running ``polyseek serve`` answers the CLI's searches: no model loading in a cold command.

``serve`` leaves a discovery file in the store's folder (``serve.json``: pid, URL and, when the server needs
one, its token; readable by the owner only) and removes it on exit. ``polyseek search`` on the same store
finds it, checks that the process is alive, and sends the search over HTTP on the loopback; on any problem
(no server, a stale file, a refused request) it searches in-process as before, so results never depend on
whether a server is up. Only plain text queries go this way (an image or a preview needs local files).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

DISCOVERY = "serve.json"
TIMEOUT_SECONDS = 5.0


def discovery_path(store_uri: str) -> Path | None:
    """Where a server of this store announces itself (local folder stores only)."""
    if "://" in store_uri and not store_uri.startswith(("file://", "lancedb://")):
        return None
    folder = store_uri.split("://", 1)[-1] if "://" in store_uri else store_uri
    return Path(folder).expanduser() / DISCOVERY


def announce(store_uri: str, url: str, token: str | None) -> Path | None:
    """Write the discovery file (atomically, owner-only); returns its path, or None for non-local stores."""
    path = discovery_path(store_uri)
    if path is None or not path.parent.is_dir():
        return None
    temporary = path.with_name(f".{DISCOVERY}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"pid": os.getpid(), "url": url, "token": token}, handle)
    os.replace(temporary, path)
    return path


def withdraw(path: Path | None) -> None:
    """Remove this process's discovery file (not another server's that replaced it)."""
    if path is None:
        return
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def find_server(store_uri: str) -> dict[str, Any] | None:
    """The live server of this store, from its discovery file, or None."""
    path = discovery_path(store_uri)
    try:
        info = json.loads(path.read_text()) if path is not None else None
        os.kill(int(info["pid"]), 0)  # type: ignore[index]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return info if isinstance(info, dict) and str(info.get("url", "")).startswith("http://") else None


def remote_search(server: dict[str, Any], body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Hits as JSON from the server, or None when it cannot answer (the caller searches in-process)."""
    headers = {"Content-Type": "application/json"}
    if server.get("token"):
        headers["Authorization"] = f"Bearer {server['token']}"
    request = urllib.request.Request(server["url"].rstrip("/") + "/api/search", data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - loopback URL we wrote
            hits = json.loads(response.read()).get("hits")
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return hits if isinstance(hits, list) else None
