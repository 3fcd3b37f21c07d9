"""The forum commands end to end: edits, decisions, filters, incremental mining and a refit."""

import json

import pytest

import qdup
from helpers import TOY_PAIRS, run
from qdup.errors import DataError
from qdup.data.pairs import read_pairs
from qdup.search.decisions import read_decisions
from qdup.search.index import Index
from qdup.training.refit import held_out

THREADS = [
    {"id": "1", "question": "How do I learn Python?", "status": "open", "created": "2020-01-01", "answers": 4},
    {"id": "2", "question": "What is the best way to learn Python?", "status": "closed", "duplicate_of": "1",
     "created": "2021-01-01"},
    {"id": "3", "question": "How can I lose weight fast?", "status": "deleted", "created": "2022-01-01"},
    {"id": "4", "question": "How do I lose weight quickly?", "created": "2024-06-02", "tags": ["health"]},
    {"id": "5", "question": "What is the capital of France?", "created": "2024-06-03", "category": "travel"},
]


@pytest.fixture
def forum(capsys, tmp_path, tiny_model_dir):
    path = tmp_path / "threads.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in THREADS))
    code, _, err = run(capsys, "index", "build", path, "--model", tiny_model_dir, "--out", tmp_path / "idx", "-q")
    assert code == 0, err
    return tmp_path / "idx"


def test_search_with_where_and_min_score(capsys, forum):
    code, out, err = run(capsys, "search", forum, "How do I lose weight?", "--where", "status!=deleted", "--json")
    assert code == 0, err
    assert "3" not in [m["id"] for m in json.loads(out)] and len(json.loads(out)) == 4
    code, out, _ = run(capsys, "search", forum, "weight", "--where", "tags=health", "--where", "created>=2024-01-01",
                       "--json")
    assert [m["id"] for m in json.loads(out)] == ["4"]
    code, out, _ = run(capsys, "search", forum, "How do I learn Python?", "--min-score", "0.999", "--json")
    assert [m["id"] for m in json.loads(out)] == ["1"]
    code, out, _ = run(capsys, "search", forum, "How do I learn Python?", "--min-score", "floor", "--json")
    assert len(json.loads(out)) == 5  # the tiny model has no calibrated floor: nothing is hidden
    assert run(capsys, "search", forum, "x", "--where", "colour=red")[2] == (
        "Error: filter 'colour=red': unknown field 'colour' (filterable: status, category, tags, created, answers, "
        "duplicate_of)\n")
    assert run(capsys, "search", forum, "x", "--min-score", "lots")[2].startswith(
        "Error: Invalid value for '--min-score': expected a number or 'floor', got 'lots'")


def test_index_update(capsys, forum, tmp_path):
    edits = tmp_path / "edits.jsonl"
    edits.write_text(json.dumps({"id": "5", "question": "What is the capital of Italy?", "category": "travel"}) + "\n"
                     + json.dumps({"id": "6", "question": "Is Rome worth a visit?"}) + "\n")
    assert run(capsys, "index", "update", forum, edits) == (
        0, f"updated 1 question and added 1 in {forum} (6 in all)\n", "")
    assert Index.load(forum).get("5").question == "What is the capital of Italy?"
    no_ids = tmp_path / "no-ids.txt"
    no_ids.write_text("A question without an id?\n")
    assert run(capsys, "index", "update", forum, no_ids)[2] == (
        f"Error: {no_ids} has no ids: an update replaces questions by id\n")


