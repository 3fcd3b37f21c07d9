"""The service under concurrent requests: a search never waits behind queued writes (issue 21),
and searches answered together in one batch answer as each would alone (issue 20)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn

from helpers import free_port
from qdup.search import manifest
from qdup.search.index import Index
from qdup.service.app import create_app

QUESTIONS = ["How do I learn Python?", "What is an LSTM?", "How do I cook rice?", "Is Python hard to learn?",
             "How do I boil an egg?", "What is a neural network?"]
QUEUED_WRITES = 60  # more than the 40 threads of the server's pool: queued writes used to hold them all
DEADLINE = 30  # seconds: generous on a busy machine; nothing here waits for it unless something is wrong


class CountingWrites:
    """ASGI wrapper that tells when ``expected`` write requests have reached the app."""

    def __init__(self, app, expected: int) -> None:
        self.app, self.expected, self.seen = app, expected, 0
        self.all_arrived = threading.Event()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/questions":
            self.seen += 1
            if self.seen >= self.expected:
                self.all_arrived.set()
        await self.app(scope, receive, send)


@pytest.fixture
def running(tmp_path, fake_model):
    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx")
    app = CountingWrites(create_app(fake_model, index), QUEUED_WRITES)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + DEADLINE
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", app, index
    server.should_exit = True
    thread.join(timeout=DEADLINE)


def test_a_search_answers_while_a_write_holds_the_lock_and_others_queue(running, monkeypatch, tmp_path):
    url, app, _ = running
    inside, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:  # the first write stops here, holding the index's write lock
        inside.set()
        release.wait(DEADLINE * 4)

    monkeypatch.setattr(manifest, "_before_commit", hold_the_lock)
    with ThreadPoolExecutor(QUEUED_WRITES) as clients:
        writes = [clients.submit(httpx.post, f"{url}/questions", json={"question": f"Queued question {n}?"},
                                 timeout=DEADLINE * 4) for n in range(QUEUED_WRITES)]
        try:
            assert inside.wait(DEADLINE), "no write reached its commit"
            assert app.all_arrived.wait(DEADLINE), "the writes did not all reach the server"
            answer = httpx.post(f"{url}/search", json={"question": "learn python", "k": 2}, timeout=DEADLINE)
            assert answer.status_code == 200 and len(answer.json()["matches"]) == 2
            health = httpx.get(f"{url}/health", timeout=DEADLINE)
            assert health.status_code == 200 and health.json()["questions"] == len(QUESTIONS)  # nothing committed yet
            assert not any(w.done() for w in writes)  # every write was still waiting meanwhile
        finally:
            release.set()
        statuses = [w.result().status_code for w in writes]
    assert statuses == [201] * QUEUED_WRITES
    assert len(Index.load(tmp_path / "idx")) == len(QUESTIONS) + QUEUED_WRITES


def test_searches_batched_together_answer_as_each_alone(running, fake_model):
    url, _, index = running
    queries = [f"{q} {n}" for n in range(4) for q in QUESTIONS]  # 24 searches in flight at once
    with ThreadPoolExecutor(len(queries)) as clients:
        answers = list(clients.map(lambda q: httpx.post(f"{url}/search", json={"question": q, "k": 3},
                                                        timeout=DEADLINE).json()["matches"], queries))
    for query, matches in zip(queries, answers):
        [alone] = index.search(fake_model, [query], k=3)
        assert [m["id"] for m in matches] == alone.ids
        assert [m["score"] for m in matches] == pytest.approx(alone.scores, abs=1e-5)


def test_searches_with_other_options_are_not_mixed(running):
    url, _, _ = running
    bodies = [{"question": "learn python", "k": k} for k in (1, 2, 3)] * 4
    with ThreadPoolExecutor(len(bodies)) as clients:
        answers = list(clients.map(lambda body: httpx.post(f"{url}/search", json=body, timeout=DEADLINE), bodies))
    assert [len(a.json()["matches"]) for a in answers] == [body["k"] for body in bodies]
    bad = httpx.post(f"{url}/search", json={"question": "???"}, timeout=DEADLINE)
    assert bad.status_code == 422 and bad.json() == {"error": "the question is empty (no words once punctuation is removed)"}


def test_queued_searches_are_answered_in_batches_by_a_bounded_number_of_threads():
    import asyncio

    from qdup.service.work import ServiceWork

    class RecordingIndex:
        def __init__(self):
            self.calls, self.in_flight, self.most = [], 0, 0
            self.lock = threading.Lock()

        def search(self, model, questions, k):
            with self.lock:
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
            with self.lock:
                self.in_flight -= 1
                self.calls.append(len(questions))
            return [f"{q} k={k}" for q in questions]

    async def many(work, n):  # all n are queued before the first batch starts (tasks run in order)
        return await asyncio.gather(*(work.search(f"question {i}?", k=3) for i in range(n)))

    index = RecordingIndex()
    work = ServiceWork(None, index, max_batch=8, workers=2)
    try:
        answers = asyncio.run(many(work, 40))
    finally:
        work.close()
    assert answers == [f"question {i}? k=3" for i in range(40)]
    assert sum(index.calls) == 40 and max(index.calls) <= 8 and len(index.calls) < 40  # batched
    assert index.most <= 2  # never more batches in flight than workers


def test_searches_with_filters_that_read_alike_are_not_mixed():
    import asyncio

    from qdup.search.filters import parse_filter
    from qdup.service.work import ServiceWork

    class FilterEcho:  # answers each question with the filter it was searched with
        def search(self, model, questions, where):
            return [where for _ in questions]

    one = parse_filter(["category=python and status=open"])  # one condition on category
    two = parse_filter(["category=python", "status=open"])   # two conditions
    assert str(one) == str(two) and one != two

    async def both(work):
        return await asyncio.gather(work.search("first?", where=one), work.search("second?", where=two))

    work = ServiceWork(None, FilterEcho(), workers=1)
    try:
        assert asyncio.run(both(work)) == [one, two]
    finally:
        work.close()
