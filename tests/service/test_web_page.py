"""The search-as-you-type page, end to end in headless Chromium (Debian's build, via Playwright)."""

import os
import shutil
import subprocess
import threading
import time
from datetime import datetime, timedelta

import pytest
import uvicorn

from helpers import free_port
from qdup.search.index import Index
from qdup.service.access import Access
from qdup.service.app import create_app

CHROMIUM = "/usr/bin/chromium"
DEBOUNCE_MS = 150  # the page's
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
def serve(tmp_path, tiny_model):
    """Start the service in this process (any write policy); its URL. Stopped after the test."""
    servers = []

    def start(access: Access = Access()) -> str:
        questions = ["How do I learn Python?", "What is the best way to learn Python?", "How can I cook rice?"]
        metadata = [{"url": f"https://forum.example/t/{n}", "title": f"Thread {n}"} for n in (1, 2)]
        metadata.append({"url": "javascript:alert(1)"})  # never clickable
        folder = tmp_path / f"idx{len(servers)}"
        index = Index.build(tiny_model, None, questions, folder, metadata=metadata)
        port = free_port()
        config = uvicorn.Config(create_app(tiny_model, index, access=access), host="127.0.0.1", port=port,
                                log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 60  # a condition with a generous deadline: a busy machine starts slowly
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=ensure_chromium(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


START = datetime(2024, 1, 1)
WAIT_MS = 30_000  # what the page waits for is a condition; the deadline only stops a hang


def settled(page) -> None:
    """Wait until the list shows the answer for what is typed now (the page marks it aria-busy until then)."""
    from playwright.sync_api import expect

    expect(page.locator("#matches")).to_have_attribute("aria-busy", "false", timeout=WAIT_MS)


def test_type_see_duplicates_then_add(serve, browser, tmp_path):
    from playwright.sync_api import expect

    url = serve()
    page = browser.new_page()
    searches = []
    page.on("request", lambda r: searches.append(r) if r.url.endswith("/search") else None)
    page.clock.install(time=START)
    page.goto(url + "/")
    page.clock.pause_at(START + timedelta(hours=1))  # timers (the debounce) fire only when the test runs the clock
    expect(page.locator("#add")).to_be_visible(timeout=WAIT_MS)  # an open server (loopback, no token)
    page.locator("#question").press_sequentially("How do I learn Python?")
    assert searches == []  # typing sends nothing until the typist pauses for the debounce time
    page.clock.run_for(DEBOUNCE_MS)
    settled(page)
    assert len(searches) == 1  # one search for 22 keystrokes
    first = page.locator("#matches li").first
    expect(first).to_contain_text("How do I learn Python?")
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
    page.clock.run_for(DEBOUNCE_MS)
    settled(page)
    expect(page.locator("#matches li")).to_have_count(3)
    flagged = page.locator("#matches li.likely").count()
    assert flagged <= 1
    expect(page.locator("#status")).to_have_text(f"{flagged} likely duplicate" if flagged else "no likely duplicate")

    page.locator("#question").fill("Where can I learn Rust?")
    page.locator("#add").click()
    expect(page.locator("#status")).to_have_text("added as #4", timeout=WAIT_MS)
    # The results are those of the index with the question added, without typing again.
    expect(page.locator("#matches li")).to_have_count(4)
    expect(page.locator("#matches li").first).to_contain_text("Where can I learn Rust?")
    assert Index.load(tmp_path / "idx0").live()[2][-1] == "Where can I learn Rust?"


def test_add_shows_only_once_the_server_says_anyone_may_write(serve, browser):
    from playwright.sync_api import expect

    page = browser.new_page()
    held = []
    page.route("**/health", lambda route: held.append(route))  # hold the answer: no button before it
    page.goto(serve() + "/")
    expect(page.locator("#add")).to_be_hidden()
    deadline = time.monotonic() + WAIT_MS / 1000
    while not held:
        assert time.monotonic() < deadline, "the page never asked /health"
        page.wait_for_timeout(20)
    expect(page.locator("#add")).to_be_hidden()
    held[0].continue_()
    expect(page.locator("#add")).to_be_visible(timeout=WAIT_MS)

    for access in (Access("read-only", None, "started with --read-only"), Access("token", "s3cret")):
        page = browser.new_page()
        page.goto(serve(access) + "/")
        expect(page.locator("#add")).to_have_attribute("data-writes", access.mode, timeout=WAIT_MS)
        expect(page.locator("#add")).to_be_hidden()
