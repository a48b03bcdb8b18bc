"""The MCP tools in-process (the SDK client connected straight to the server): PDF pages, recommend, bad input."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import make_images
from tests.ingest._pdf import report_page, text_page, write_pdf
from tests.mcp._loop import run_async

pytest.importorskip("mcp")

from mcp import Client  # noqa: E402

from polyseek.mcp_server import build_server  # noqa: E402


@pytest.fixture
def server(tmp_path: Path, engine_factory):
    files = tmp_path / "files"
    make_images(files / "photos")
    write_pdf(files / "report.pdf", [text_page(1), report_page()])
    engine = engine_factory(tmp_path / "store")
    assert not engine.index([str(files)]).failed
    return build_server(engine), files


def run(server, calls):
    async def session():
        async with Client(server) as client:
            return await calls(client)

    return run_async(session())


def test_a_page_hit_carries_its_page_locator_and_a_render(server):
    mcp_server, files = server

    async def calls(client):
        return await client.call_tool("search", {"query": "revenue growth by region chart", "k": 3,
                                                 "filters": {"modalities": ["page"]}})

    result = run(mcp_server, calls)
    assert not result.is_error
    top = result.structured_content["hits"][0]
    assert top["modality"] == "page" and top["path"] == str(files / "report.pdf")
    assert top["locator"]["page"] == 2 and top["where"].startswith("p. 2")
    assert "p. 2" in result.content[0].text
    picture = Image.open(io.BytesIO(base64.b64decode(next(b for b in result.content if b.type == "image").data)))
    assert picture.format == "JPEG" and max(picture.size) == 256 and picture.size[1] > picture.size[0]  # a portrait page


def test_recommend_returns_other_items_with_thumbnails(server):
    mcp_server, files = server

    async def calls(client):
        assert "recommend" in {t.name for t in (await client.list_tools()).tools}
        found = await client.call_tool("search", {"image": str(files / "photos" / "red.jpg"), "k": 1})
        liked = found.structured_content["hits"][0]["id"]
        return liked, await client.call_tool("recommend", {"positive": [liked], "k": 2,
                                                           "filters": {"modalities": ["image"]}})

    liked, result = run(mcp_server, calls)
    assert not result.is_error, result.content[0].text
    hits = result.structured_content["hits"]
    assert len(hits) == 2 and liked not in {h["id"] for h in hits}
    assert {h["modality"] for h in hits} == {"image"}
    assert sum(b.type == "image" for b in result.content) == 2


def test_bad_input_is_one_readable_tool_error(server):
    mcp_server, _ = server

    async def calls(client):
        return (await client.call_tool("search", {"query": "x", "filters": {"modalities": ["hologram"]}}),
                await client.call_tool("search", {"query": "x", "k": 0}),
                await client.call_tool("recommend", {"positive": ["no-such-item-or-file"]}))

    bad_modality, bad_k, bad_example = run(mcp_server, calls)
    assert bad_modality.is_error and "unknown modality 'hologram'" in bad_modality.content[0].text
    assert "accepted:" in bad_modality.content[0].text
    assert bad_k.is_error and "k" in bad_k.content[0].text
    assert bad_example.is_error and "no indexed item or file matches" in bad_example.content[0].text
