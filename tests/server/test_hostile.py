"""Hostile and careless requests (issue 11): swapped symlinks, over-broad deletes, NaN and deep JSON, probing the
server's disk through query text, upload messages, token guessing, the session cookie, decode and search limits."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from polyseek import errors
from polyseek.server import uploads as uploads_module

from .conftest import png_bytes

TOKEN = "s3cret-token-for-tests-0123456789"


def hit_for(client, name: str, text: str = "photo") -> dict:
    hits = client.post("/api/search", json={"text": text, "k": 20}).json()["hits"]
    return next(h for h in hits if h["path"].endswith(name))


# ---- files served are re-checked every time (defect 7) ---------------------------------------------
def test_a_file_swapped_for_a_symlink_outside_the_roots_is_not_served(client, tmp_path):
    red = hit_for(client, "red.jpg")
    assert client.get(f"/api/items/{red['id']}/file").status_code == 200
    secret = tmp_path / "secret.jpg"  # outside every root, readable by the server
    Image.new("RGB", (20, 20), (9, 9, 9)).save(secret)
    path = Path(red["path"])
    path.unlink()
    path.symlink_to(secret)
    for link in ("file", "thumbnail", "preview"):
        response = client.get(f"/api/items/{red['id']}/{link}")
        assert response.status_code == 404, (link, response.text)
        assert response.json()["error"]["code"] == "not_found"
    hostname = Path("/etc/hostname")
    if hostname.is_file():
        path.unlink()
        path.symlink_to(hostname)
        assert client.get(f"/api/items/{red['id']}/file").status_code == 404
    liked = client.post("/api/search", json={"like": red["id"]})  # searched by stored vectors: the file is never read
    assert liked.status_code == 200 and red["id"] not in [h["id"] for h in liked.json()["hits"]]


def test_a_symlink_that_stays_inside_the_root_is_still_served(client):
    green = hit_for(client, "green.jpg")
    path = Path(green["path"])
    moved = path.with_name("green-original.jpg")
    path.rename(moved)
    path.symlink_to(moved)
    response = client.get(f"/api/items/{green['id']}/file")
    assert response.status_code == 200 and response.content == moved.read_bytes()


# ---- deletes remove no more than what was named (defect 9) --------------------------------------------
def test_delete_refuses_the_filesystem_root_and_the_roots_themselves(client, indexed):
    engine, root = indexed
    before = engine.status()["items"]
    cases = {"/": 400, "//": 400, str(root): 403, str(root.parent): 403, str(root) + "/": 403,
             "photos": 400, str(root / "photos" / ".." / ".."): 400, "~": 400, str(root / "nothing-here"): 404}
    for path, status in cases.items():
        response = client.delete("/api/files", params={"path": path})
        assert response.status_code == status, (path, response.text)
        assert response.json()["error"]["code"]
    assert engine.status()["items"] == before
    removed = client.delete("/api/files", params={"path": str(root.resolve() / "photos")})
    assert removed.status_code == 200 and removed.json()["removed"] == 3
    assert engine.status()["items"] == before - 3


# ---- malformed JSON never reaches a 500 (defect 9) ----------------------------------------------------
@pytest.mark.parametrize("body", [
    b'{"text": "x", "filters": {"date_from": NaN}}',
    b'{"text": "x", "filters": {"date_to": Infinity}}',
    b'{"text": "x", "filters": {"date_from": 1e308}}',
    b'{"text": "x", "image_weight": NaN}',
    b'[' * 100_000 + b']' * 100_000,
    b'{"text": ' + b'[' * 100_000 + b']' * 100_000 + b'}',
    b'{"text": "x", "filters": ' + b'{"a": ' * 500 + b'1' + b'}' * 500 + b'}',
])
def test_nan_dates_and_deep_json_are_client_errors(client, body):
    response = client.post("/api/search", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"]["code"] in {"invalid_input", "invalid_body"}


@pytest.mark.parametrize("date", ["0001-01-01", "0001-01-01T00:00:00+14:00", "9999-12-31", "9999-12-31T23:59:59-14:00",
                                  -1e11, 1e11, "2024-02-30", "nan", "inf"])
def test_extreme_dates_are_answered_without_a_server_error(client, date):
    response = client.post("/api/search", json={"text": "x", "filters": {"date_from": date, "date_to": date}})
    assert response.status_code in (200, 400, 422), response.text


def test_deep_json_in_a_form_field_is_a_client_error(client):
    response = client.post("/api/search", data={"text": "x", "filters": "[" * 100_000 + "]" * 100_000})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_input"


# ---- query text never reads the server's files (defect 9) --------------------------------------------
QUERIES = ["probe.jpg", "./probe.jpg", '"red" + probe.jpg', '"red" - ./probe.jpg', "2:probe.jpg + cats"]


def test_query_text_does_not_reveal_files_in_the_working_directory(client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    absent = [client.post("/api/search", json={"text": text, "k": 3}) for text in QUERIES]
    Image.new("RGB", (16, 16), (220, 20, 20)).save(tmp_path / "probe.jpg")
    present = [client.post("/api/search", json={"text": text, "k": 3}) for text in QUERIES + [str(tmp_path / "probe.jpg")]]
    for text, before, after in zip(QUERIES, absent, present):
        assert before.status_code == after.status_code == 400, (text, before.text, after.text)
        assert before.json() == after.json()
        assert "cannot name image files" in after.json()["error"]["message"]
    assert present[-1].status_code == 400  # an absolute path names nothing either
    mention = client.post("/api/search", json={"text": "the photo probe.jpg from the beach", "k": 3})
    assert mention.status_code == 200  # a file name inside a sentence is just text


def test_query_syntax_still_weights_text_terms(client):
    response = client.post("/api/search", json={"text": '"2:dog running" - "cats"', "k": 3})
    assert response.status_code == 200 and response.json()["hits"]
    apostrophe = client.post("/api/search", json={"text": "a dog's toy", "k": 3})
    assert apostrophe.status_code == 200


# ---- upload messages name the upload (defect 9) -----------------------------------------------------
def test_a_damaged_upload_is_named_in_the_message(client):
    response = client.post("/api/search", files={"image": ("holiday.png", b"\x89PNG\r\n\x1a\n broken", "image/png")})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "holiday.png" in message and "BytesIO" not in message and "0x" not in message


# ---- token guessing and the session cookie (defect 9) ------------------------------------------------
def test_wrong_tokens_are_rate_limited_per_client(indexed, make_client):
    engine, root = indexed
    client = make_client(engine, roots=[root], token=TOKEN)
    for attempt in range(10):
        response = client.get("/api/status", headers={"authorization": f"Bearer guess-{attempt}"})
        assert response.status_code == 401
    for call in (lambda: client.get("/api/status", headers={"authorization": "Bearer guess-11"}),
                 lambda: client.get("/api/status", headers={"authorization": f"Bearer {TOKEN}"}),
                 lambda: client.post("/api/login", json={"token": TOKEN})):
        refused = call()
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert client.get("/health").status_code == 200


def test_failed_logins_count_and_missing_tokens_do_not(indexed, make_client):
    engine, root = indexed
    client = make_client(engine, roots=[root], token=TOKEN)
    for _ in range(30):  # a browser before sign-in sends no token: never locked out
        assert client.get("/api/status").status_code == 401
    for _ in range(10):
        assert client.post("/api/login", json={"token": "wrong"}).status_code == 401
    assert client.post("/api/login", json={"token": TOKEN}).status_code == 429


def test_the_session_cookie_does_not_hold_the_token(indexed, make_client):
    engine, root = indexed
    client = make_client(engine, roots=[root], token=TOKEN)
    response = client.post("/api/login", json={"token": TOKEN})
    assert response.status_code == 200
    header = response.headers["set-cookie"]
    assert TOKEN not in header and "httponly" in header.lower() and "samesite=strict" in header.lower()
    session = client.cookies.get("polyseek_session")
    assert session and len(session) >= 32
    assert client.get("/api/status").status_code == 200
    client.cookies.set("polyseek_token", TOKEN)  # the old raw-token cookie no longer authenticates
    client.cookies.delete("polyseek_session")
    assert client.get("/api/status").status_code == 401
    client.cookies.set("polyseek_session", session)
    client.post("/api/logout")
    client.cookies.set("polyseek_session", session)  # replaying the cookie after logout
    assert client.get("/api/status").status_code == 401


# ---- bounded image decoding (defect 3) ---------------------------------------------------------------
def test_large_uploads_decode_one_at_a_time(indexed, make_client, monkeypatch):
    engine, root = indexed
    client = make_client(engine, roots=[root], max_concurrent_decodes=1, max_concurrent_searches=4)
    client.app.state.polyseek.decodes.small_pixels = 100  # every test image counts as large
    running, most = 0, 0
    lock = threading.Lock()
    decode = uploads_module._decode

    def tracked(upload, max_side):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.1)
        with lock:
            running -= 1
        return decode(upload, max_side)

    monkeypatch.setattr(uploads_module, "_decode", tracked)
    statuses = []

    def upload():
        files = {"image": ("q.png", png_bytes((30, 40, 220), size=(300, 200)), "image/png")}
        statuses.append(client.post("/api/search", files=files).status_code)

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4 and most == 1


def test_query_images_are_reduced_before_search(client, indexed, monkeypatch):
    engine, _ = indexed
    seen = []
    search = engine.search

    def spy(*args, image=None, **kwargs):
        seen.append(image.size)
        return search(*args, image=image, **kwargs)

    monkeypatch.setattr(engine, "search", spy)
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 1500), (30, 40, 220)).save(buffer, "PNG")
    response = client.post("/api/search", files={"image": ("wide.png", buffer.getvalue(), "image/png")})
    assert response.status_code == 200
    assert seen == [(512, 256)]


# ---- serving under load (issue 13) ------------------------------------------------------------------
def test_searches_beyond_the_pool_and_queue_get_503_with_retry_after(indexed, make_client, monkeypatch):
    engine, root = indexed
    client = make_client(engine, roots=[root], max_concurrent_searches=1, search_queue=1)
    gate = threading.Event()
    search = engine.search

    def slow(*args, **kwargs):
        gate.wait(10)
        return search(*args, **kwargs)

    monkeypatch.setattr(engine, "search", slow)
    results = []

    def post():
        results.append(client.post("/api/search", json={"text": "dog"}))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while client.app.state.polyseek.searches.in_flight < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    busy = client.post("/api/search", json={"text": "dog"})
    gate.set()
    for thread in threads:
        thread.join()
    assert busy.status_code == 503 and busy.json()["error"]["code"] == "busy"
    assert int(busy.headers["retry-after"]) >= 1
    assert [r.status_code for r in results] == [200, 200]
    assert client.post("/api/search", json={"text": "dog"}).status_code == 200  # the slots came back


# ---- one error hierarchy, mapped by its attributes (issue 10) ----------------------------------------
def test_every_error_class_declares_code_exit_code_and_http_status():
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.PolyseekError)]
    assert len(classes) >= 20
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes), "codes are unique"
    for cls in classes:
        assert isinstance(cls.code, str) and cls.code
        assert isinstance(cls.exit_code, int) and cls.exit_code != 0
        assert 400 <= cls.http_status <= 599


def test_the_server_maps_an_error_by_its_attributes(client, indexed, monkeypatch):
    engine, _ = indexed

    class TeapotError(errors.InvalidInputError):
        code = "teapot"
        http_status = 418

    def refuse(*args, **kwargs):
        raise TeapotError("short and stout", hint="tip me over")

    monkeypatch.setattr(engine, "search", refuse)
    response = client.post("/api/search", json={"text": "tea"})
    assert response.status_code == 418
    assert response.json() == {"error": {"code": "teapot", "message": "short and stout", "hint": "tip me over"}}


def test_files_indexed_outside_the_roots_are_served_until_swapped_for_a_link(indexed, make_client, tmp_path):
    engine, root = indexed
    client = make_client(engine)  # no roots: a collection indexed from the CLI
    blue = hit_for(client, "blue.jpg")
    assert client.get(f"/api/items/{blue['id']}/file").status_code == 200
    elsewhere = tmp_path / "elsewhere.jpg"
    Image.new("RGB", (20, 20), (9, 9, 9)).save(elsewhere)
    path = Path(blue["path"])
    path.unlink()
    path.symlink_to(elsewhere)
    assert client.get(f"/api/items/{blue['id']}/file").status_code == 404
    assert client.get(f"/api/items/{blue['id']}/thumbnail").status_code == 404


def test_image_bytes_from_python_are_named_too():
    from polyseek.inputs import load_image

    with pytest.raises(errors.CorruptFileError) as caught:
        load_image(b"not an image at all")
    assert "BytesIO" not in str(caught.value) and str(caught.value).startswith("image bytes:")
