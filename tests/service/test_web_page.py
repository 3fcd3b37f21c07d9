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
from qdup.model import QdupModel
from qdup.search.decisions import read_decisions
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


QUESTIONS = ["How do I learn Python?", "What is the best way to learn Python?", "How can I cook rice?"]


@pytest.fixture
def serve(tmp_path, tiny_model):
    """Start the service in this process (any write policy); its URL. Stopped after the test."""
    servers = []

    def start(access: Access = Access(), model=None) -> str:
        metadata = [{"url": f"https://forum.example/t/{n}", "title": f"Thread {n}"} for n in (1, 2)]
        metadata.append({"url": "javascript:alert(1)"})  # never clickable
        folder = tmp_path / f"idx{len(servers)}"
        index = Index.build(tiny_model, None, QUESTIONS, folder, metadata=metadata)
        port = free_port()
        config = uvicorn.Config(create_app(model or tiny_model, index, access=access), host="127.0.0.1", port=port,
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

    page.locator("#question").fill("???")  # no words: the page names no "question 1" the typist never saw
    page.clock.run_for(DEBOUNCE_MS)
    settled(page)
    expect(page.locator("#status")).to_have_text("the question is empty (no words once punctuation is removed)")
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


TOKEN = "page-token"
NONSENSE = "zebra quantum xylophone"


def floored(tiny_model) -> QdupModel:
    """The tiny model with a search floor: the nonsense query scores below it, an exact match above."""
    scores = tiny_model.encode(QUESTIONS) @ tiny_model.encode([NONSENSE])[0]
    floor = round(float(scores.max()) + 0.01, 4)
    assert floor < 0.99  # an exact match still passes it
    info = {**tiny_model.info, "search_threshold": {"threshold": 0.999, "floor": floor}}
    return QdupModel(tiny_model.encoder, tiny_model.threshold, info, tiny_model.scorer)


def test_decision_buttons_only_with_the_token_and_no_similar_questions(serve, browser, tmp_path, tiny_model):
    from playwright.sync_api import expect

    url = serve(Access("token", TOKEN), floored(tiny_model))
    public = browser.new_page()
    public.goto(url + "/")
    expect(public.locator("#add")).to_have_attribute("data-writes", "token", timeout=WAIT_MS)
    public.locator("#question").fill("How do I learn Python?")
    settled(public)
    expect(public.locator("#matches li").first).to_contain_text("How do I learn Python?")
    expect(public.locator("#add")).to_be_hidden()
    assert public.locator(".decide button").count() == 0
    # Below the model's floor nothing is listed: the page says so instead of showing weak matches
    public.locator("#question").fill(NONSENSE)
    settled(public)
    expect(public.locator("#status")).to_have_text("no similar questions")
    expect(public.locator("#matches li")).to_have_count(0)

    moderator = browser.new_page()
    moderator.goto(url + f"/#token={TOKEN}&moderator=ann")
    assert "token" not in moderator.url  # the secret leaves the address bar
    expect(moderator.locator("#add")).to_be_visible(timeout=WAIT_MS)  # with the token, this page may write
    moderator.locator("#question").fill("How do I learn Python?")
    settled(moderator)
    first = moderator.locator("#matches li").first
    expect(first).to_contain_text("How do I learn Python?")
    second = moderator.locator("#matches li").nth(1)
    expect(second.locator(".decide button")).to_have_count(2)
    assert first.locator(".decide button").count() == 0  # the query's own stored copy: no pair to judge
    judged = second.locator(".id").inner_text().lstrip("#")
    second.locator("button[data-verdict=duplicate]").click()
    expect(moderator.locator("#status")).to_have_text("decision recorded (1 in all)", timeout=WAIT_MS)
    expect(moderator.locator("#matches li").nth(1).locator(".verdict")).to_have_text("marked duplicate")
    [decision] = read_decisions(tmp_path / "idx0")
    assert (decision.query, decision.duplicate, decision.moderator) == ("How do I learn Python?", True, "ann")
    assert decision.match_id == judged and decision.match == QUESTIONS[int(judged) - 1]


def test_a_refused_write_or_showing_the_page_again_reads_health_anew(serve, browser):
    """The service restarts read-only (or with a token) while the page is open: a write it
    refuses (403, 401) hides the buttons with the reason, and so does coming back to the page;
    /health is read on those events only, never on a timer."""
    from playwright.sync_api import expect

    servers = {"open": serve(), "read-only": serve(Access("read-only", None, "started with --read-only")),
               "token": serve(Access("token", TOKEN))}
    now = {"at": servers["open"]}  # where the page's requests go: the service "restarted" elsewhere
    page = browser.new_page()
    health = []
    page.on("request", lambda r: health.append(r) if r.url.endswith("/health") else None)
    page.route(servers["open"] + "/**", lambda route: route.continue_(
        url=route.request.url.replace(servers["open"], now["at"], 1)))
    page.clock.install(time=START)
    page.goto(servers["open"] + "/")
    page.clock.pause_at(START + timedelta(hours=1))
    expect(page.locator("#add")).to_be_visible(timeout=WAIT_MS)
    page.locator("#question").fill("How do I learn Python?")
    page.clock.run_for(DEBOUNCE_MS)
    settled(page)
    expect(page.locator("#matches li").nth(1).locator(".decide button")).to_have_count(2)

    now["at"] = servers["read-only"]
    page.locator("#matches li").nth(1).locator("button[data-verdict=duplicate]").click()
    expect(page.locator("#add")).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator(".decide button")).to_have_count(0)
    expect(page.locator("#status")).to_have_text("not saved: this server is read-only (started with --read-only)")
    assert len(health) == 2

    now["at"] = servers["open"]  # back without --read-only: the page learns it when shown again
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#add")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#matches li").nth(1).locator(".decide button")).to_have_count(2)
    assert len(health) == 3

    now["at"] = servers["token"]  # a token server, and this page has none
    page.locator("#add").click()
    expect(page.locator("#add")).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator(".decide button")).to_have_count(0)
    expect(page.locator("#status")).to_have_text("not saved: writes need the header 'Authorization: Bearer <token>'")
    page.clock.run_for(60 * 60 * 1000)  # an hour on the page: no polling
    assert len(health) == 4
