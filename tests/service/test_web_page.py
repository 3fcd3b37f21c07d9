"""The search-as-you-type page, end to end in headless Chromium (Debian's build, via Playwright)."""

import os
import shutil
import subprocess
import threading
import time

import pytest
import uvicorn

from helpers import free_port
from qdup.search.index import Index
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


@pytest.fixture
def server(tmp_path, tiny_model):
    questions = ["How do I learn Python?", "What is the best way to learn Python?", "How can I cook rice?"]
    metadata = [{"url": f"https://forum.example/t/{n}", "title": f"Thread {n}"} for n in (1, 2)]
    metadata.append({"url": "javascript:alert(1)"})  # never clickable
    index = Index.build(tiny_model, None, questions, tmp_path / "idx", metadata=metadata)
    port = free_port()
    config = uvicorn.Config(create_app(tiny_model, index), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", tmp_path / "idx"
    server.should_exit = True
    thread.join(timeout=10)


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
