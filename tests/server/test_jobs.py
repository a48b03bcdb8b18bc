"""Index jobs over HTTP: progress as server-sent events, cancel, and search answering while a job runs."""

from __future__ import annotations

import json
import threading
import time

from PIL import Image


def wait_for(client, job_id, states=("done", "failed", "cancelled"), timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/index/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['state']}")


def add_images(folder, count, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        Image.new("RGB", (32, 24), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)).save(folder / f"img{i:03d}.png")


def test_job_progress_streams_until_done(client, indexed):
    _, root = indexed
    add_images(root / "more", 5)
    started = client.post("/api/index/jobs", json={"path": "more"})
    assert started.status_code == 202 and started.headers["location"].endswith(started.json()["id"])
    job_id = started.json()["id"]
    with client.stream("GET", f"/api/index/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    events = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
    assert "event: end" in text
    final = events[-1]
    assert final["state"] == "done" and final["summary"]["added"] == 5
    assert final["files_done"] == final["files_total"] == 5
    assert [e["version"] for e in events] == sorted(e["version"] for e in events)
    listed = client.get("/api/index/jobs").json()["jobs"]
    assert listed[0]["id"] == job_id
    assert client.get("/api/index/jobs/job-999").status_code == 404
    assert client.get("/api/index/jobs/job-999/events").status_code == 404


def test_search_answers_while_a_job_runs_and_cancel_stops_it(client, indexed):
    engine, root = indexed
    add_images(root / "batch", 40)
    gate, entered = threading.Event(), threading.Event()
    encode = engine.indexer.encode

    def slow_encode(chunks):  # holds the job inside Engine.index (and its lock) until the test lets go
        entered.set()
        gate.wait(20)
        return encode(chunks)

    engine.indexer.encode = slow_encode
    try:
        job_id = client.post("/api/index/jobs", json={"path": "batch"}).json()["id"]
        assert entered.wait(20)
        assert client.get(f"/api/index/jobs/{job_id}").json()["state"] == "running"
        started = time.monotonic()
        response = client.post("/api/search", json={"text": "dog running on grass", "k": 3})
        assert response.status_code == 200 and response.json()["hits"][0]["path"].endswith("pets.md")
        assert time.monotonic() - started < 10  # answered without waiting for the job (it is parked for 20 s)
        assert client.get("/api/status").json()["server"]["jobs_active"] == 1
        assert client.delete(f"/api/index/jobs/{job_id}").status_code == 200
    finally:
        gate.set()
    job = wait_for(client, job_id)
    assert job["state"] == "cancelled"
    engine.indexer.encode = encode
    again = wait_for(client, client.post("/api/index/jobs", json={"path": "batch"}).json()["id"])
    assert again["state"] == "done"
    assert again["summary"]["added"] + again["summary"]["unchanged"] == 40  # a cancelled run leaves a consistent index
