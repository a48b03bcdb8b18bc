"""polyseek mcp end to end with the official MCP SDK client: stdio (the README's client config) and streamable HTTP."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.integrations._readme import snippet
from tests.mcp._loop import run_async

pytest.importorskip("mcp")

from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
TOKEN = "mcp-test-token-0123456789abcdef"


@pytest.fixture
def store(tmp_path: Path, collection: Path) -> Path:
    from polyseek.engine import Engine

    path = tmp_path / "my-index"
    with Engine(str(path), image_encoder="deterministic", text_encoder="deterministic") as engine:
        assert not engine.index([str(collection)]).failed
    return path


def polyseek_command() -> list[str]:
    """The installed ``polyseek`` script beside this Python (what a desktop assistant would start)."""
    script = Path(sys.executable).parent / "polyseek"
    found = str(script) if script.exists() else shutil.which("polyseek")
    return [found] if found else [sys.executable, "-m", "polyseek"]


def decode_jpeg(block) -> Image.Image:
    assert block.type == "image" and block.mime_type == "image/jpeg"
    picture = Image.open(io.BytesIO(base64.b64decode(block.data)))
    assert picture.format == "JPEG"
    return picture


async def check_image_search(client: Client, collection: Path) -> list[dict]:
    red = collection / "photos" / "red.jpg"
    result = await client.call_tool("search", {"image": str(red), "k": 3})
    assert not result.is_error
    hits = result.structured_content["hits"]
    assert hits[0]["path"] == str(red) and hits[0]["modality"] == "image"
    assert hits[0]["uri"] == red.as_uri()
    images = [block for block in result.content if block.type == "image"]
    assert images, "an image hit carries an image content part"
    picture = decode_jpeg(images[0])
    assert max(picture.size) <= 256 and picture.getpixel((4, 4))[0] > 180  # a thumbnail of the red photo
    return hits


def test_stdio_with_the_readme_client_config(store: Path, collection: Path):
    config = json.loads(snippet("mcp-config"))["mcpServers"]["polyseek"]
    assert config["command"] == "polyseek"
    args = [str(store) if a == "/path/to/my-index" else a for a in config["args"]] + ["--no-warm"]
    command = polyseek_command()
    params = StdioServerParameters(command=command[0], args=command[1:] + args, env=ENV)

    async def session() -> None:
        async with Client(params, read_timeout_seconds=120) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert {"search", "ask", "get_item"} <= tools
            hits = await check_image_search(client, collection)

            text = await client.call_tool("search", {"query": "a dog running on grass", "k": 5,
                                                     "filters": {"modalities": ["text"]}})
            found = text.structured_content["hits"]
            assert found and {h["modality"] for h in found} == {"text"}
            assert any(h["path"].endswith("pets.md") and h["locator"].get("line_start") for h in found)
            assert not [b for b in text.content if b.type == "image"]  # text hits carry no picture

            item = await client.call_tool("get_item", {"id": hits[0]["id"]})
            assert item.structured_content["path"] == hits[0]["path"]
            assert max(decode_jpeg([b for b in item.content if b.type == "image"][0]).size) > 0

            refused = await client.call_tool("search", {"k": 3})
            assert refused.is_error and "give a text query, an image path, or both" in refused.content[0].text
            missing = await client.call_tool("get_item", {"id": "no-such-item"})
            assert missing.is_error and "no item with id" in missing.content[0].text

            answer = await client.call_tool("ask", {"question": "What do cats do a lot?"})
            assert not answer.is_error
            assert answer.structured_content["citations"], answer.structured_content
            assert all(c["path"].endswith("pets.md") for c in answer.structured_content["citations"])

            resources = {str(r.uri): r for r in (await client.list_resources()).resources}
            pets = (collection / "notes" / "pets.md").as_uri()
            assert pets in resources and (collection / "photos" / "blue.jpg").as_uri() in resources
            read = await client.read_resource(pets)
            assert "A dog running on grass" in read.contents[0].text
            secret = collection.parent / "secret.txt"
            secret.write_text("not indexed")
            with pytest.raises(Exception, match="not an indexed file"):
                await client.read_resource(secret.as_uri())

    run_async(session())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.stderr.read().decode(errors='replace')}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("server did not start listening")


@pytest.mark.slow
def test_streamable_http_with_a_token(store: Path, collection: Path):
    import httpx
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    port = free_port()
    env = {**os.environ, **ENV, "MCP_TEST_TOKEN": TOKEN}
    process = subprocess.Popen([sys.executable, "-m", "polyseek", "mcp", "--http", "--port", str(port), "--store", str(store),
                                "--token-env", "MCP_TEST_TOKEN", "--no-warm"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, process)
        url = f"http://127.0.0.1:{port}/mcp"
        hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        refused = httpx.post(url, json=hello, headers={"accept": "application/json, text/event-stream"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        rebinding = httpx.post(url, json=hello, headers={"authorization": f"Bearer {TOKEN}", "host": "evil.example",
                                                         "accept": "application/json, text/event-stream"})
        assert rebinding.status_code == 421  # the SDK's DNS-rebinding guard on a loopback bind

        async def session() -> None:
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as http:
                async with Client(streamable_http_client(url, http_client=http), read_timeout_seconds=120) as client:
                    assert {"search", "ask", "get_item"} <= {t.name for t in (await client.list_tools()).tools}
                    await check_image_search(client, collection)

        run_async(session())
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_other_hosts_need_a_token(store: Path):
    result = subprocess.run([sys.executable, "-m", "polyseek", "mcp", "--http", "--host", "0.0.0.0", "--store", str(store)],
                            env={**os.environ, **ENV, "POLYSEEK_TOKEN": ""}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "an API token is required" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_stdio_with_a_watched_folder_shows_new_files(tmp_path: Path):
    """``polyseek mcp --watch DIR``: the folder is indexed at start, and a photo added later is found by the client."""
    from polyseek.engine import Engine
    from tests.conftest import make_images

    folder = tmp_path / "photos"
    make_images(folder)
    store = tmp_path / "live-index"
    with Engine(str(store), image_encoder="deterministic", text_encoder="deterministic") as engine:
        engine.index([])  # records the plumbing encoders; the watcher indexes the folder
    command = polyseek_command()
    params = StdioServerParameters(command=command[0], env=ENV, args=command[1:] + [
        "mcp", "--store", str(store), "--watch", str(folder), "--no-warm"])

    async def uris(client: Client) -> set[str]:
        return {str(r.uri) for r in (await client.list_resources()).resources}

    async def until(predicate, what: str, timeout: float = 90.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await predicate()
            if value:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    async def session() -> None:
        async with Client(params, read_timeout_seconds=120) as client:
            photos = {p.as_uri() for p in folder.glob("*.jpg")}
            await until(lambda: _contains(client, uris, photos), "the folder indexed at start")
            added = make_images(folder / "new", {"teal": (20, 160, 160)})["teal"]
            await until(lambda: _contains(client, uris, {added.as_uri()}), "the new photo indexed")
            result = await client.call_tool("search", {"image": str(added), "k": 1})
            assert result.structured_content["hits"][0]["path"] == str(added)

    run_async(session())


async def _contains(client: Client, uris, wanted: set[str]) -> bool:
    return wanted <= await uris(client)
