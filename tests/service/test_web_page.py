"""The search-as-you-type page, end to end in headless Chromium (Debian's build, via Playwright)."""

import contextlib
import os
import shutil
import subprocess
import threading
import time

import pytest
import uvicorn

from helpers import free_port
from qdup.model import QdupModel
from qdup.search.decisions import read_decisions
from qdup.search.index import Index
from qdup.service.access import Access
from qdup.service.app import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def ensure_chromium() -> str:
    """Install Debian's chromium when missing (CI runs as root); fail, never skip, otherwise."""
    if not os.path.exists(CHROMIUM) and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False, env=env, capture_output=True)
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install -y chromium)")
    return CHROMIUM


@contextlib.contextmanager
def chromium():
    """A headless Chromium browser (Debian's, through Playwright), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=ensure_chromium(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def running(app):
    """``app`` served by uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


QUESTIONS = ["How do I learn Python?", "What is the best way to learn Python?", "How can I cook rice?"]


@pytest.fixture
def server(tmp_path, tiny_model):
    metadata = [{"url": f"https://forum.example/t/{n}", "title": f"Thread {n}"} for n in (1, 2)]
    metadata.append({"url": "javascript:alert(1)"})  # never clickable
    index = Index.build(tiny_model, None, QUESTIONS, tmp_path / "idx", metadata=metadata)
    with running(create_app(tiny_model, index)) as url:
        yield url, tmp_path / "idx"


def test_type_see_duplicates_then_add(server):
    from playwright.sync_api import expect, sync_playwright

    url, index_path = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=ensure_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            searches = []
            page.on("request", lambda r: searches.append(r) if r.url.endswith("/search") else None)
            page.goto(url + "/")
            page.locator("#question").press_sequentially("How do I learn Python?", delay=10)
            first = page.locator("#matches li").first
            expect(first).to_contain_text("How do I learn Python?", timeout=10_000)
            expect(first.locator(".score")).to_have_text("1.000")
            expect(page.locator("#matches li")).to_have_count(3)
            # A link to the thread, titled, for each result with a web url; none for the javascript: one
            links = page.locator("#matches li a.title")
            expect(links).to_have_count(2)
            assert sorted(links.evaluate_all("els => els.map(e => e.href)")) == [
                "https://forum.example/t/1", "https://forum.example/t/2"]
            expect(first.locator("a.title")).to_have_text("Thread 1")
            # The tiny model has no calibrated search threshold: at most the top match is flagged
            assert page.locator("#matches li.likely").count() <= 1
            page.locator("#question").fill("how do i")
            expect(page.locator("#matches li")).to_have_count(3, timeout=10_000)
            page.wait_for_timeout(300)
            assert page.locator("#matches li.likely").count() <= 1
            flagged = page.locator("#matches li.likely").count()
            expect(page.locator("#status")).to_have_text(
                f"{flagged} likely duplicate" if flagged else "no likely duplicate")
            # Debounced: 22 keystrokes 10 ms apart send a handful of searches, not one per key
            # (bounded loosely: a loaded CI box may stretch the gaps between keystrokes).
            assert 1 <= len(searches) <= 8

            page.locator("#question").fill("Where can I learn Rust?")
            page.locator("#add").click()
            expect(page.locator("#status")).to_have_text("added as #4", timeout=10_000)
            page.locator("#question").fill("Where can I learn Rust")
            expect(page.locator("#matches li")).to_have_count(4, timeout=10_000)
            expect(page.locator("#matches li").first).to_contain_text("Where can I learn Rust?")
        finally:
            browser.close()
    assert Index.load(index_path).live()[2][-1] == "Where can I learn Rust?"


TOKEN = "page-token"
NONSENSE = "zebra quantum xylophone"


@pytest.fixture
def moderated(tmp_path, tiny_model):
    """A token-protected server whose model has a search floor: the nonsense query scores below it."""
    scores = tiny_model.encode(QUESTIONS) @ tiny_model.encode([NONSENSE])[0]
    floor = round(float(scores.max()) + 0.01, 4)
    assert floor < 0.99  # an exact match still passes it
    info = {**tiny_model.info, "search_threshold": {"threshold": 0.999, "floor": floor}}
    model = QdupModel(tiny_model.encoder, tiny_model.threshold, info, tiny_model.scorer)
    index = Index.build(tiny_model, None, QUESTIONS, tmp_path / "idx")
    with running(create_app(model, index, access=Access("token", TOKEN))) as url:
        yield url, tmp_path / "idx"


def test_decision_buttons_only_with_the_token_and_no_similar_questions(moderated):
    from playwright.sync_api import expect

    url, index_path = moderated
    with chromium() as browser:
        public = browser.new_page()
        public.goto(url + "/")
        public.locator("#question").fill("How do I learn Python?")
        expect(public.locator("#matches li").first).to_contain_text("How do I learn Python?", timeout=10_000)
        expect(public.locator("#add")).to_be_hidden()
        assert public.locator(".decide button").count() == 0
        # Below the model's floor nothing is listed: the page says so instead of showing weak matches
        public.locator("#question").fill(NONSENSE)
        expect(public.locator("#status")).to_have_text("no similar questions", timeout=10_000)
        expect(public.locator("#matches li")).to_have_count(0)

        moderator = browser.new_page()
        moderator.goto(url + f"/#token={TOKEN}&moderator=ann")
        assert "token" not in moderator.url  # the secret leaves the address bar
        moderator.locator("#question").fill("How do I learn Python?")
        first = moderator.locator("#matches li").first
        expect(first).to_contain_text("How do I learn Python?", timeout=10_000)
        expect(first.locator(".decide button")).to_have_count(2)
        second = moderator.locator("#matches li").nth(1)
        judged = second.locator(".id").inner_text().lstrip("#")
        second.locator("button[data-verdict=duplicate]").click()
        expect(moderator.locator("#status")).to_have_text("decision recorded (1 in all)", timeout=10_000)
        expect(moderator.locator("#matches li").nth(1).locator(".verdict")).to_have_text("marked duplicate")
    [decision] = read_decisions(index_path)
    assert (decision.query, decision.duplicate, decision.moderator) == ("How do I learn Python?", True, "ann")
    assert decision.match_id == judged and decision.match == QUESTIONS[int(judged) - 1]
