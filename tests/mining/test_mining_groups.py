"""Top-k mining and groups: no chaining, a canonical question per group, sizes capped."""

import json
from dataclasses import replace

import numpy as np
import pytest

from fake_model import FakeModel, VectorModel
from qdup.cli import main
from qdup.search.index import Index
from qdup.mining.groups import component_sizes, group_records, neighbours, top_k_records


def chain(n=6, step=0.5):
    # q0..q(n-1) on an arc: each is close to its neighbours only (a chain), plus one far point.
    angles = np.arange(n) * step
    v = np.stack([np.cos(angles), np.sin(angles), np.zeros(n)], 1)
    return np.vstack([v, [[0, 0, 1]]]).astype(np.float32)


def test_chain_is_one_component_but_groups_do_not_chain(tmp_path):
    model = VectorModel(chain())
    index = Index.build(model, None, [f"q{n}" for n in range(7)], tmp_path / "idx")
    found = neighbours(index, k=5, threshold=0.8)  # cos(0.5) = 0.88 > 0.8 > cos(1.0) = 0.54
    assert [sorted(r.tolist()) for r in found.rows] == [[1], [0, 2], [1, 3], [2, 4], [3, 5], [4], []]
    assert component_sizes(found).tolist() == [6]  # chaining: q0 ~ q5 although cos = -0.8
    groups = group_records(found)
    for g in groups:
        canonical = int(g["canonical"]["question"][1:])
        assert all(abs(int(m["question"][1:]) - canonical) == 1 for m in g["members"])  # all direct matches
    assert sorted(q for g in groups for q in [g["canonical"]["id"]] + [m["id"] for m in g["members"]]) == \
        sorted(str(n) for n in range(1, 6))  # at most one group each; q5's only match q4 is taken
    # q1 (most matches; ties: stored first) takes q0, q2; then q3 takes q4
    assert [(g["canonical"]["question"], g["size"]) for g in groups] == [("q1", 3), ("q3", 2)]


def test_group_size_is_capped_by_k(tmp_path):
    # A star: q0 at the centre, q1..q4 around it, all close to q0 and to each other.
    v = np.array([[1, 0, 0]] + [[0.95, 0.3 * np.cos(a), 0.3 * np.sin(a)] for a in (0, 1.5, 3, 4.5)], np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    index = Index.build(VectorModel(v), None, [f"q{n}" for n in range(5)], tmp_path / "idx")
    assert [g["size"] for g in group_records(neighbours(index, k=4, threshold=0.5))] == [5]
    capped = group_records(neighbours(index, k=2, threshold=0.5))
    assert all(g["size"] <= 3 for g in capped) and capped[0]["canonical"]["question"] == "q0"


def test_top_k_records(tmp_path):
    model = FakeModel()
    index = Index.build(model, ["a", "b", "c"], ["How do I learn Python?", "How do I learn Python??", "Rice?"],
                        tmp_path / "idx", metadata=[{}, {"url": "https://f/b"}, {}])
    records = top_k_records(neighbours(index, k=1, threshold=0.5))
    assert [(r["id"], [m["id"] for m in r["matches"]]) for r in records] == [("a", ["b"]), ("b", ["a"])]
    assert records[0]["matches"][0]["metadata"] == {"url": "https://f/b"} and "metadata" not in records[0]
    assert records[1]["metadata"] == {"url": "https://f/b"}
    assert group_records(neighbours(index, k=1, threshold=0.5))[0]["members"][0] == {
        "id": "b", "question": "How do I learn Python??", "score": records[0]["matches"][0]["score"],
        "metadata": {"url": "https://f/b"}}
    expected = float(model.encode(["How do I learn Python?"])[0] @ model.encode(["How do I learn Python??"])[0])
    assert records[0]["matches"][0]["score"] == pytest.approx(expected, abs=1e-5)


def test_cli_mine_groups_and_top_k(tmp_path, tiny_model, tiny_model_dir, capsys):
    questions = ["How do I learn Python?", "How can I learn Python?", "How do I cook rice?", "How can I cook rice?"]
    Index.build(tiny_model, None, questions, tmp_path / "idx", model_path=str(tiny_model_dir))
    assert main(["mine", str(tmp_path / "idx"), "--groups", "-t", "0.5", "--out", str(tmp_path / "g.jsonl"), "-q"]) == 0
    groups = [json.loads(line) for line in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert all(g["size"] == len(g["members"]) + 1 for g in groups)
    assert main(["mine", str(tmp_path / "idx"), "--top-k", "1", "-t", "-1", "--out", str(tmp_path / "t.jsonl"), "-q"]) == 0
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 4
    covered = sum(g["size"] for g in groups)
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {len(groups)} groups covering {covered} questions (threshold 0.5000) to {tmp_path / 'g.jsonl'}",
        f"wrote top matches of 4 questions (threshold -1.0000) to {tmp_path / 't.jsonl'}"]
    assert main(["mine", str(tmp_path / "idx"), "--top-k", "1", "--groups", "--out", str(tmp_path / "x.jsonl")]) == 1
    assert main(["mine", str(tmp_path / "idx"), "--top-k", "1", "--out", str(tmp_path / "x.csv")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["Error: use --top-k or --groups, not both", "Error: --out must end in .jsonl (or .csv for pairs)"]


def test_matches_turned_down_are_looked_for_deeper_but_not_through_the_whole_corpus(tmp_path, monkeypatch):
    """A threshold of 0 puts every candidate above it; a pair scorer that turns them all down
    used to double the depth until it passed the corpus (quadratic re-ranking)."""
    from qdup.mining import groups

    model = FakeModel()
    index = Index.build(model, None, [f"Question {n} about topic {n % 7}?" for n in range(300)], tmp_path / "idx")
    asked, search = [], index.search_vectors

    def turned_down(vectors, k, threshold=None, **options):
        asked.append(k)
        return [replace(r, agree=[False] * len(r.ids)) for r in search(vectors, k, threshold, **options)]

    monkeypatch.setattr(index, "search_vectors", turned_down)
    found = neighbours(index, k=1, threshold=0.0)
    assert all(len(r) == 0 for r in found.rows)  # every match turned down: none kept
    assert max(asked) == 2 * groups.MAX_DEPTH_FACTOR and min(asked) == 2  # k + 1 first, then deeper, bounded
