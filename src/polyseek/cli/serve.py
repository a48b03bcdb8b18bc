"""``polyseek serve``: the HTTP API and web UI on one port (localhost by default)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

import typer

from polyseek.cli.common import ImageEncoderOption, StoreOption, TextEncoderOption, make_engine
from polyseek.cli.remote import announce, withdraw
from polyseek.errors import InvalidInputError

log = logging.getLogger(__name__)


def _warm(engine) -> None:
    """Load the encoders in the background so the first search does not pay for it."""
    try:
        for space in ("image", "text"):
            engine.encoder(space)
    except Exception as exc:  # noqa: BLE001 - the first search will report the same problem properly
        log.warning("could not preload encoders: %s", exc)


def resolve_token(host: str, token: str | None, token_env: str | None) -> str | None:
    """The API token to require: from ``--token-env VAR`` or ``--token``; refused if missing off loopback or too short."""
    from polyseek.server.security import is_loopback

    if token_env:
        token = os.environ.get(token_env) or None
        if token is None:
            raise InvalidInputError(f"environment variable {token_env} is not set or empty", hint="export it, or use --token")
    if not is_loopback(host) and not token:
        raise InvalidInputError(f"binding to {host} exposes the index to the network: an API token is required",
                                hint="give --token-env VAR (or --token / $POLYSEEK_TOKEN), or bind to 127.0.0.1")
    if token is not None and len(token) < 16:
        raise InvalidInputError("the API token is too short", hint="use 16 or more random characters, e.g. from: openssl rand -hex 24")
    return token


def serve(
    store: str | None = StoreOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind. Anything but loopback needs a token."),
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="TCP port (0: any free port)."),
    root: list[Path] = typer.Option([], "--root", "-r", help="Folder the UI may index (repeatable). None: indexing over HTTP is off."),
    token: str | None = typer.Option(None, "--token", envvar="POLYSEEK_TOKEN", help="API token clients must send (Authorization: Bearer ...). Default: $POLYSEEK_TOKEN."),
    token_env: str | None = typer.Option(None, "--token-env", help="Read the API token from this environment variable (keeps it out of the process list)."),
    image_encoder: str | None = ImageEncoderOption,
    text_encoder: str | None = TextEncoderOption,
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", min=0.01, max=1024, help="Largest request body (uploaded image) in MiB."),
    generator: str | None = typer.Option(None, "--generator", help="Answer generator for ask (default: polyseek's default)."),
    max_searches: int = typer.Option(0, "--max-concurrent-searches", min=0, max=256, help="Search worker threads (0: one per core); up to 8 per worker queue, more get 503 + Retry-After."),
    warm: bool = typer.Option(True, "--warm/--no-warm", help="Load the encoders at start-up."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level: critical, error, warning, info, debug."),
    watch: bool = typer.Option(False, "--watch", help="Keep the index of the --root folders live: index them, then pick up added, changed, moved and deleted files."),
    settle: float = typer.Option(2.0, "--settle", min=0.0, max=3600.0, help="With --watch: seconds a file must stay unchanged before it is indexed."),
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json) and the web UI at http://HOST:PORT/."""
    import uvicorn

    from polyseek.server import create_app
    from polyseek.server.security import LOOPBACK_NAMES, is_loopback

    token = resolve_token(host, token, token_env)
    loopback = is_loopback(host)
    if watch and not root:
        raise InvalidInputError("--watch needs the folders to watch", hint="give them with --root DIR (repeatable)")
    engine = make_engine(store, image_encoder, text_encoder)
    watcher = None
    if watch:
        from polyseek.watch import Watcher

        watcher = Watcher(engine, [str(r) for r in root], settle=settle, initial=True)
    app = create_app(
        engine, roots=[str(r) for r in root], token=token, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        allowed_hosts=LOOPBACK_NAMES if loopback else None,
        ask_options={"generator": generator} if generator else None, close_engine=watcher is None,
        max_concurrent_searches=max_searches or None,
    )
    if watcher is not None:
        app.state.polyseek_watcher = watcher  # /api/status reports it: the UI shows the index is live
        watcher.start()
    if warm:
        threading.Thread(target=_warm, args=(engine,), name="polyseek-warm", daemon=True).start()
    listener = bind(host, port)
    port = listener.getsockname()[1]  # the one the system chose for --port 0
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    typer.echo(f"polyseek: serving {engine.store_uri} at {url} (Ctrl+C stops)", err=True)
    # on the loopback, a CLI search of this store is sent here instead of loading the models again
    announced = announce(engine.store_uri, url, token) if loopback else None
    config = uvicorn.Config(app, log_level=log_level.lower(), access_log=log_level.lower() == "debug",
                            timeout_graceful_shutdown=3)
    try:
        uvicorn.Server(config).run(sockets=[listener])
    except KeyboardInterrupt:  # Ctrl+C after a graceful shutdown (uvicorn re-raises it): a normal stop
        pass
    finally:
        withdraw(announced)
        if watcher is not None:  # the engine closes after the watcher's last batch, not under it
            watcher.stop()
            engine.close()


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so the real port is known (and announced) before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise InvalidInputError(f"cannot listen on {host}:{port}: {exc.strerror}",
                                hint="pick another --port (0: any free one), or stop what is using it") from None
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def register(app: typer.Typer) -> None:
    app.command()(serve)