def test_decide_import_and_export(capsys, forum, tmp_path):
    assert run(capsys, "decide", forum, "--query", "2", "--match", "1", "--duplicate", "--moderator", "ann") == (
        0, f"recorded: #1 is a duplicate of #2 (1 decision in {forum})\n", "")
    code, out, _ = run(capsys, "decide", forum, "--query", "Where is Paris?", "--match", "5", "--not-duplicate")
    assert out == f"recorded: #5 is not a duplicate of 'Where is Paris?' (2 decisions in {forum})\n"
    assert run(capsys, "decide", forum, "--query", "2", "--match", "77", "--duplicate")[2] == (
        "Error: id '77' is not in the index\n")
    for mistyped in ("999", "???"):  # no stored id, and no words to be a question: nothing is recorded
        assert run(capsys, "decide", forum, "--query", mistyped, "--match", "1", "--duplicate")[2] == (
            f"Error: id {mistyped!r} is not in the index (and as a question it has no words)\n")
    bulk = tmp_path / "closed.csv"
    bulk.write_text("query_id,match_id,duplicate,time\n4,3,1,2024-06-05\n")
    assert run(capsys, "decisions", "import", forum, bulk)[1] == f"recorded 1 decision (3 in {forum})\n"
    assert [d.moderator for d in read_decisions(forum)] == ["ann", None, None]
    out_file = tmp_path / "decisions.tsv"
    assert run(capsys, "decisions", "export", forum, "--out", out_file)[1] == f"wrote 3 pairs to {out_file}\n"
    exported = read_pairs(out_file)  # oldest first: the import's 2024 verdict, then today's two
    assert (exported.is_duplicate.tolist(), exported.question2[0]) == ([1, 1, 0], Index.load(forum).get("3").question)
    assert run(capsys, "decisions", "export", forum, "--out", out_file)[2] == (
        f"Error: {out_file} already exists (use --force to replace it)\n")


def test_decisions_import_refuses_the_index_own_journal(capsys, forum, tmp_path):
    # It recorded a copy of every decision the index held.
    assert run(capsys, "decide", forum, "--query", "2", "--match", "1", "--duplicate")[0] == 0
    before = (forum / "decisions.jsonl").read_bytes()
    (tmp_path / "link.jsonl").symlink_to(forum / "decisions.jsonl")
    for journal in (forum / "decisions.jsonl", forum / ".." / forum.name / "decisions.jsonl", tmp_path / "link.jsonl"):
        assert run(capsys, "decisions", "import", forum, journal) == (
            1, "", f"Error: {journal} is the index's own decisions journal: its decisions are in the index already\n")
    assert (forum / "decisions.jsonl").read_bytes() == before
    copy = tmp_path / "copy.jsonl"  # another index's journal (here a copy) imports as any file of decisions
    copy.write_bytes(before)
    assert run(capsys, "decisions", "import", forum, copy)[1] == f"recorded 1 decision (2 in {forum})\n"


@pytest.mark.parametrize("name", ["decisions.jsonl", "manifest.json", "pairs.tsv"])
def test_decisions_export_refuses_an_out_inside_the_index_folder(capsys, forum, name):
    # With --force it wrote the pairs over the index's own files: its decisions or manifest lost.
    assert run(capsys, "decide", forum, "--query", "2", "--match", "1", "--duplicate")[0] == 0
    before = {p.name: p.read_bytes() for p in forum.iterdir()}
    assert run(capsys, "decisions", "export", forum, "--out", forum / name, "--force") == (
        1, "", f"Error: --out {forum / name} is inside the index folder {forum}: write the pairs outside it\n")
    assert {p.name: p.read_bytes() for p in forum.iterdir()} == before
    assert len(read_decisions(forum)) == 1


def test_mine_new_questions_only(capsys, forum, tmp_path):
    out = tmp_path / "new.jsonl"
    code, printed, err = run(capsys, "mine", forum, "--top-k", "2", "--threshold", "-1", "--new-since", "2024-06-01",
                             "--where", "status!=deleted", "--out", out, "-q")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["4", "5"]
    assert all(m["id"] != "3" for r in records for m in r["matches"])
    ids = tmp_path / "ids.txt"
    ids.write_text("2\n")
    code, printed, err = run(capsys, "mine", forum, "--groups", "--threshold", "0.5", "--ids", ids, "--out",
                             tmp_path / "g.jsonl", "-q")
    assert code == 0, err
    assert run(capsys, "mine", forum, "--new-since", "x", "--ids", ids, "--out", tmp_path / "n.jsonl")[2] == (
        "Error: use --new-since or --ids, not both\n")


