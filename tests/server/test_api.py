"""The HTTP API on a real engine (deterministic encoders): search, items and media, browse, delete, status, ask."""

from __future__ import annotations

import json

import pytest

from polyseek.types import Modality

from .conftest import png_bytes


def test_health_is_public_json(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_openapi_documents_json_and_multipart_search(client):
    schema = client.get("/openapi.json").json()
    content = schema["paths"]["/api/search"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)
    assert "SearchRequest" in schema["components"]["schemas"]
    assert "FiltersIn" in schema["components"]["schemas"]  # nested model resolved into components
    assert "/api/ask" in schema["paths"] and "/api/index/jobs" in schema["paths"]


def test_search_json_matches_the_engine_and_cli_shape(client, indexed):
    engine, _ = indexed
    response = client.post("/api/search", json={"text": "dog running on grass", "k": 3})
    assert response.status_code == 200
    body = response.json()
    expected = [hit.to_dict() for hit in engine.search("dog running on grass", k=3)]
    assert [h["id"] for h in body["hits"]] == [h["id"] for h in expected]
    assert body["hits"][0] == json.loads(json.dumps(expected[0]))
    assert {"id", "score", "modality", "path", "locator"} <= set(body["hits"][0])
    assert body["hits"][0]["path"].endswith("pets.md")


def test_search_multipart_with_image_finds_that_colour(client):
    files = {"image": ("query.png", png_bytes((30, 40, 220)), "image/png")}
    response = client.post("/api/search", data={"k": "2"}, files=files)
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert hits[0]["path"].endswith("blue.jpg")
    assert len(hits) == 2


def test_composed_query_and_filters(client):
    files = {"image": ("q.png", png_bytes((220, 20, 20)), "image/png")}
    data = {"text": "dog", "k": "5", "image_weight": "1.5", "text_weight": "0.5",
            "filters": json.dumps({"modalities": ["image"]})}
    response = client.post("/api/search", data=data, files=files)
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert hits and all(h["modality"] == "image" for h in hits)
    assert hits[0]["path"].endswith("red.jpg")
    only_md = client.post("/api/search", json={"text": "cats", "filters": {"file_types": ["md"]}}).json()["hits"]
    assert only_md and all(h["path"].endswith(".md") for h in only_md)


def test_like_finds_more_like_an_item_never_the_item_itself(client):
    red = next(h for h in client.post("/api/search", json={"text": "red", "k": 10}).json()["hits"] if h["path"].endswith("red.jpg"))
    hits = client.post("/api/search", json={"like": red["id"], "k": 3}).json()["hits"]
    assert hits and red["id"] not in [h["id"] for h in hits] and hits[0]["modality"] == "image"
    missing = client.post("/api/search", json={"like": "no-such-item"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_bad_bodies_are_json_errors(client):
    cases = [
        ({"json": {"text": "x", "k": 0}}, 422, "invalid_body"),
        ({"json": {"text": "x", "surprise": 1}}, 422, "invalid_body"),
        ({"json": {"text": 5}}, 422, "invalid_body"),
        ({"json": {"text": "x", "signals": ["psychic"]}}, 422, "invalid_body"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "invalid_input"),
        ({"content": b"[1, 2]", "headers": {"content-type": "application/json"}}, 400, "invalid_input"),
        ({"content": b"text=x", "headers": {"content-type": "text/plain"}}, 400, "invalid_input"),
        ({"json": {}}, 400, "invalid_input"),
        ({"json": {"text": "x", "filters": {"date_from": 1e300}}}, 422, "invalid_body"),
        ({"content": b'{"text": NaN}', "headers": {"content-type": "application/json"}}, 400, "invalid_input"),
        ({"json": {"text": "x", "filters": {"modalities": ["hologram"]}}}, 400, "invalid_input"),
        ({"json": {"text": "x", "filters": {"date_from": "last tuesday"}}}, 400, "invalid_input"),
        ({"files": {"image": ("x.png", b"this is not a png", "image/png")}}, 400, "corrupt_file"),
    ]
    for kwargs, status, code in cases:
        response = client.post("/api/search", **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        error = response.json()["error"]
        assert error["code"] == code, (kwargs, error)
        assert error["message"] and "Traceback" not in response.text


def test_unknown_routes_and_methods_are_json(client):
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = client.get("/api/search")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    bad_query = client.get("/api/files", params={"limit": 0})
    assert bad_query.status_code == 422 and bad_query.json()["error"]["code"] == "invalid_request"


def test_an_unclosed_quote_is_searched_as_text(client):
    response = client.post("/api/search", json={"text": '"unclosed', "k": 2})
    assert response.status_code == 200 and len(response.json()["hits"]) == 2


def test_unexpected_errors_hide_the_trace(client, indexed, monkeypatch):
    engine, _ = indexed

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail /home/someone")

    monkeypatch.setattr(engine, "search", explode)
    response = client.post("/api/search", json={"text": "x"})
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "internal server error; see the server log"}}
    assert "secret" not in response.text


def test_item_detail_file_ranges_and_missing(client):
    hit = client.post("/api/search", json={"text": "blue", "k": 5}).json()["hits"]
    image = next(h for h in hit if h["modality"] == "image")
    detail = client.get(f"/api/items/{image['id']}").json()
    assert detail["id"] == image["id"] and detail["file"]["exists"] and detail["file"]["media_type"] == "image/jpeg"
    assert detail["links"]["file"] == f"/api/items/{image['id']}/file"
    whole = client.get(detail["links"]["file"])
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    part = client.get(detail["links"]["file"], headers={"range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == whole.content[:10]
    assert part.headers["content-range"] == f"bytes 0-9/{len(whole.content)}"
    gone = client.get("/api/items/0123456789abcdef0000")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_browse_files_and_their_items(client, indexed):
    _, root = indexed
    listing = client.get("/api/files", params={"contains": "photos"}).json()
    assert listing["total"] == 3 and all("photos" in f["path"] for f in listing["files"])
    paged = client.get("/api/files", params={"limit": 2}).json()
    assert paged["total"] == 4 and len(paged["files"]) == 2
    notes = str(root / "notes" / "pets.md")
    items = client.get("/api/files/items", params={"path": notes}).json()
    assert items["total"] >= 2 and all(i["path"] == notes for i in items["items"])
    lines = [i["locator"]["line_start"] for i in items["items"]]
    assert lines == sorted(lines)  # file order
    assert client.get("/api/files/items", params={"path": "/not/indexed"}).status_code == 404


def test_delete_item_and_file(client, indexed):
    engine, root = indexed
    before = engine.status()["items"]
    hit = client.post("/api/search", json={"text": "green", "k": 10}).json()["hits"]
    green = next(h for h in hit if h["path"].endswith("green.jpg"))
    assert client.delete(f"/api/items/{green['id']}").json() == {"removed": 1}
    assert client.get(f"/api/items/{green['id']}").status_code == 404
    assert client.delete(f"/api/items/{green['id']}").status_code == 404
    removed = client.delete("/api/files", params={"path": str(root / "notes" / "pets.md")}).json()["removed"]
    assert removed >= 2 and engine.status()["items"] == before - 1 - removed
    assert (root / "notes" / "pets.md").exists()  # the index forgets, the file stays


def test_status_describes_index_and_server(client, indexed):
    _, root = indexed
    status = client.get("/api/status").json()
    assert status["items"] > 0 and status["encoders"]["image"] == "deterministic"
    assert status["server"]["roots"][0]["path"] == str(root.resolve())
    assert status["server"]["auth"] is False
    assert status["server"]["search_workers"] >= 1 and status["server"]["search_queue"] >= 0


@pytest.mark.slow  # the default answer pipeline loads its reranker model
def test_ask_streams_events_and_answers_json(client):
    response = client.post("/api/ask", json={"question": "what do cats do a lot?", "k": 3, "stream": False})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["answer"] and answer["citations"]
    assert {"id", "path", "locator", "modality", "snippet"} <= set(answer["citations"][0])
    with client.stream("POST", "/api/ask", json={"question": "what do cats do a lot?", "k": 3}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    events = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "context" and kinds[-1] == "done", kinds
    assert events[-1]["citations"] and "event: done" in text


def test_ask_refuses_bad_questions(client):
    assert client.post("/api/ask", json={"question": ""}).status_code == 422
    assert client.post("/api/ask", json={"question": "x" * 2001}).status_code == 422


def test_concepts_crud(client, indexed):
    created = client.post("/api/concepts", json={"name": "Rex", "description": "my dog", "attributes": {"breed": "retriever"}})
    assert created.status_code == 201, created.text
    assert created.json()["attributes"] == {"breed": "retriever"}
    files = [("images", ("rex.png", png_bytes((200, 180, 40)), "image/png"))]
    with_image = client.post("/api/concepts", data={"name": "Goldie", "description": "a fish"}, files=files)
    assert with_image.status_code == 201, with_image.text
    image_url = with_image.json()["image_urls"][0]
    served = client.get(image_url)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    names = [c["name"] for c in client.get("/api/concepts").json()["concepts"]]
    assert names == ["Goldie", "Rex"]
    patched = client.patch("/api/concepts/Rex", json={"description": "my golden retriever"})
    assert patched.json()["description"] == "my golden retriever"
    assert client.get("/api/concepts/rex").json()["name"] == "Rex"  # names match without case
    exported = client.get("/api/concepts/export").json()["concepts"]
    assert {c["name"] for c in exported} == {"Rex", "Goldie"}
    assert client.post("/api/concepts", json={"name": "Rex", "description": "again"}).status_code == 400
    assert client.post("/api/concepts", json={"name": "../etc", "description": "x"}).status_code == 400
    assert client.delete("/api/concepts/Rex").json() == {"removed": "Rex"}
    assert client.get("/api/concepts/Rex").status_code == 404
    imported = client.post("/api/concepts/import", json={"items": [c for c in exported if c["name"] == "Rex"]})
    assert imported.json() == {"imported": 1}
    assert client.get("/api/concepts/Rex").status_code == 200


def test_concept_reference_from_an_indexed_image(client):
    red = next(h for h in client.post("/api/search", json={"text": "red", "k": 10}).json()["hits"] if h["path"].endswith("red.jpg"))
    created = client.post("/api/concepts", json={"name": "Red card", "description": "", "image_ids": [red["id"]]})
    assert created.status_code == 201, created.text
    assert created.json()["images"] == [red["path"]]
    served = client.get(created.json()["image_urls"][0])  # a name with a space, quoted in the URL
    assert served.status_code == 200 and served.content == open(red["path"], "rb").read()
    text = next(h for h in client.post("/api/search", json={"text": "cats", "k": 10}).json()["hits"] if h["modality"] == Modality.TEXT.value)
    refused = client.post("/api/concepts", json={"name": "Notes", "image_ids": [text["id"]]})
    assert refused.status_code == 400


def test_pdf_items_have_renders_and_page_size(client, indexed):
    pytest.importorskip("polyseek.preview")
    from tests.server._docs import report_pdf

    engine, root = indexed
    report_pdf(root / "report.pdf")
    engine.index([root / "report.pdf"])
    hits = client.post("/api/search", json={"text": "lighthouse built 1887", "k": 5,
                                            "filters": {"modalities": ["region"]}}).json()["hits"]
    region = hits[0]
    assert region["modality"] == "region" and region["locator"]["page"] == 2
    detail = client.get(f"/api/items/{region['id']}").json()
    assert detail["page_size"] == [612.0, 792.0]
    thumb = client.get(detail["links"]["thumbnail"], params={"size": 300})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"
    again = client.get(detail["links"]["thumbnail"], params={"size": 300}, headers={"if-none-match": thumb.headers["etag"]})
    assert again.status_code == 304
    import io

    from PIL import Image

    page = Image.open(io.BytesIO(client.get(detail["links"]["page"], params={"size": 800}).content))
    assert max(page.size) == 800 and abs(page.size[0] / page.size[1] - 612 / 792) < 0.01
    text = next(h for h in client.post("/api/search", json={"text": "cats", "k": 10}).json()["hits"] if h["modality"] == "text")
    assert client.get(f"/api/items/{text['id']}/thumbnail").status_code == 404
    assert client.get(f"/api/items/{text['id']}/page").status_code == 404


def test_web_ui_is_fully_offline_and_served(client):
    from polyseek.server.app import STATIC_DIR

    files = sorted(p for p in STATIC_DIR.iterdir() if p.suffix in {".html", ".js", ".css", ".svg"})
    assert {"index.html", "app.js", "styles.css"} <= {p.name for p in files}
    for path in files:
        text = path.read_text()
        assert "https://" not in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', ""), path
        served = client.get("/" if path.name == "index.html" else f"/static/{path.name}")
        assert served.status_code == 200, path
    imports = {line.split("from '")[1].split("'")[0] for p in files if p.suffix == ".js"
               for line in p.read_text().splitlines() if line.startswith("import ")}
    assert imports and all(name.startswith("./") and (STATIC_DIR / name[2:]).is_file() for name in imports)


def test_concurrent_searches_can_be_limited(indexed, make_client, monkeypatch):
    import threading
    import time

    engine, root = indexed
    client = make_client(engine, roots=[root], max_concurrent_searches=1)
    running, most = 0, 0
    lock = threading.Lock()
    search = engine.search

    def tracked(*args, **kwargs):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return search(*args, **kwargs)

    monkeypatch.setattr(engine, "search", tracked)
    threads = [threading.Thread(target=client.post, args=("/api/search",), kwargs={"json": {"text": "dog"}}) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1
