"""A write killed at any moment leaves the previous index loadable (kill -9 and Ctrl-C)."""

import signal
import subprocess
import sys
import textwrap

import pytest

from fake_model import FakeModel
from qdup.search.index import Index

from helpers import TESTS, kill_at_random_moments, start_write_paused_before_commit  # noqa: E402

WRITER = textwrap.dedent(
    """
    import signal, sys, time
    # Ctrl-C raises KeyboardInterrupt even if the test process left SIGINT ignored (a child
    # inherits an ignored signal, and Python then installs no handler for it).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path.insert(0, {tests!r})
    from fake_model import FakeModel
    from qdup.search import manifest
    from qdup.search.index import Index

    if {pause}:
        def pause():
            print("ready", flush=True)   # data files are written, the manifest is not
            time.sleep(60)
        manifest._before_commit = pause
    index = Index.load({path!r})
    print("loaded", flush=True)
    for n in range({rounds}):
        index.add(FakeModel(), [f"round {{n}} question {{i}}?" for i in range(50)])
    """
)


def start_writer(path, pause, rounds=1):
    script = WRITER.format(tests=str(TESTS), path=str(path), pause=pause, rounds=rounds)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)


@pytest.fixture
def index_path(tmp_path):
    Index.build(FakeModel(), None, ["How do I learn Python?", "What is an LSTM?"], tmp_path / "idx")
    return tmp_path / "idx"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_add_keeps_previous_index(index_path, sig):
    before = Index.load(index_path).live()[1]
    writer = start_writer(index_path, pause=True)
    assert writer.stdout.readline() == "loaded\n"
    assert writer.stdout.readline() == "ready\n"
    assert len(list(index_path.glob("seg-000002.*"))) == 2  # the new data really was on disk
    writer.send_signal(sig)
    assert writer.wait(timeout=30) != 0
    index = Index.load(index_path)
    assert index.live()[1] == before
    # Loading sweeps the killed writer's files: an index no one writes to again keeps none.
    assert {p.name for p in index_path.iterdir()} == {"manifest.json", ".lock", "seg-000001.npy", "seg-000001.jsonl"}
    # The next write commits normally and sweeps the orphaned files away.
    index.add(FakeModel(), ["After the crash?"])
    assert Index.load(index_path).live()[1] == [*before, "3"]
    files = {p.name for p in index_path.iterdir()}
    assert files == {"manifest.json", ".lock", "seg-000001.npy", "seg-000001.jsonl", "seg-000002.npy", "seg-000002.jsonl"}


def test_kill_at_random_moments(index_path):
    for _ in kill_at_random_moments(lambda: start_writer(index_path, pause=False, rounds=1000), seed=4):
        count = len(Index.load(index_path))
        assert (count - 2) % 50 == 0, count  # whole adds only, never half of one


def test_a_compact_killed_before_its_commit_keeps_the_previous_index(index_path):
    index = Index.load(index_path)
    index.add(FakeModel(), [f"Question {n} about rice?" for n in range(10)])
    index.remove(["1"])
    before, manifest = index.live()[1], (index_path / "manifest.json").read_bytes()
    old_files = {p.name for p in index_path.iterdir()}
    compactor = start_write_paused_before_commit(index_path, "index.compact()")
    assert {p.name for p in index_path.iterdir()} > old_files  # the one new segment is on disk
    compactor.send_signal(signal.SIGKILL)
    assert compactor.wait(timeout=30) != 0
    assert (index_path / "manifest.json").read_bytes() == manifest
    index = Index.load(index_path)  # sweeps what the compactor wrote
    assert index.live()[1] == before and {p.name for p in index_path.iterdir()} == old_files
    assert index.compact() and index.live()[1] == before
