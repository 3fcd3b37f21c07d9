"""A Milvus-backed index killed at each step of a write (Milvus Lite file): the next command
opens it, sees either the whole write or none of it, and can write again.

Each write runs in a child process that replaces one step (a pymilvus call, Milvus Lite's
own file writes, qdup's commit) by "do it, then SIGKILL yourself" or "write half the file,
then SIGKILL yourself": deterministic, no timing. A second child checks the result (a
Milvus Lite file is open in one process at a time, so this process never opens them).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pymilvus")

from helpers import TESTS  # noqa: E402

PRELUDE = textwrap.dedent("""
    import json, os, signal, sys, threading
    sys.path.insert(0, {tests!r})
    from fake_model import FakeModel
    from qdup import Index
    from qdup.data.corpus import Corpus

    MODEL, FOLDER = FakeModel(), {folder!r}
    OPTIONS = {{"uri": {uri!r}, "collection": "questions"}}
    QUESTIONS = [f"old question {{n}} about {{w}}?" for n, w in enumerate(["python", "rice", "guitar"] * 4)]
    NEW = [f"new question {{n}} about {{w}}?" for n, w in enumerate(["java", "tea", "piano"] * 3)]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    def kill_after(owner, name):
        # The step is done, then the process dies before the next one.
        real = getattr(owner, name)
        def step(*args, **kwargs):
            real(*args, **kwargs)
            die()
        setattr(owner, name, step)

    def kill_halfway(owner, name, path_at):
        # The step's file is half written when the process dies (as a kill in the middle of it).
        real = getattr(owner, name)
        def step(*args, **kwargs):
            real(*args, **kwargs)
            path = str(args[path_at])
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
            die()
        setattr(owner, name, step)

    def kill_at(step):
        import faiss, pyarrow.parquet, pymilvus
        from milvus_lite.index.scalar import ScalarInvertedIndex
        from qdup.search import manifest
        from qdup.search.milvus.store import MilvusStore
        from qdup.util import atomic
        {{
            "insert": lambda: kill_after(pymilvus.MilvusClient, "insert"),
            "delete": lambda: kill_after(pymilvus.MilvusClient, "delete"),
            "flush": lambda: kill_after(pymilvus.MilvusClient, "flush"),
            "drop": lambda: kill_after(pymilvus.MilvusClient, "drop_collection"),
            "rows file": lambda: kill_halfway(pyarrow.parquet, "write_table", 1),
            "vector index file": lambda: kill_halfway(faiss, "write_index", 1),
            "scalar index file": lambda: kill_halfway(ScalarInvertedIndex, "save", 1),
            "checkpoint": lambda: kill_after(MilvusStore, "checkpoint"),
            "commit": lambda: setattr(manifest, "_before_commit", die),
            "folder swap": lambda: setattr(atomic, "_between_renames", die),
        }}[step]()
""")


def child(tmp_path, body: str) -> tuple[int, str]:
    script = PRELUDE.format(tests=str(TESTS), folder=str(tmp_path / "idx"), uri=str(tmp_path / "q.db"))
    done = subprocess.run([sys.executable, "-c", script + textwrap.dedent(body)], capture_output=True, text=True,
                          env={"PYTHONPATH": ":".join(sys.path)}, timeout=300)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.returncode, done.stdout


STATE = """
    index = Index.load(FOLDER)
    vectors, ids, questions = index.live()
    print(json.dumps({"count": len(index), "ids": ids, "questions": questions,
                      "found": index.search(MODEL, ["old question 4 about rice?"], k=1)[0].ids}))