def test_mine_refuses_an_endless_file_of_ids(capsys, forum, tmp_path, monkeypatch):
    from qdup.data import textfiles

    # It was read whole, until memory ran out; now by line, as question files are.
    monkeypatch.setattr(textfiles, "MAX_LINE", 1000)
    code, _, err = run(capsys, "mine", forum, "--ids", "/dev/zero", "--out", tmp_path / "n.jsonl")
    assert (code, err) == (1, "Error: /dev/zero: line 1 is longer than 1,000 characters (expected a file of ids)\n")
    monkeypatch.setattr(textfiles, "MAX_LINES", 2)  # for streams only: a regular file ends
    (tmp_path / "ids.txt").write_text("1\n\n9\n")
    # An unknown id is named by its line in the file, blank lines counted.
    code, _, err = run(capsys, "mine", forum, "--ids", tmp_path / "ids.txt", "--out", tmp_path / "n.jsonl")
    assert (code, err) == (1, f"Error: {tmp_path / 'ids.txt'}, line 3: id '9' is not in the index\n")


UNREACHABLE = "no threshold reaches precision 0.8 on these 6 queries (best: 0.500)"


def unreachable_precision(*args, **kwargs):
    raise DataError(f"{UNREACHABLE}; try a lower precision")


def test_refit_from_the_index_decisions(capsys, tmp_path, rerank_model, toy_split, monkeypatch):
    model_dir = rerank_model.save(tmp_path / "base")
    questions = sorted({q.strip() for q in toy_split.test.question1 + toy_split.test.question2 if q.strip()})
    index = Index.build(rerank_model, None, questions, tmp_path / "idx")
    row = {q: str(n + 1) for n, q in enumerate(questions)}
    lines = ["query_id,match_id,duplicate"] + [
        f"{row[a.strip()]},{row[b.strip()]},{label}" for a, b, label in zip(
            toy_split.test.question1, toy_split.test.question2, toy_split.test.is_duplicate)
        if a.strip() and b.strip() and a.strip() != b.strip()]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    assert run(capsys, "decisions", "import", index.path, tmp_path / "d.csv")[0] == 0
    code, out, err = run(capsys, "refit", model_dir, TOY_PAIRS, "--decisions", index.path, "--out",
                         tmp_path / "new", "--cache", tmp_path / "cache", "-q")
    assert code == 0, err
    assert out.startswith(f"saved {tmp_path / 'new'}: learnt from ") and "held out; threshold" in out
    # The index built with the base model serves the refit one (same vectors and lexical rows).
    code, out, err = run(capsys, "search", index.path, questions[0], "--model", tmp_path / "new", "-k", "3", "--json")
    assert code == 0 and json.loads(out)[0]["id"] == "1"  # a stored question finds itself first
    assert run(capsys, "refit", model_dir, TOY_PAIRS, "--decisions", index.path, "--out", tmp_path / "new")[2] == (
        f"Error: {tmp_path / 'new'} already exists (use --force to replace it)\n")
    # No search threshold reaches the precision (few validation queries): saved without one, said so.
    monkeypatch.setattr("qdup.evaluation.search_calibration.calibrate_on_pairs", unreachable_precision)
    code, out, err = run(capsys, "refit", model_dir, TOY_PAIRS, "--decisions", index.path, "--out",
                         tmp_path / "new", "--cache", tmp_path / "cache", "-q", "--force")
    assert code == 0, err
    assert out.endswith(f"held out; threshold {qdup.load(tmp_path / 'new').threshold:.4f}, no search threshold "
                        f"({UNREACHABLE}; `qdup calibrate-search --precision P` stores one)\n")


@pytest.mark.parametrize("force", [False, True])
def test_refit_refuses_a_cache_inside_its_out_folder(capsys, tmp_path, rerank_model, monkeypatch, force):
    # The model's save then found --out made ("already exists", the refit lost), or with --force
    # replaced the folder, the cache with it: every refit trained its encoders again.
    model_dir = rerank_model.save(tmp_path / "base")
    monkeypatch.setattr("qdup.training.refit.train_encoder", lambda *a, **k: pytest.fail("trained before the check"))
    out = model_dir if force else tmp_path / "new"
    code, _, err = run(capsys, "refit", model_dir, TOY_PAIRS, "--decisions", TOY_PAIRS, "--out", out,
                       "--cache", out / "cache", *(["--force"] if force else []))
    assert (code, err) == (1, f"Error: --cache {out / 'cache'} is inside --out {out}, which the model replaces: "
                              "keep the cache elsewhere\n")
    assert not (out / "cache").exists()


