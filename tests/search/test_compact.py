"""``Index.compact`` and ``qdup index compact``: one segment, removed rows gone, the postings
made with today's cut, the same answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import assert_same_results, run
from qdup import Index
from qdup.errors import DataError, UnknownIdError
from qdup.search import postings
from qdup.search.local.files import LEXICAL
from qdup.search.postings import RarePostings

QUESTIONS = [
    "How do I renew my library card?", "Can I renew a library card online?", "Where do I return borrowed books?",
    "How late is the library open on Sundays?", "Does the library lend e-readers?", "How many books can I borrow?",
    "Can I borrow books from another branch?", "What is the fine for a late book?", "How do I reserve a study room?",
    "Is there free wifi in the library?", "How do I print from my laptop at the library?", "Can children get a card?",
]
ASKED = ["how to renew my library card", "what are the library's sunday hours", "fine for returning a book late"]


def segments(path) -> list[dict]:
    return json.loads((path / "manifest.json").read_text())["segments"]


def stored_postings(path) -> dict:
    [entry] = segments(path)
    with np.load(path / f"{entry['name']}{LEXICAL}") as arrays:
        return {name: arrays[name] for name in postings.ARRAYS}


@pytest.mark.parametrize("backend", ["exact", "hnsw"])
def test_compact_leaves_one_segment_without_the_removed_rows_and_the_same_answers(rerank_model, tmp_path, backend):
    path = tmp_path / "idx"
    index = Index.build(rerank_model, None, QUESTIONS[:6], path, backend=backend)
    index.add(rerank_model, QUESTIONS[6:9])
    index.add(rerank_model, QUESTIONS[9:])
    index.remove(["2", "8"])
    assert len(segments(path)) == 3
    before = index.search(rerank_model, ASKED, k=6)

    index.compact()
    [entry] = segments(path)
    assert (entry["rows"], entry["deleted"], entry["ann"]) == (len(QUESTIONS) - 2, [], backend == "hnsw")
    assert sorted(p.name.split(".")[0] for p in path.glob("seg-*")) == [entry["name"]] * len(entry["files"])
    for searched in (index, Index.load(path)):
        assert len(searched) == len(QUESTIONS) - 2
        assert_same_results(searched.search(rerank_model, ASKED, k=6), before)
        assert searched.get("9").question == QUESTIONS[8]
        with pytest.raises(UnknownIdError):
            searched.get("2")
    assert index.add(rerank_model, ["Can I donate old books?"]) == ["13"]  # ids go on from the last one


def test_compact_makes_the_postings_of_todays_cut_where_loading_keeps_those_written(rerank_model, tmp_path,
                                                                                    monkeypatch):
    path = tmp_path / "idx"
    Index.build(rerank_model, None, QUESTIONS, path, backend="exact")
    assert stored_postings(path)["postings_max_rows"].tolist() == [postings.MAX_POSTINGS]
    monkeypatch.setattr(postings, "MAX_POSTINGS", 2)  # a later version's cut: n-grams of at most 2 rows

    index = Index.load(path)
    [segment] = index._state[1].segments
    assert postings.rare_postings(segment.lexical).max_rows == 1000  # used as written, not made again
    assert index.compact()
    [segment] = index._state[1].segments  # the compacting process searches with them too
    assert postings.rare_postings(segment.lexical).max_rows == 2
    expected = RarePostings.of(rerank_model.scorer.lexical.rows(QUESTIONS).chars, 2).to_arrays()
    got = stored_postings(path)
    for name in ("postings_columns", "postings_lengths", "postings_rows", "postings_max_rows"):
        assert got[name].tolist() == expected[name].tolist(), name
    np.testing.assert_allclose(got["postings_weights"], expected["postings_weights"], rtol=1e-6)
    [segment] = Index.load(path)._state[1].segments
    assert postings.rare_postings(segment.lexical).max_rows == 2


def test_the_command_compacts_and_says_so(rerank_model, tmp_path, capsys):
    path = tmp_path / "idx"
    index = Index.build(rerank_model, None, QUESTIONS, path, backend="exact")
    index.remove(["1"])
    code, out, err = run(capsys, "index", "compact", path)
    assert (code, err) == (0, f"rewriting {len(QUESTIONS) - 1} questions as one segment\n")
    assert out == f"{path}: compacted, {len(QUESTIONS) - 1} questions in one segment\n"
    [entry] = segments(path)
    assert entry["deleted"] == [] and entry["rows"] == len(QUESTIONS) - 1
    code, out, err = run(capsys, "index", "compact", path)
    assert (code, out, err) == (0, f"{path}: already compact, left as it was, {len(QUESTIONS) - 1} questions "
                                   "in one segment\n", "")


@pytest.mark.parametrize("backend", ["exact", "hnsw"])
def test_a_compact_index_is_left_as_it_was(rerank_model, tmp_path, backend):
    path = tmp_path / "idx"
    Index.build(rerank_model, None, QUESTIONS, path, backend=backend)
    files = {p.name: p.read_bytes() for p in path.glob("seg-*")}
    manifest = json.loads((path / "manifest.json").read_text())
    assert not Index.load(path).compact()
    assert {p.name: p.read_bytes() for p in path.glob("seg-*")} == files
    assert json.loads((path / "manifest.json").read_text()) == manifest


@pytest.mark.parametrize("backend", ["exact", "hnsw"])
def test_compact_keeps_an_index_without_lexical_rows_or_without_questions(tiny_model, tmp_path, backend):
    path = tmp_path / "idx"
    index = Index.build(tiny_model, None, QUESTIONS, path, backend=backend)  # a cosine scorer: no words stored
    index.add(tiny_model, ["Can I donate old books?"])
    before = index.search(tiny_model, ASKED, k=4)
    assert index.compact()
    [entry] = segments(path)
    assert (entry["lexical"], entry["ann"], entry["rows"]) == (False, backend == "hnsw", len(QUESTIONS) + 1)
    assert_same_results(Index.load(path).search(tiny_model, ASKED, k=4), before)

    index.remove([str(n) for n in range(1, len(QUESTIONS) + 2)])
    index.compact()
    assert segments(path) == [] and len(Index.load(path)) == 0
    assert index.search(tiny_model, ASKED, k=4)[0].ids == []


def test_compacting_a_milvus_index_is_a_one_line_refusal_that_changes_nothing(rerank_model, tmp_path, milvus_file,
                                                                           capsys):
    from milvus_server import collection_name

    path = tmp_path / "idx"
    Index.build(rerank_model, None, QUESTIONS, path, backend="milvus",
                options={"uri": milvus_file, "collection": collection_name()})
    manifest = (path / "manifest.json").read_text()
    with pytest.raises(DataError, match="Milvus merges its own segments"):
        Index.load(path).compact()
    code, out, err = run(capsys, "index", "compact", path)
    assert code == 1 and out == "" and err.count("\n") == 1 and "Milvus merges its own segments" in err
    assert (path / "manifest.json").read_text() == manifest