"""


def state(tmp_path) -> dict:
    code, out = child(tmp_path, STATE)
    assert code == 0
    return json.loads(out)


def killed(tmp_path, setup: str, step: str, write: str) -> None:
    """Run ``setup``, then ``write`` with ``step`` replaced by a kill; the child must die there."""
    body = (textwrap.dedent(setup) + f"\nkill_at({step!r})\n" + textwrap.dedent(write)
            + "\nthreading.Event().wait(120)  # a background write may be the one killed\n")
    code, _ = child(tmp_path, body)
    assert code == -signal.SIGKILL, f"the write never reached {step!r}"


BUILD = "Index.build(MODEL, None, QUESTIONS, FOLDER, backend='milvus', options=OPTIONS)\n"


@pytest.mark.parametrize("step", ["insert", "flush", "rows file", "vector index file", "scalar index file", "commit"])
def test_an_add_killed_at_any_step_is_all_or_nothing(tmp_path, step):
    killed(tmp_path, BUILD, step, "Index.load(FOLDER).add(MODEL, NEW, ids=[f'n{i}' for i in range(len(NEW))])")
    after = state(tmp_path)  # opens: a half-written index file of Milvus Lite is rebuilt, not fatal
    old = [str(n) for n in range(1, 13)]
    assert after["ids"] in (old, old + [f"n{i}" for i in range(9)]), after["ids"]
    assert after["count"] == len(after["ids"]) and after["found"] == ["5"]
    code, out = child(tmp_path, """
        index = Index.load(FOLDER)
        have = set(index.live()[1])
        index.add(MODEL, [q for i, q in enumerate(NEW) if f"n{i}" not in have],
                  ids=[f"n{i}" for i in range(len(NEW)) if f"n{i}" not in have])
        index.add(MODEL, ["one more question?"], ids=["last"])
        print(len(Index.load(FOLDER)))
    """)
    assert code == 0 and int(out) == 12 + 9 + 1


@pytest.mark.parametrize("step", ["commit", "delete", "rows file", "flush"])
def test_a_remove_killed_at_any_step_is_all_or_nothing(tmp_path, step):
    killed(tmp_path, BUILD, step, "Index.load(FOLDER).remove(['3', '5'])")
    after = state(tmp_path)
    assert after["count"] == len(after["ids"])  # the count follows the rows, whatever happened
    old = [str(n) for n in range(1, 13)]
    assert after["ids"] in (old, [i for i in old if i not in ("3", "5")]), after["ids"]
    code, out = child(tmp_path, """
        index = Index.load(FOLDER)
        if "3" in index.live()[1]:
            index.remove(["3", "5"])  # not done: running it again does it
        index.remove(["7"])
        print(json.dumps([len(index), index.live()[1]]))
    """)
    count, ids = json.loads(out)
    assert code == 0 and ids == [i for i in old if i not in ("3", "5", "7")] and count == 9


@pytest.mark.parametrize("step", ["flush", "commit"])
def test_a_remove_after_a_killed_add_never_shows_the_adds_rows(tmp_path, step):
    """The add's rows carry the next generation; the remove commits that generation number."""
    killed(tmp_path, BUILD, step, "Index.load(FOLDER).add(MODEL, NEW, ids=[f'n{i}' for i in range(len(NEW))])")
    code, out = child(tmp_path, """
        index = Index.load(FOLDER)
        added = "n0" in index.live()[1]  # a kill at the commit may land either way
        index.remove(["1"])
        ids = index.live()[1]
        index.check()  # the manifest's count is what Milvus holds
        if not added:
            index.add(MODEL, NEW, ids=[f"n{i}" for i in range(len(NEW))])  # the add runs again
        print(json.dumps([added, ids, len(Index.load(FOLDER))]))
    """)
    added, ids, count = json.loads(out)
    old = [str(n) for n in range(2, 13)]
    assert code == 0 and ids == (old + [f"n{i}" for i in range(9)] if added else old) and count == 11 + 9


FORCE = """
from qdup.search.milvus import store
store.CHUNK_ROWS, store.INSERT_ROWS = 3, 2  # several pieces and inserts
from qdup.data.corpus import Corpus
def rebuild():
    pieces = [Corpus(NEW[s : s + 3]) for s in range(0, len(NEW), 3)]
    return Index.build_chunks(MODEL, pieces, FOLDER, backend="milvus", options=OPTIONS, force=True,
                              resume_key="new-questions")
"""


@pytest.mark.parametrize("step", ["checkpoint", "insert", "commit", "folder swap", "drop"])
def test_a_rebuild_killed_at_any_step_keeps_the_old_index_whole(tmp_path, step):
    killed(tmp_path, BUILD + FORCE, step, "rebuild()")
    after = state(tmp_path)
    old = {"ids": [str(n) for n in range(1, 13)], "questions": [f"old question {n} about {w}?" for n, w in
                                                                enumerate(["python", "rice", "guitar"] * 4)]}
    if after["ids"] == old["ids"]:  # killed before the new folder replaced the old one
        assert after["questions"] == old["questions"] and after["count"] == 12 and after["found"] == ["5"]
    else:  # killed after: the new index, whole
        assert after["count"] == len(NEW_IDS) and after["ids"] == NEW_IDS
    code, out = child(tmp_path, FORCE + textwrap.dedent("""
        index = rebuild()
        from pymilvus import MilvusClient
        print(json.dumps([len(Index.load(FOLDER)), Index.load(FOLDER).live()[1],
                          MilvusClient(OPTIONS["uri"]).list_collections()]))
    """))
    count, ids, collections = json.loads(out)
    assert code == 0 and count == 9 and ids == NEW_IDS
    assert len(collections) == 1, collections  # the replaced collection is gone, no leftovers


NEW_IDS = [str(n) for n in range(1, 10)]
