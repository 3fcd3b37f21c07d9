"""Helpers the tests import: paths of the shipped fixtures, the CLI run in-process, and
result comparison.

Bit-identical comparisons (same seed → same weights, save → load → same vectors) hold
within one process and thread count; across machines, BLAS kernels and thread counts
scores differ in the last bits, so results from different code paths (a batched and a
one-row product, a memory-mapped and an in-memory matrix) are compared with
:func:`assert_same_results`: ids and order exactly, scores to a tolerance.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

import qdup

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent  # on sys.path (pytest's pythonpath): helpers import from here
TOY_PAIRS = ROOT / "examples" / "toy_pairs.tsv"
SHARED = Path(os.environ.get("QDUP_SHARED", ROOT.parent / "shared"))
QQP_PARTIAL = SHARED / "data" / "qqp-partial" / "pairs.tsv"
# The tiny model of the `tiny_model` fixture: trains on the toy pairs in well under a second.
TINY = qdup.TrainConfig.from_recipe("reference", epochs=4, batch_size=32, dim=32, seed=1)
# A default-recipe (re-ranking) model small enough for the toy pairs: the `rerank_model` fixture.
SMALL_DEFAULT = dict(epochs=2, batch_size=32, negatives_per_batch=32, dim=16, hidden=8, ngram_buckets=500, seed=4)
# Eight questions with near-duplicates among them: the pool of the lexical and re-ranking tests.
POOL = [
    "How do I learn Python?", "How can I learn Python fast?", "What is the best iPhone 6 case?",
    "What is the best iPhone 7 case?", "Why is the sky blue?", "How do I cook rice?",
    "What is machine learning?", "How does a rice cooker work?",
]


def run(capsys, *args) -> tuple[int, str, str]:
    """Run the ``qdup`` CLI in-process: ``(exit code, stdout, stderr)``."""
    from qdup.cli import main

    code = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return code, out, err


def free_port() -> int:
    """A port that was free a moment ago (another process may take it; rare enough)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_same_results(got, expected, rtol: float = 1e-5) -> None:
    """Search results equal up to float rounding: ids, questions and order exact, except
    among matches whose scores tie within that rounding. Two code paths (a Milvus search
    and numpy's, or two BLAS kernels) may order such a tie either way, and a tie at the
    last place may keep either match."""
    got, expected = list(got), list(expected)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert len(a.ids) == len(b.ids) and len(set(a.ids)) == len(a.ids), a.ids  # no match twice
        np.testing.assert_allclose(a.scores, b.scores, rtol=rtol, atol=1e-6)
        question_a, question_b = dict(zip(a.ids, a.questions)), dict(zip(b.ids, b.questions))
        assert all(question_a[i] == question_b[i] for i in question_a.keys() & question_b.keys())
        for start, end in tied_runs(b.scores, rtol):
            if end < len(b.ids):  # the same matches; a tie in either order
                assert sorted(a.ids[start:end]) == sorted(b.ids[start:end]), (a.ids, b.ids)
            # else the last run: a match outside the results may tie with it and take its place


def tied_runs(scores, rtol: float) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of neighbouring scores equal within ``rtol`` (and 1e-6)."""
    runs, start = [], 0
    for n in range(1, len(scores) + 1):
        if n == len(scores) or not np.isclose(scores[n], scores[n - 1], rtol=rtol, atol=1e-6):
            runs.append((start, n))
            start = n
    return runs


def kill_at_random_moments(start_writer, seed: int, times: int = 4):
    """Start a writer process ``times`` times and SIGKILL it after a random 0.05-0.4 s once it
    says "loaded"; yields after each kill, for the caller to check what the kill left."""
    import random

    rng = random.Random(seed)
    for _ in range(times):
        writer = start_writer()
        assert writer.stdout.readline() == "loaded\n"
        try:
            writer.wait(timeout=rng.uniform(0.05, 0.4))
        except subprocess.TimeoutExpired:
            pass
        writer.kill()
        writer.wait()
        yield


PAUSED_WRITER = """
import sys, time
sys.path.insert(0, {tests!r})
from fake_model import FakeModel
from qdup.search import manifest
from qdup.search.index import Index

def pause():
    print("ready", flush=True)   # the write's data files are on disk, its manifest is not
    time.sleep(60)
manifest._before_commit = pause
index = Index.load({path!r})
{write}
"""


def start_write_paused_before_commit(path, write: str):
    """A process that runs ``write`` (Python, on ``index``: the index at ``path`` loaded, and
    ``FakeModel``) and stops just before its commit, for the caller to kill; returned once
    it has said so."""
    script = PAUSED_WRITER.format(tests=str(TESTS), path=str(path), write=write)
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "ready\n"
    return writer
