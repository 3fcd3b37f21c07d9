"""Streamed builds and adds: the file read in pieces, a stopped Milvus build continued,
a streamed add all or nothing."""

from __future__ import annotations

import pytest

from test_index_backends import assert_same_results  # tie-tolerant: the fake model ties often
from fake_model import FakeModel
from qdup import Index
from qdup.data.corpus import iter_questions, read_questions
from qdup.errors import DataError

QUESTIONS = [f"question number {n} about {w}?" for n, w in enumerate(["python", "rice", "guitar", "java"] * 12)]


def write_jsonl(path, questions, ids):
    path.write_text("".join(f'{{"id": "{i}", "question": "{q}", "url": "u{i}"}}\n' for i, q in zip(ids, questions)))
    return path


def test_pieces_add_up_to_the_whole_file(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", QUESTIONS, [f"x{n}" for n in range(len(QUESTIONS))])
    whole = read_questions(path)
    pieces = list(iter_questions(path, 7))  # does not divide 48
    assert [len(p) for p in pieces] == [7] * 6 + [6]
    assert sum((p.questions for p in pieces), []) == whole.questions
    assert sum((p.ids for p in pieces), []) == whole.ids and sum((p.metadata for p in pieces), []) == whole.metadata


def test_a_duplicate_id_in_a_later_piece_is_refused(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", QUESTIONS[:20], [f"x{n}" for n in range(19)] + ["x3"])
    with pytest.raises(DataError, match=r"line 20: duplicate id 'x3' \(first on line 4\)"):
        list(iter_questions(path, 5))


class Crashing(FakeModel):
    """The same model (fingerprint), killed while encoding its ``crash_at``-th piece."""

    def __init__(self, crash_at: int | None = None) -> None:
        super().__init__()
        self.calls, self.crash_at, self.encoded = 0, crash_at, 0

    def encode(self, texts, batch_size=512, progress=False):
        self.calls += 1
        if self.calls == self.crash_at:
            raise KeyboardInterrupt  # as a Ctrl-C or a kill would stop it
        self.encoded += len(texts)
        return super().encode(texts)


@pytest.fixture
def small_pieces(monkeypatch):
    pytest.importorskip("pymilvus")
    from qdup.search.milvus import store as milvus_store

    monkeypatch.setattr(milvus_store, "CHUNK_ROWS", 10)
    monkeypatch.setattr(milvus_store, "INSERT_ROWS", 4)


def test_a_stopped_milvus_build_continues_where_it_stopped(tmp_path, milvus_file, small_pieces):
    from milvus_server import collection_name

    path = write_jsonl(tmp_path / "q.jsonl", QUESTIONS, [f"x{n}" for n in range(len(QUESTIONS))])
    options = {"uri": milvus_file, "collection": collection_name()}
    key = "q.jsonl:48:1"

    def build(model, force=False):
        return Index.build_chunks(model, iter_questions(path, 10), tmp_path / "idx", backend="milvus",
                                  options=options, resume_key=key, force=force)

    with pytest.raises(KeyboardInterrupt):
        build(Crashing(crash_at=4))  # three pieces (30 questions) stored, the fourth not
    assert not (tmp_path / "idx").exists()
    again = Crashing()
    index = build(again, force=True)  # --force does not throw away a build of the same input
    assert again.encoded == len(QUESTIONS) - 30
    exact = Index.build(FakeModel(), [f"x{n}" for n in range(len(QUESTIONS))], QUESTIONS, tmp_path / "e",
                        backend="exact", metadata=[{"url": f"ux{n}"} for n in range(len(QUESTIONS))])
    queries = ["question number 3 about java?", "rice", "number 40"]
    assert_same_results(index.search(FakeModel(), queries, k=5), exact.search(FakeModel(), queries, k=5))
    assert len(index) == len(QUESTIONS) and index.live()[1] == exact.live()[1]
    assert index.live_metadata() == exact.live_metadata()
    with pytest.raises(DataError, match="already exists"):  # finished: not resumable any more
        Index.build_chunks(FakeModel(), iter_questions(path, 10), tmp_path / "idx2", backend="milvus",
                           options=options, resume_key=key)


def test_a_streamed_milvus_add_is_all_or_nothing(capsys, tmp_path, milvus_file, small_pieces):
    from milvus_server import collection_name

    index = Index.build(FakeModel(), None, QUESTIONS[:5], tmp_path / "idx", backend="milvus",
                        options={"uri": milvus_file, "collection": collection_name()})
    bad = write_jsonl(tmp_path / "bad.jsonl", QUESTIONS[5:30], [f"n{n}" for n in range(24)] + ["n2"])
    with pytest.raises(DataError, match="duplicate id 'n2'"):  # found in the third piece
        index.add_chunks(FakeModel(), iter_questions(bad, 10))
    assert len(Index.load(tmp_path / "idx")) == 5 and Index.load(tmp_path / "idx").live()[1] == list("12345")
    good = write_jsonl(tmp_path / "good.jsonl", QUESTIONS[5:30], [f"n{n}" for n in range(25)])
    assert index.add_chunks(FakeModel(), iter_questions(good, 10)) == [f"n{n}" for n in range(25)]
    assert len(Index.load(tmp_path / "idx")) == 30
