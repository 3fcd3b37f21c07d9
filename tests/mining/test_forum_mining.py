"""Mining a forum: filters, only what is new, and the canonical question chosen by the forum's fields."""

import numpy as np
import pytest

from fake_model import FakeModel, VectorModel
from qdup.errors import DataError, UnknownIdError
from qdup.mining.groups import group_records, neighbours
from qdup.mining.incremental import created_since, read_ids, symmetric
from qdup.mining.output import mine_to_file
from qdup.search.index import Index


def cluster():
    """q0..q3 all close to each other (one topic), q4 far away."""
    v = np.array([[1, 0, 0], [0.98, 0.2, 0], [0.97, 0, 0.24], [0.96, 0.15, 0.2], [0, 0, 1]], np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def build(tmp_path, metadata):
    model = VectorModel(cluster())
    return model, Index.build(model, None, [f"q{n}" for n in range(5)], tmp_path / "idx", metadata=metadata)


def test_the_oldest_then_most_answered_question_is_canonical(tmp_path):
    metadata = [{"created": "2024-03-01", "answers": 9}, {"created": "2022-01-01", "answers": 0},
                {"created": "2022-01-01", "answers": 5}, {"created": "2021-05-01", "duplicate_of": "2"}, {}]
    _, index = build(tmp_path, metadata)
    [group] = group_records(neighbours(index, k=4, threshold=0.9))
    # q3 is the oldest, but closed as a duplicate: it never leads. q1 and q2 are as old; q2 has more answers.
    assert group["canonical"]["question"] == "q2"
    assert sorted(m["question"] for m in group["members"]) == ["q0", "q1", "q3"]


def test_without_forum_fields_the_most_matched_question_leads(tmp_path):
    _, index = build(tmp_path, None)
    [group] = group_records(neighbours(index, k=4, threshold=0.9))
    assert group["canonical"]["question"] == "q0"  # as many matches as the others: stored first


def test_mining_only_the_questions_a_filter_passes(tmp_path):
    metadata = [{}, {"status": "deleted"}, {}, {"status": "deleted"}, {}]
    _, index = build(tmp_path, metadata)
    found = neighbours(index, k=4, threshold=0.9, where="status!=deleted")
    assert found.ids == ["1", "3", "5"]
    assert [sorted(found.ids[r] for r in rows) for rows in found.rows] == [["3"], ["1"], []]


def test_incremental_mining_searches_only_new_questions(tmp_path):
    metadata = [{"created": "2020-01-01"}, {"created": "2020-02-01"}, {"created": "2024-06-01"},
                {"created": "2024-06-02T08:00:00+02:00"}, {}]
    model, index = build(tmp_path, metadata)
    new = created_since(index, "2024-06-01")
    assert new == ["3", "4"]
    found = neighbours(index, k=4, threshold=0.9, queries=new)
    assert [len(r) for r in found.rows] == [0, 0, 3, 3, 0]  # only new questions were searched...
    both = symmetric(found, k=4)
    assert sorted(found.ids[r] for r in both.rows[0]) == ["3", "4"]  # ...but old ones are seen as their matches
    [group] = group_records(both)
    assert group["canonical"]["id"] == "1"  # the oldest: an archive question
    assert sorted(m["id"] for m in group["members"]) == ["3", "4"]  # old pairs (1, 2) are not mined again
    out = tmp_path / "new.jsonl"
    mined = mine_to_file(index, out, threshold=0.9, groups=True, new=new, model=model)
    assert mined.kind == "groups" and mined.count == 1


def test_incremental_pairs_and_top_k(tmp_path):
    model, index = build(tmp_path, None)
    ids = tmp_path / "ids.txt"
    ids.write_text("5\n\n2\n")
    new = read_ids(index, ids)
    assert new == ["5", "2"]
    top = mine_to_file(index, tmp_path / "top.jsonl", threshold=0.9, top_k=2, new=new, model=model)
    assert top.count == 1  # q1 (id 2) has matches, q4 (id 5) has none
    pairs = mine_to_file(index, tmp_path / "pairs.csv", threshold=0.9, new=new, model=model)
    rows = (tmp_path / "pairs.csv").read_text().splitlines()[1:]
    assert pairs.count == 3 and all("2" in row.split(",")[:2] for row in rows)
    ids.write_text("2\n9\n")
    with pytest.raises(UnknownIdError, match="line 2: id '9' is not in the index"):
        read_ids(index, ids)
    with pytest.raises(DataError, match="--new-since must be an ISO 8601 date"):
        created_since(index, "last week")


def test_new_since_a_date_needs_created_times(tmp_path):
    undated = Index.build(FakeModel(), None, ["How do I learn Python?", "What is an LSTM?"], tmp_path / "idx")
    with pytest.raises(DataError, match="no stored question has a 'created' time"):
        created_since(undated, "2024-06-01")  # not an empty answer that looks like "nothing new"
