"""The web UI in headless chromium against a real ``polyseek serve``: search, drop an image, PDF region overlay,
play a moment, ask with citations, concepts, live indexing. Saves screenshots under artifacts/e2e/."""

from __future__ import annotations

import base64
import io
import os
import shutil
import time

import pytest
from PIL import Image

from tests.e2e.conftest import REPO, screenshot, start_serve, stop

pytestmark = pytest.mark.slow


def search(page, text: str, modalities: tuple[str, ...] = ()) -> None:
    if modalities:
        if not page.locator("#filters").evaluate("node => node.open"):
            page.click("#filters summary")
        for value in modalities:
            page.check(f"input[name=modality][value={value}]")
    page.fill("#q", text)
    page.press("#q", "Enter")
    page.wait_for_function("() => document.querySelector('#results').getAttribute('aria-busy') === 'false' "
                           "&& document.querySelectorAll('#results .card:not(.skeleton)').length > 0")


def images_loaded(page) -> None:
    page.wait_for_function("() => Array.from(document.querySelectorAll('#results img')).every(img => img.complete)")


def test_search_groups_results_by_type_with_keyboard_navigation(page):
    page.set_viewport_size({"width": 1280, "height": 980})  # room for the first row of photos in the screenshot
    search(page, "lighthouse coffee photos")
    titles = page.locator(".group-title").all_inner_texts()
    assert len(titles) >= 2, titles
    assert any(t.startswith("PDF") for t in titles) and any(t.startswith("Text") for t in titles)
    first_card = page.locator("#results .card").first
    assert first_card.get_attribute("aria-label").startswith("1. ")
    alts = page.evaluate("() => Array.from(document.querySelectorAll('#results img')).map(img => img.alt)")
    assert all(alts), "every thumbnail has alt text"
    images_loaded(page)
    path = screenshot(page, "search")
    if os.environ.get("POLYSEEK_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(path, REPO / "docs" / "img" / "ui.png")
    # arrows move through the cards in reading order (cards are grouped by type, so ranks need not be adjacent)
    second_rank = page.evaluate("document.querySelectorAll('#results .card')[1].dataset.rank")
    first_card.focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.rank") == second_rank
    page.keyboard.press("Enter")
    page.wait_for_selector("#detail[open] .facts")
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#detail').open")
    assert page.evaluate("document.activeElement.dataset.rank") == second_rank  # focus returns to the card
    # let the browser finish closing the modal dialog (two frames) before the next key: a key pressed while the
    # top layer is still being torn down can miss the document's handler
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    page.keyboard.press("/")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'q'", timeout=5000)


def test_results_do_not_move_when_thumbnails_arrive(page):
    page.fill("#q", "red green blue")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .card:not(.skeleton)")
    before = page.evaluate("Array.from(document.querySelectorAll('#results .card')).slice(0, 8)"
                           ".map(c => { const r = c.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })")
    images_loaded(page)
    page.wait_for_timeout(300)
    after = page.evaluate("Array.from(document.querySelectorAll('#results .card')).slice(0, 8)"
                          ".map(c => { const r = c.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })")
    assert before == after


def test_drop_an_image_searches_by_example(page):
    buffer = io.BytesIO()
    Image.new("RGB", (48, 48), (30, 40, 220)).save(buffer, "PNG")
    data = base64.b64encode(buffer.getvalue()).decode()
    page.evaluate("""data => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], 'blue.png', {type: 'image/png'}));
        const zone = document.querySelector('#drop-zone');
        zone.dispatchEvent(new DragEvent('dragenter', {dataTransfer: transfer, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", data)
    page.wait_for_selector("#query-thumb:not([hidden])")
    page.wait_for_function("() => document.querySelectorAll('#results .card:not(.skeleton)').length > 0 "
                           "&& document.querySelector('#results').getAttribute('aria-busy') === 'false'")
    labels = [card.get_attribute("aria-label") for card in page.locator("#results .card").all()[:3]]
    assert any("scenes.mp4" in label and "00:04" in label for label in labels), labels  # the blue scene
    # with text as well, the weight slider appears and changes the mix
    page.fill("#q", "coffee")
    assert page.is_visible("#weight-row")
    screenshot(page, "image-query")


def test_pdf_hit_outlines_the_region_on_the_page(page):
    search(page, "lighthouse built 1887 engineer", modalities=("region",))
    page.locator("#results .card").first.click()
    box = page.wait_for_selector("#detail[open] .region-box")
    page.wait_for_function("() => { const img = document.querySelector('#detail .page-image'); "
                           "return img && img.complete && img.naturalWidth > 0; }")
    bbox = [float(v) for v in box.get_attribute("data-bbox").split(",")]
    assert bbox[1] > 400  # the paragraph lower on page 2, not the heading
    frame = page.locator("#detail .page-frame").bounding_box()
    drawn = box.bounding_box()
    width, height = 612, 792  # US Letter, as written by the fixture
    assert abs((drawn["x"] - frame["x"]) / frame["width"] - bbox[0] / width) < 0.01
    assert abs((drawn["y"] - frame["y"]) / frame["height"] - bbox[1] / height) < 0.01
    assert abs(drawn["width"] / frame["width"] - (bbox[2] - bbox[0]) / width) < 0.015
    assert "p. 2" in page.inner_text("#detail-title")
    screenshot(page, "pdf-region")


def test_play_a_video_moment(page):
    search(page, "green", modalities=("video_moment",))
    card = page.locator("#results .card").first
    assert "scenes.mp4" in card.get_attribute("aria-label")
    card.click()
    page.wait_for_selector("#detail[open] video")
    page.wait_for_function("() => document.querySelector('#detail video').readyState >= 1")
    start = page.evaluate("document.querySelector('#detail video').currentTime")
    assert 1.9 <= start <= 4.5, start  # it opens at the green scene's keyframe (the scene starts near 1.9 s)
    page.click("#detail figcaption button")
    page.wait_for_function("() => { const v = document.querySelector('#detail video'); return !v.paused && v.currentTime > 2.0; }")
    screenshot(page, "video-moment")


def test_ask_streams_an_answer_with_clickable_citations(page):
    page.click("a[data-tab=ask]")
    page.fill("#question", "When was the lighthouse built?")
    page.click("#ask-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#answer').getAttribute('aria-busy') === 'false' "
                           "&& document.querySelectorAll('#answer-text .cite').length > 0")
    assert "1887" in page.inner_text("#answer-text")
    assert page.locator("#citations li").count() >= 1
    screenshot(page, "ask")
    page.locator("#answer-text .cite").first.click()
    page.wait_for_selector("#detail[open] .facts")
    assert "report.pdf" in page.inner_text("#detail-title")


def test_concept_editor_creates_edits_and_deletes(page):
    page.click("a[data-tab=concepts]")
    page.fill("#concept-form [name=name]", "Ada")
    page.fill("#concept-form [name=description]", "the engineer who built the lighthouse")
    page.fill("#concept-form [name=attributes]", "born: 1850\nrole: engineer")
    page.click("#concept-form button[type=submit]")
    page.wait_for_selector(".concept h3:text('Ada')")
    assert "role" in page.inner_text(".concept")
    page.click(".concept button:text('Edit')")
    page.fill("#concept-form [name=description]", "lighthouse engineer")
    page.click("#concept-form button[type=submit]")
    page.wait_for_selector(".concept p:text('lighthouse engineer')")
    screenshot(page, "concepts")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(".concept button:text('Delete')")
    page.wait_for_selector("#concept-list li.hint")


def test_live_indexing_progress(page, e2e_collection):
    (e2e_collection / "notes" / "new-note.md").write_text("# Tides\nThe tide rises twice a day in the bay.\n")
    page.click("a[data-tab=index]")
    page.wait_for_selector("#job-list .job[data-state=done]")  # the fixture's job, listed
    before = page.locator("#job-list .job").count()
    page.fill("#index-path", "notes")
    page.click("#index-form button[type=submit]")
    # the new job is listed first; until it is, the first row is the fixture's finished job
    page.wait_for_function("n => document.querySelectorAll('#job-list .job').length > n"
                           " && document.querySelector('#job-list .job').dataset.state === 'done'", arg=before)
    detail = page.inner_text("#job-list .job .job-detail")
    assert "added 1" in detail, detail
    screenshot(page, "index")
    page.click("a[data-tab=search]")
    search(page, "tide rises twice", modalities=("text",))
    assert "new-note.md" in page.locator("#results .card").first.get_attribute("aria-label")


def test_token_protected_server_asks_for_the_token(browser, tmp_path):
    token = "e2e-token-0123456789abcdef"
    process, base = start_serve("memory://", tmp_path / "serve.log", "--token-env", "E2E_TOKEN",
                                env_extra={"E2E_TOKEN": token})
    try:
        context = browser.new_context(base_url=base)
        page = context.new_page()
        page.goto("/")
        page.wait_for_selector("#login[open]")
        page.fill("#login-token", "wrong-token-value")
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#login-message:text('wrong API token')")
        page.fill("#login-token", token)
        page.click("#login-form button[type=submit]")
        page.wait_for_function("() => !document.querySelector('#login').open")
        page.wait_for_selector("#status-line:text('0 items')")
        context.close()
    finally:
        stop(process)


def test_an_empty_answer_is_named_with_its_sources(browser, e2e_collection, tmp_path):
    """A generator that writes nothing (a small base model often does) gets a message and the sources, not a blank."""
    import httpx

    package = tmp_path / "silentpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "gen.py").write_text(
        "class Silent:\n    accepts_images = False\n    context_window = 4096\n"
        "    def __init__(self, arg=''):\n        self.name = 'silentpkg.gen:Silent'\n"
        "    def stream(self, question, blocks, facts=()):\n        yield ' '\n")
    pythonpath = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    process, base = start_serve(str(tmp_path / "store"), tmp_path / "serve.log", "--root", str(e2e_collection),
                                env_extra={"POLYSEEK_GENERATOR": "silentpkg.gen:Silent", "PYTHONPATH": pythonpath})
    try:
        job = httpx.post(f"{base}/api/index/jobs", json={"path": "notes"}, timeout=10).json()
        deadline = time.monotonic() + 120
        while httpx.get(f"{base}/api/index/jobs/{job['id']}", timeout=10).json()["state"] not in ("done", "failed"):
            assert time.monotonic() < deadline, "indexing the notes did not finish"
            time.sleep(0.3)
        context = browser.new_context(base_url=base)
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto("/")
        page.wait_for_selector("html[data-ready=true]")
        page.click("a[data-tab=ask]")
        page.fill("#question", "What do cats do?")
        page.click("#ask-form button[type=submit]")
        page.wait_for_function("() => document.querySelector('#answer').getAttribute('aria-busy') === 'false'")
        shown = page.inner_text("#answer-text")
        assert "No answer: silentpkg.gen:Silent wrote nothing usable" in shown, shown
        assert page.locator("#citations li").count() >= 1
        context.close()
    finally:
        stop(process)
