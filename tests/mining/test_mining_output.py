"""Mining into a file (what `qdup mine` writes): pairs, top matches, groups, and what was written."""

import csv
import json

import pytest

import qdup
from qdup.errors import OutputExistsError
from qdup.mining.output import DEFAULT_MINE_THRESHOLD, Mined, mine_to_file
from qdup.util.atomic import check_new_file
from qdup.search.index import Index

QUESTIONS = ["How do I learn Python?", "How can I learn Python?", "How do I cook rice?", "How can I cook rice?"]


@pytest.fixture
def index(tmp_path, tiny_model, tiny_model_dir):
    return Index.build(tiny_model, None, QUESTIONS, tmp_path / "idx", model_path=str(tiny_model_dir))


def test_each_kind_reports_what_it_wrote(tmp_path, index):
    groups = mine_to_file(index, tmp_path / "g.jsonl", 0.5, groups=True)
    records = [json.loads(line) for line in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert groups == Mined("groups", len(records), 0.5, sum(r["size"] for r in records))
    assert mine_to_file(index, tmp_path / "t.jsonl", -1.0, top_k=1) == Mined("top_k", 4, -1.0)
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 4
    assert mine_to_file(index, tmp_path / "p.csv", -1.0) == Mined("pairs", 6, -1.0)  # every pair of 4
    rows = list(csv.reader(open(tmp_path / "p.csv", newline="")))
    assert rows[0] == ["id1", "id2", "score", "question1", "question2"] and len(rows) == 7
    assert mine_to_file(index, tmp_path / "p.jsonl", -1.0).count == 6
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 6


def test_default_threshold_and_existing_output(tmp_path, index, tiny_model):
    assert tiny_model.search_threshold is None  # not calibrated: the mining default applies
    assert mine_to_file(index, tmp_path / "p.jsonl").threshold == DEFAULT_MINE_THRESHOLD
    with pytest.raises(OutputExistsError, match="already exists"):
        check_new_file(tmp_path / "p.jsonl", force=False)
    check_new_file(tmp_path / "p.jsonl", force=True)


def test_a_stored_search_threshold_of_zero_is_the_default(tmp_path, index, tiny_model_dir):
    # A calibrated 0.0 was taken for none stored: the mining default (0.9) applied instead.
    model = qdup.load(tiny_model_dir)
    model.info["search_threshold"] = {"threshold": 0.0}
    assert model.search_threshold == 0.0
    mined = mine_to_file(index, tmp_path / "p.jsonl", model=model)
    assert mined == mine_to_file(index, tmp_path / "zero.jsonl", 0.0, model=model) and mined.threshold == 0.0
    assert mined.count > mine_to_file(index, tmp_path / "high.jsonl", DEFAULT_MINE_THRESHOLD, model=model).count
