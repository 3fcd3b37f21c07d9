"""Where the service's work runs: searches in batches on one thread, writes one at a time on another.

Before, every request took a thread of the server's pool (40) and ran on its own: with 32
clients the searches fought over two cores (p99 1.7 s), and queued writes, each waiting
for the index's lock in a pool thread, left no thread for a search (issue 20, issue 21).
Now:

- a search waits (as a coroutine, holding no thread) for one of the search threads (one
  per core), which takes every search queued meanwhile and answers them with one
  :meth:`qdup.Index.search` call per set of options: encoding, lexical rows and re-ranking
  cost less per question in a batch, and at most one batch per core is in flight, so the
  cores are never over-committed;
- a write waits for the write thread: writes are serialised by the index's lock anyway,
  and a queued write holds no thread a read needs. Reads never take the write lock.

Example::

    >>> work = ServiceWork(model, index)                     # doctest: +SKIP
    >>> [result] = await work.search("How do I learn Python?", k=3, threshold=None)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from ..data.questions import check_question
from ..errors import ChangedDuringSearchError

MAX_BATCH = 64  # questions per search call: the lexical stage scores 64 queries at a time


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass
class _Waiting:
    question: str
    options: dict
    answer: asyncio.Future = field(repr=False)


class ServiceWork:
    """The search batcher and the write queue of one app (see the module docstring)."""

    def __init__(self, model, index, max_batch: int = MAX_BATCH, workers: int | None = None) -> None:
        self.model, self.index, self.max_batch = model, index, max_batch
        self.workers = workers or cores()  # batches in flight at once
        self._searches = ThreadPoolExecutor(self.workers, thread_name_prefix="qdup-search")
        self._writes = ThreadPoolExecutor(1, thread_name_prefix="qdup-write")
        self._queue: list[_Waiting] = []
        self._runners: set[asyncio.Task] = set()
        # The index's files read in on a thread of their own (GET /health: "warm"): the first
        # users are served at once, and no longer each pay a disk read per page they touch.
        self.warm = threading.Event()
        if index is not None:
            threading.Thread(target=self._warm, name="qdup-warm", daemon=True).start()

    def _searched(self, questions: list[str], options: dict) -> list:
        try:
            return self.index.search(self.model, questions, **options)
        except ChangedDuringSearchError:  # another process removed rows it found: once more, on the index as it is
            self.index.refresh()
            return self.index.search(self.model, questions, **options)

    def _warm(self) -> None:
        try:
            self.index.warm()
        except Exception as error:  # a cold index still serves, only slower at first
            logging.getLogger(__name__).warning("the index was not read in ahead: %s", error)
        else:
            self.warm.set()

    async def search(self, question: str, **options: Any):
        """The :class:`~qdup.search.results.SearchResult` of one question, searched with others
        that arrived meanwhile. ``options`` are :meth:`qdup.Index.search`'s keywords."""
        question = check_question(question)  # its own error ("the question ..."), not the batch's
        waiting = _Waiting(question, options, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        # A free search thread: a batch starts now. (A runner that found the queue empty has
        # returned in the same step, so it is done: done() rather than the set's size.)
        if sum(not runner.done() for runner in self._runners) < self.workers:
            runner = asyncio.get_running_loop().create_task(self._run())
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)
        return await waiting.answer

    async def read(self, call: Callable[[], Any]) -> Any:
        """``call()`` (a read of the index, say a lookup by id) on a search thread."""
        return await asyncio.get_running_loop().run_in_executor(self._searches, call)

    async def write(self, call: Callable[[], Any]) -> Any:
        """``call()`` on the write thread, after the writes queued before it."""
        return await asyncio.get_running_loop().run_in_executor(self._writes, call)

    def close(self) -> None:
        """Finish the work in flight and stop both threads (queued writes still run)."""
        self._searches.shutdown(wait=True)
        self._writes.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            for group in _by_options(batch):
                questions = [w.question for w in group]
                try:
                    results = await loop.run_in_executor(self._searches, self._searched, questions,
                                                         group[0].options)
                except Exception as error:  # every request of the call gets the error, as it would alone
                    for w in group:
                        if not w.answer.done():
                            w.answer.set_exception(error)
                    continue
                for w, result in zip(group, results):
                    if not w.answer.done():  # a client that went away cancelled its future
                        w.answer.set_result(result)


def _by_options(batch: list[_Waiting]) -> list[list[_Waiting]]:
    """Requests with the same search options (k, threshold, filter...) in arrival order, grouped."""
    groups: dict[str, list[_Waiting]] = {}
    for waiting in batch:  # repr, not str: two different filters may read alike ("a and b")
        groups.setdefault(json.dumps(waiting.options, sort_keys=True, default=repr), []).append(waiting)
    return list(groups.values())
