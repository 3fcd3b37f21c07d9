"""Editing questions: an update replaces the text and patches the metadata by id, atomically, on every backend."""

import signal

import pytest

from fake_model import FakeModel
from helpers import start_write_paused_before_commit
from qdup.errors import DataError, QuestionError
from qdup.search.index import Index

QUESTIONS = ["How do I learn Python?", "What is an LSTM?", "How do I cook rice?"]


def test_update_replaces_text_and_metadata(tmp_path, backend):
    name, options = backend
    model = FakeModel()
    index = Index.build(model, ["a", "b", "c"], QUESTIONS, tmp_path / "idx", backend=name, options=options,
                        metadata=[{"title": "Python"}, {}, {}])
    assert index.update(model, ["a", "d"], ["How do I learn Rust?", "Brand new question?"],
                        [{"title": "Rust", "status": "closed"}, {}]) == [True, False]
    assert len(index) == 4
    assert index.get("a").question == "How do I learn Rust?" and index.get("a").metadata == {
        "title": "Rust", "status": "closed"}
    [found] = index.search(model, ["learn Rust"], k=1)
    assert found.ids == ["a"] and found.questions == ["How do I learn Rust?"]
    [gone] = index.search(model, ["How do I learn Python?"], k=4)
    assert "How do I learn Python?" not in gone.questions
    reopened = Index.load(tmp_path / "idx")
    assert sorted(reopened.live()[1]) == ["a", "b", "c", "d"]


def test_an_update_patches_metadata_and_never_drops_what_it_leaves_out(tmp_path, backend):
    name, options = backend
    model = FakeModel()
    index = Index.build(model, ["a", "b", "c"], QUESTIONS, tmp_path / "idx", backend=name, options=options,
                        metadata=[{"url": "u/a", "status": "deleted"}, {"url": "u/b", "created": "2024-06-02"},
                                  {"url": "u/c", "status": "closed", "duplicate_of": "b"}])
    index.update(model, ["a"], ["How do I learn Python? (edited)"])  # the text alone: a deleted thread stays so
    index.update(model, ["b", "c"], [QUESTIONS[1], QUESTIONS[2]],
                 [{"status": "closed", "duplicate_of": "c"}, {"status": "open", "duplicate_of": None}])
    assert [index.get(i).metadata for i in "abc"] == [
        {"url": "u/a", "status": "deleted"},
        {"url": "u/b", "created": "2024-06-02T00:00:00Z", "status": "closed", "duplicate_of": "c"},
        {"url": "u/c", "status": "open"}]  # null removed the link of a reopened thread
    [shown] = index.search(model, ["learn Python"], k=3, where="status!=deleted")
    assert "a" not in shown.ids


def test_an_update_of_metadata_the_bounds_now_refuse_replaces_what_a_reader_saw(tmp_path):
    model = FakeModel()
    index = Index.build(model, ["a", "b"], QUESTIONS[:2], tmp_path / "idx")
    # As a row stored before the bounds may hold (a lone surrogate): readers see {} for it.
    object.__setattr__(index._state[1].segments[0], "metadata", [{"title": "\udc80"}, {}])
    assert index.get("a").metadata == {}
    index.update(model, ["a", "b"], QUESTIONS[:2], iter([{"status": "closed"}, {"url": None}]))  # an iterator too
    assert index.get("a").metadata == {"status": "closed"} and index.get("b").metadata == {}


def test_a_bad_update_changes_nothing(tmp_path):
    model = FakeModel()
    index = Index.build(model, ["a", "b"], QUESTIONS[:2], tmp_path / "idx")
    with pytest.raises(QuestionError):
        index.update(model, ["a", "b"], ["Fine question?", "???"])
    with pytest.raises(DataError, match="duplicate id 'a'"):
        index.update(model, ["a", "a"], ["One?", "Two?"])
    with pytest.raises(DataError, match="0 ids for 1 questions"):
        index.update(model, None, ["No id?"])
    assert Index.load(tmp_path / "idx").live()[2] == QUESTIONS[:2]


def test_an_update_killed_before_its_commit_leaves_the_old_question(tmp_path):
    model = FakeModel()
    Index.build(model, ["a", "b"], QUESTIONS[:2], tmp_path / "idx", metadata=[{"title": "old"}, {}])
    writer = start_write_paused_before_commit(
        tmp_path / "idx", 'index.update(FakeModel(), ["a"], ["Edited question?"], [{"title": "edited"}])')
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=30) != 0
    index = Index.load(tmp_path / "idx")
    assert index.get("a").question == QUESTIONS[0] and index.get("a").metadata == {"title": "old"}
    assert index.live()[1] == ["a", "b"]
    index.update(model, ["a"], ["Edited question?"])  # the next write goes through
    assert Index.load(tmp_path / "idx").get("a").question == "Edited question?"
