"""``polyseek mcp``: the index as a Model Context Protocol server, on stdio (desktop assistants) or streamable HTTP."""

from __future__ import annotations

import threading
from pathlib import Path

import typer

from polyseek.cli.common import ImageEncoderOption, StoreOption, TextEncoderOption, make_engine
from polyseek.errors import InvalidInputError, MissingDependencyError


def mcp(
    store: str | None = StoreOption,
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (--http). Anything but loopback needs a token."),
    port: int = typer.Option(8766, "--port", "-p", min=1, max=65535, help="TCP port (--http)."),
    token: str | None = typer.Option(None, "--token", envvar="POLYSEEK_TOKEN", help="API token HTTP clients must send (Authorization: Bearer ...). Default: $POLYSEEK_TOKEN."),
    token_env: str | None = typer.Option(None, "--token-env", help="Read the API token from this environment variable."),
    image_encoder: str | None = ImageEncoderOption,
    text_encoder: str | None = TextEncoderOption,
    generator: str | None = typer.Option(None, "--generator", help="Answer generator for the ask tool (default: polyseek's default)."),
    max_thumbnails: int = typer.Option(8, "--max-thumbnails", min=0, max=100, help="Thumbnails attached to one search result."),
    warm: bool = typer.Option(True, "--warm/--no-warm", help="Load the encoders at start-up."),
    watch: list[Path] = typer.Option([], "--watch", "-w", help="Folder to index and keep live while serving (repeatable), as polyseek watch does."),  # noqa: B008
) -> None:
    """Serve the index to MCP clients (Claude Desktop, IDEs, agents): tools search, ask, get_item; files as resources.

    stdio (default): add {"command": "polyseek", "args": ["mcp", "--store", "PATH"]} to the client's MCP servers.
    """
    try:
        from polyseek.mcp_server import build_server, http_app
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("mcp", "mcp_types"):
            missing = MissingDependencyError("mcp", "mcp")
            missing.hint = "polyseek needs the MCP SDK 2.x: pip install 'mcp>=2.3,<3'"  # a core dependency, no extra
            raise missing from None
        raise
    from polyseek.cli.serve import _warm, resolve_token

    if not http and (token or token_env):
        # stdio is private to the client that started the process: a token there would protect nothing
        token = token_env = None
    if http:
        token = resolve_token(host, token, token_env)
    engine = make_engine(store, image_encoder, text_encoder)
    server = build_server(engine, max_thumbnails=max_thumbnails, ask_options={"generator": generator} if generator else None)
    if warm:
        threading.Thread(target=_warm, args=(engine,), name="polyseek-warm", daemon=True).start()
    watcher = None
    try:
        if watch:
            from polyseek.watch import Watcher

            watcher = Watcher(engine, [str(p) for p in watch], initial=True).start()
        if not http:
            server.run("stdio")
            return
        import uvicorn

        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"polyseek: MCP over streamable HTTP for {engine.store_uri} at http://{shown}:{port}/mcp (Ctrl+C stops)", err=True)
        uvicorn.run(http_app(server, host=host, token=token), host=host, port=port, log_level="warning",
                    timeout_graceful_shutdown=3)
    except OSError as exc:
        if not http:
            raise
        raise InvalidInputError(f"cannot serve on {host}:{port}: {exc.strerror or exc}", hint="pick another --port") from None
    finally:
        if watcher is not None:  # its last batch ends before the engine closes
            watcher.stop()
        engine.close()


def register(app: typer.Typer) -> None:
    app.command()(mcp)
