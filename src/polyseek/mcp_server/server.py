"""The MCP server over the Engine facade: tools ``search``, ``ask``, ``get_item``; indexed files as resources."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from mcp.server import MCPServer
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp_types import CallToolResult, TextContent
from mcp_types import Resource as MCPResource
from pydantic import Field

from polyseek.errors import PolyseekError
from polyseek.mcp_server.content import ITEM_IMAGE_SIDE, Thumbnails, file_uri, hit_record, hits_content, item_record
from polyseek.server.bodies import FiltersIn
from polyseek.server.media import media_type
from polyseek.version import __version__

log = logging.getLogger(__name__)
MAX_RESOURCE_BYTES = 20 * 1024 * 1024
TEXT_TYPES = ("text/", "application/json")
INSTRUCTIONS = (
    "polyseek searches the user's indexed photos, PDFs (pages and regions), videos (moments), audio (speech) and "
    "text. Use `search` with text and/or an image path; results give each file's path, where inside it "
    "(page, box in PDF points, time span in seconds, lines) and a thumbnail for pictures. Use `ask` for an "
    "answer with numbered citations, `get_item` for one result's full text and a larger picture, `recommend` "
    "for more like some results. Indexed files "
    "are resources (file:// URIs)."
)


def _tool_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Polyseek's own errors reach the model as one readable line (is_error), not as a crash."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PolyseekError as exc:
            raise ToolError(str(exc)) from None

    return wrapper


class PolyseekMCP(MCPServer):
    """An :class:`mcp.server.MCPServer` whose resources are the engine's indexed files (listed live)."""

    def __init__(self, engine: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine

    def _indexed(self) -> dict[str, dict[str, Any]]:
        return {record["path"]: record for record in self.engine.files() if record.get("status") == "ok"}

    async def list_resources(self) -> list[MCPResource]:
        static = await super().list_resources()
        files = [
            MCPResource(uri=file_uri(path), name=Path(path).name, title=path, mime_type=media_type(path),
                        description=f"indexed file: {record['items']} item(s)", size=record.get("size"))
            for path, record in sorted(self._indexed().items())
        ]
        return static + files

    async def read_resource(self, uri: Any, context: Any = None) -> Iterable[Any]:
        text = str(uri)
        if not text.startswith("file://"):
            return await super().read_resource(uri, context)
        path = unquote(urlsplit(text).path)
        record = self._indexed().get(path)
        if record is None:  # only indexed files are served: a client cannot read anything else on the machine
            raise ResourceNotFoundError(f"not an indexed file: {path}")
        file = Path(path)
        try:
            size = file.stat().st_size
            if size > MAX_RESOURCE_BYTES:
                raise ResourceError(f"{file.name} is {size:,} bytes, over the {MAX_RESOURCE_BYTES:,}-byte limit for a "
                                    "resource; use search or get_item for its items")
            kind = media_type(path)
            data = file.read_bytes()
        except OSError as exc:
            raise ResourceError(f"cannot read {path}: {exc.strerror or exc}") from None
        if kind.startswith(TEXT_TYPES):
            return [ReadResourceContents(content=data.decode("utf-8", errors="replace"), mime_type=kind)]
        return [ReadResourceContents(content=data, mime_type=kind)]


def build_server(engine: Any, *, max_thumbnails: int = 8, ask_options: dict[str, Any] | None = None) -> PolyseekMCP:
    """An MCP server over ``engine``; run it with ``.run("stdio")`` or serve ``.streamable_http_app()``.

    >>> server = build_server(Engine("./my-index"))  # doctest: +SKIP
    >>> server.run("stdio")                          # doctest: +SKIP
    """
    server = PolyseekMCP(engine, name="polyseek", title="polyseek", version=__version__, instructions=INSTRUCTIONS,
                         log_level="WARNING")
    renderer = Thumbnails(engine)
    ask_defaults = dict(ask_options or {})

    @server.tool(title="Search the index", description=(
        "Search indexed photos, PDF pages and regions, video moments, audio segments and text with a text query, "
        "an image (a path on this machine), or both. Returns ranked hits with path, locator and thumbnails."))
    @_tool_errors
    def search(
        query: Annotated[str | None, Field(description='Text to search for; rclip syntax works: "2:red car" - "night"',
                                           max_length=2000)] = None,
        image: Annotated[str | None, Field(description="Path of a query image on the server's machine")] = None,
        filters: Annotated[FiltersIn | None, Field(description="Restrict by path glob, file type, modality, date")] = None,
        k: Annotated[int, Field(ge=1, le=100, description="How many hits")] = 10,
        thumbnails: Annotated[bool, Field(description="Attach JPEG thumbnails of pictured hits")] = True,
    ) -> CallToolResult:
        if not (query and query.strip()) and not image:
            raise ToolError("give a text query, an image path, or both")
        hits = engine.search(query if query and query.strip() else None, k=k, image=image,
                             filters=filters.to_filters() if filters else None)
        content = hits_content(hits, renderer if thumbnails else None, max_thumbnails)
        return CallToolResult(content=content, structured_content={"hits": [hit_record(h) for h in hits]})

    @server.tool(title="Answer from the index", description=(
        "Answer a question from the indexed collection. The answer marks claims with [n]; citations[n] give "
        "the file, page/box or time span each claim comes from."))
    @_tool_errors
    def ask(
        question: Annotated[str, Field(min_length=1, max_length=2000, description="The question")],
        image: Annotated[str | None, Field(description="Optional path of an image the question is about")] = None,
    ) -> CallToolResult:
        answer = engine.ask(question, image=image, **ask_defaults)
        data = answer.to_dict()
        lines = [answer.answer.strip() or "(no answer)"]
        for citation in data["citations"]:
            where = citation.get("locator") or {}
            lines.append(f"[{citation.get('number', '?')}] {citation.get('path')} "
                         f"{json.dumps(where) if where else ''}".rstrip())
        for citation in data["citations"]:
            if citation.get("path"):
                citation["uri"] = file_uri(citation["path"])
        return CallToolResult(content=[TextContent(type="text", text="\n".join(lines))], structured_content=data)

    @server.tool(title="Get one item", description=(
        "One indexed item by id (from search or ask): its full text, path, locator and, for pictures, a larger image."))
    @_tool_errors
    def get_item(
        id: Annotated[str, Field(min_length=1, max_length=1000, description="Item id from a search hit")],  # noqa: A002
        picture: Annotated[bool, Field(description="Attach a JPEG of the item (image, page with region, keyframe)")] = True,
    ) -> CallToolResult:
        item = engine.get(id)
        record = item_record(item)
        content: list[Any] = [TextContent(type="text", text=json.dumps(record, ensure_ascii=False, default=str))]
        if picture:
            image = renderer.content(item, side=ITEM_IMAGE_SIDE)
            if image is not None:
                content.append(image)
        return CallToolResult(content=content, structured_content=record)

    @server.tool(title="More like these", description=(
        "Recommend items like the liked examples and unlike the disliked ones (item ids from search, indexed "
        "file paths, or image paths). Returns hits like search."))
    @_tool_errors
    def recommend(
        positive: Annotated[list[str], Field(min_length=1, max_length=50, description="Liked: item ids or file paths")],
        negative: Annotated[list[str], Field(max_length=50, description="Disliked: item ids or file paths")] = [],  # noqa: B006 - pydantic copies it
        filters: Annotated[FiltersIn | None, Field(description="Restrict by path glob, file type, modality, date")] = None,
        k: Annotated[int, Field(ge=1, le=100, description="How many hits")] = 10,
        thumbnails: Annotated[bool, Field(description="Attach JPEG thumbnails of pictured hits")] = True,
    ) -> CallToolResult:
        chosen = filters.to_filters() if filters else None
        if callable(getattr(engine, "recommend", None)):
            hits = engine.recommend(positive=positive, negative=negative, k=k, filters=chosen)
        else:  # the facade verb is not wired yet: the same function it will call
            from polyseek.recommend import recommend as recommend_items

            hits = recommend_items(engine, positive=positive, negative=negative, k=k, filters=chosen)
        content = hits_content(hits, renderer if thumbnails else None, max_thumbnails)
        return CallToolResult(content=content, structured_content={"hits": [hit_record(h) for h in hits]})

    @server.resource("polyseek://status", name="status", title="Index status", mime_type="application/json",
                     description="The store, its encoders and item and file counts")
    def status() -> str:
        return json.dumps(engine.status(), default=str)

    return server