def test_refit_names_decisions_it_cannot_learn_from_before_the_model_loads(capsys, tmp_path, forum, monkeypatch):
    # A folder that is not an index (a typo, a model folder) and an index without decisions both
    # said "no decisions to learn from (0 held out for the thresholds)", naming neither.
    monkeypatch.setattr("qdup.model.load", lambda *a, **k: pytest.fail("loaded the model before the check"))
    (tmp_path / "other").mkdir()
    header = tmp_path / "header.tsv"
    header.write_text("question1\tquestion2\tis_duplicate\n")
    for decisions, message in [(tmp_path / "other", f"{tmp_path / 'other'} is not a qdup index (no manifest.json)"),
                               (forum, f"{forum}: no decisions to learn from"),
                               (header, f"{header}: no decisions to learn from")]:
        assert run(capsys, "refit", TOY_PAIRS, "--decisions", decisions, "--out", tmp_path / "m") == (
            1, "", f"Error: {message}\n")


@pytest.mark.parametrize("queries, holdout, kept", [(3, [], "all 3"), (1, ["--holdout", "0.5"], "the only one")])
def test_refit_names_decisions_all_held_out_and_how_to_go_on(capsys, tmp_path, monkeypatch, queries, holdout, kept):
    # It said "no decisions to learn from (3 held out for the thresholds)", once the model had
    # loaded, naming neither the decisions nor what to do.
    monkeypatch.setattr("qdup.model.load", lambda *a, **k: pytest.fail("loaded the model before the check"))
    asked = [q for q in (f"How do I learn topic {n}?" for n in range(100)) if held_out(q, 0.2)][:queries]
    decisions = tmp_path / "decisions.tsv"
    decisions.write_text("question1\tquestion2\tis_duplicate\n" + "".join(f"{q}\tWhat is topic {n}?\t1\n"
                                                                         for n, q in enumerate(asked)))
    assert run(capsys, "refit", TOY_PAIRS, "--decisions", decisions, "--out", tmp_path / "m", *holdout) == (
        1, "", f"Error: {decisions}: no decisions to learn from: --holdout {holdout[-1] if holdout else '0.2'} keeps "
               f"{kept} for the thresholds (more decisions, or a lower --holdout)\n")


def test_refit_names_pairs_the_model_was_not_trained_on(capsys, tmp_path, rerank_model, monkeypatch):
    # It said "these pairs are not the ones the model was trained on (its reference split differs:
    # {...} vs {...})": two raw dicts, and no file named.
    model_dir = rerank_model.save(tmp_path / "base")
    monkeypatch.setattr("qdup.training.refit.train_encoder", lambda *a, **k: pytest.fail("trained before the check"))
    other = tmp_path / "other.tsv"
    other.write_text("".join(TOY_PAIRS.read_text().splitlines(keepends=True)[:601]))  # the header, 600 pairs
    assert run(capsys, "refit", model_dir, other, "--decisions", TOY_PAIRS, "--out", tmp_path / "m") == (
        1, "", f"Error: {other}: these pairs are not the ones the model was trained on (test pairs: 160 expected, "
               "40 found): refit on the pairs file the model was trained on\n")


def test_refit_refuses_a_cosine_model(capsys, tmp_path, tiny_model_dir):
    assert run(capsys, "refit", tiny_model_dir, TOY_PAIRS, "--decisions", TOY_PAIRS, "--out", tmp_path / "m")[2] == (
        "Error: refit needs a model whose scorer learns from pairs (recipe default, scorer rerank)\n")


def test_index_update_removes_a_field_given_as_null(capsys, tmp_path, tiny_model_dir):
    threads = tmp_path / "threads.jsonl"
    threads.write_text(json.dumps({"id": "a", "question": "How do I learn Python?", "url": "u/a", "status": "closed",
                                   "duplicate_of": "b"}) + "\n" + json.dumps({"id": "b", "question": "Python?"}) + "\n")
    assert run(capsys, "index", "build", threads, "--model", tiny_model_dir, "--out", tmp_path / "idx", "-q")[0] == 0
    reopened = tmp_path / "reopened.jsonl"
    reopened.write_text(json.dumps({"id": "a", "question": "How do I learn Python?", "status": "open",
                                    "duplicate_of": None}) + "\n")
    assert run(capsys, "index", "update", tmp_path / "idx", reopened)[0] == 0
    assert Index.load(tmp_path / "idx").get("a").metadata == {"url": "u/a", "status": "open"}
