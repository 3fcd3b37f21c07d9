"""The search commands end to end with a real (tiny) trained model."""

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import qdup
from helpers import free_port, run
from qdup.search.index import Index

QUESTIONS = [
    ("q1", "How do I learn Python?"),
    ("q2", "What is the best way to learn Python?"),
    ("q3", "How can I lose weight fast?"),
    ("q4", "How do I lose weight quickly?"),
    ("q5", "What is the capital of France?"),
]


@pytest.fixture
def questions_csv(tmp_path):
    path = tmp_path / "questions.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "question"])
        writer.writerows(QUESTIONS)
    return path


@pytest.fixture
def built(capsys, tmp_path, questions_csv, tiny_model_dir):
    code, out, err = run(capsys, "index", "build", questions_csv, "--model", tiny_model_dir, "--out", tmp_path / "idx", "-q")
    assert (code, out, err) == (0, f"indexed 5 questions into {tmp_path / 'idx'}\n", "")
    return tmp_path / "idx"


def test_search_ranks_like_the_model(capsys, built, tiny_model):
    # No --model: the index remembers the model that built it.
    code, out, err = run(capsys, "search", built, "How do I learn Python?", "-k", "3", "--json")
    assert code == 0, err
    matches = json.loads(out)
    vectors = tiny_model.encode([q for _, q in QUESTIONS])
    scores = vectors @ tiny_model.encode(["How do I learn Python?"])[0]
    expected = np.argsort(-scores, kind="stable")[:3]
    assert [m["id"] for m in matches] == [QUESTIONS[i][0] for i in expected]
    assert matches[0]["id"] == "q1" and matches[0]["score"] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose([m["score"] for m in matches], scores[expected], rtol=1e-5)

    code, out, _ = run(capsys, "search", built, "How do I learn Python?", "-k", "2")
    assert code == 0 and out.startswith("1.0000  q1  How do I learn Python?  (likely duplicate)\n")
    assert out.count("likely duplicate") == 1  # as the service flags them
    code, out, _ = run(capsys, "search", built, "How do I learn Python?", "--threshold", "1")
    assert (code, out) == (0, "no matches\n")


def test_search_many_queries_prints_one_json_line_each_in_order(capsys, tmp_path, built):
    queries = tmp_path / "queries.txt"
    queries.write_text("How do I lose weight quickly?\nHow do I learn Python?\nCapital of France?\n")
    code, out, err = run(capsys, "search", built, "--queries", queries, "-k", "2")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["question"] for line in lines] == queries.read_text().splitlines()
    for line in lines:  # each line equals the single-question search
        code, single, _ = run(capsys, "search", built, line["question"], "-k", "2", "--json")
        assert [m["id"] for m in line["matches"]] == [m["id"] for m in json.loads(single)]
        np.testing.assert_allclose([m["score"] for m in line["matches"]],
                                   [m["score"] for m in json.loads(single)], rtol=1e-5)
    assert lines[1]["matches"][0]["id"] == "q1"
    assert all("id" not in line for line in lines)  # the file has none
    # The flags are the service's: with no calibrated search threshold, at most the top
    # match, above the pair threshold.
    assert lines[1]["matches"][0]["likely_duplicate"] and not lines[1]["matches"][1]["likely_duplicate"]
    with_ids = tmp_path / "queries.jsonl"
    with_ids.write_text('{"id": "t7", "question": "How do I learn Python?"}\n{"id": "t9", "question": "Rice?"}\n')
    code, out, err = run(capsys, "search", built, "--queries", with_ids, "-k", "1")
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == ["t7", "t9"], err
    code, _, err = run(capsys, "search", built)
    assert (code, err) == (1, "Error: give one QUESTION or --queries FILE\n")
    code, _, err = run(capsys, "search", built, "x", "--queries", queries)
    assert (code, err) == (1, "Error: give one QUESTION or --queries FILE\n")


def test_add_remove_mine(capsys, tmp_path, built):
    more = tmp_path / "more.txt"
    more.write_text("How do I learn Python?\nWhat is a Siamese network?\n")
    assert run(capsys, "index", "add", built, more)[1] == f"added 2 questions to {built} (7 in all)\n"
    assert run(capsys, "index", "remove", built, "q5", "q3", "q5")[1] == f"removed 2 questions from {built} (5 left)\n"
    # The index holds the user's ids: the ids qdup makes up can never be one of theirs.
    assert Index.load(built).live()[1] == ["q1", "q2", "q4", "qdup-1", "qdup-2"]
    one = tmp_path / "one.txt"
    one.write_text("What is a triplet loss?\n")
    assert run(capsys, "index", "add", built, one)[1] == f"added 1 question to {built} (6 in all)\n"
    assert run(capsys, "index", "remove", built, "qdup-3")[1] == f"removed 1 question from {built} (5 left)\n"

    code, out, err = run(capsys, "mine", built, "--threshold", "0.99", "--out", tmp_path / "pairs.csv")
    assert (code, out) == (0, f"wrote 1 pair (threshold 0.9900) to {tmp_path / 'pairs.csv'}\n"), err
    rows = list(csv.reader(open(tmp_path / "pairs.csv", newline="")))
    assert rows[0] == ["id1", "id2", "score", "question1", "question2"]
    assert rows[1][:2] == ["q1", "qdup-1"] and rows[1][3:] == ["How do I learn Python?"] * 2


@pytest.mark.parametrize("args, message", [
    (["index", "build", "{tmp}/none.csv", "--model", "{model}", "--out", "{tmp}/x"], "Error: {tmp}/none.csv: no such file\n"),
    (["index", "build", "{csv}", "--model", "{tmp}/nomodel", "--out", "{tmp}/x"], "Error: {tmp}/nomodel: no such model folder\n"),
    (["index", "build", "{csv}", "--model", "{model}", "--out", "{idx}"], "Error: {idx} already exists (use --force to replace it)\n"),
    (["index", "remove", "{idx}", "q1", "zz"], "Error: id 'zz' is not in the index\n"),
    (["index", "add", "{idx}", "{csv}"], "Error: id 'q1' is already in the index\n"),
    (["index", "add", "{tmp}/noindex", "{csv}"], "Error: {tmp}/noindex: no such index folder\n"),
    (["search", "{idx}", "a?", "-k", "0"], "Error: Invalid value for '-k': 0 is not in the range x>=1.\n"),
    (["search", "{idx}", "a?", "--threshold", "3"], "Error: threshold must be in [-1, 1], got 3.0\n"),
    (["search", "{idx}", "   "], "Error: the question is empty (no words once punctuation is removed)\n"),
    (["search", "{idx}", "?!"], "Error: the question is empty (no words once punctuation is removed)\n"),
    (["search", "{idx}", "caf\udce9"], "Error: the question is not valid Unicode text (undecodable bytes?); use UTF-8\n"),
    (["search", "{tmp}", "a?"], "Error: {tmp} is not a qdup index (no manifest.json)\n"),
    (["serve", "--index", "{tmp}/noindex"], "Error: {tmp}/noindex: no such index folder\n"),
    (["serve", "--index", "{csv}"], "Error: {csv} is a file, not an index folder\n"),
    (["mine", "{idx}", "--out", "{csv}"], "Error: {csv} already exists (use --force to replace it)\n"),
])
def test_errors_are_one_line_exit_1(capsys, tmp_path, built, questions_csv, tiny_model_dir, args, message):
    fill = {"tmp": tmp_path, "model": tiny_model_dir, "csv": questions_csv, "idx": built}
    before = (built / "manifest.json").read_bytes()
    code, out, err = run(capsys, *[a.format(**fill) for a in args])
    assert (code, err) == (1, message.format(**fill))
    assert (built / "manifest.json").read_bytes() == before  # a refused command changes nothing


def test_other_model_is_refused(capsys, tmp_path, built, tiny_model, tiny_model_dir):
    lstm = tiny_model.encoder
    fresh = type(lstm)(lstm.vocabulary, type(lstm.network)(lstm.config))  # same shape, fresh weights
    other = tiny_model.__class__(fresh, threshold=0.5)
    other.save(tmp_path / "other")
    code, _, err = run(capsys, "search", built, "a?", "--model", tmp_path / "other")
    assert code == 1
    # The index names the model folder it was built with: the message says which.
    assert err.startswith(f"Error: index {built} was built with model ")
    assert err.endswith(f" (saved in {tiny_model_dir}, which may hold another model now), not "
                        f"{other.fingerprint[:12]}; use the model that built it, or rebuild the index\n")


def test_serve_answers_on_loopback(built):
    port = free_port()
    qdup_script = Path(sys.executable).parent / "qdup"
    server = subprocess.Popen([str(qdup_script), "serve", "--index", str(built), "--port", str(port)])
    try:
        import httpx

        deadline = time.monotonic() + 180  # start-up imports torch: slow on a busy machine
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=60)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "qdup serve did not start"
                time.sleep(0.1)
        assert health.json()["questions"] == 5
        found = httpx.post(f"http://127.0.0.1:{port}/search", json={"question": "How do I learn Python?", "k": 1},
                           timeout=60)
        assert found.json()["matches"][0]["id"] == "q1"
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_index_build_force_never_replaces_a_folder_that_is_not_an_index(capsys, tmp_path, tiny_model_dir):
    (tmp_path / "questions.txt").write_text("How do I learn Python?\nHow can I cook rice?\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("precious")
    code, _, err = run(capsys, "index", "build", tmp_path / "questions.txt", "--model", tiny_model_dir,
                       "--out", tmp_path / "notes", "--force")
    assert (code, err) == (1, f"Error: {tmp_path / 'notes'} exists and is not a qdup-index folder; refusing to replace it\n")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "precious"


def test_huge_k_is_clipped_not_allocated(capsys, built):
    for k in ("1000000000", str(2**62)):
        code, out, err = run(capsys, "search", built, "How do I learn Python?", "-k", k, "--json")
        assert code == 0, err
        assert len(json.loads(out)) == 5


def test_serve_on_a_busy_port_is_one_line(capsys, built):
    import socket

    import torch

    threads = torch.get_num_threads()
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "serve", "--index", built, "--port", port)
    assert (code, err) == (1, f"Error: cannot listen on 127.0.0.1:{port} (Address already in use)\n")
    assert torch.get_num_threads() == threads  # refused before the service's one-thread setting


def test_serve_on_a_host_that_is_no_address_is_one_line_naming_it(capsys, built):
    # The resolver's error number went through os.strerror: "cannot listen on ... (Unknown error -2)".
    code, _, err = run(capsys, "serve", "--index", built, "--host", "999.1.1.1", "--port", 8000)
    assert code == 1 and err.startswith("Error: cannot listen on 999.1.1.1:8000 ('999.1.1.1' is not an address or "
                                        "a host name this machine resolves: ")
    assert "Unknown error" not in err and err.count("\n") == 1


def test_empty_questions_are_named_or_skipped(capsys, tmp_path, tiny_model_dir):
    path = tmp_path / "q.csv"
    path.write_text("id,question\n1,How do I learn Python?\n2,.\n3,Why is the sky blue?\n4,????\n5,Is tea good?\n")
    code, out, err = run(capsys, "index", "build", path, "--model", tiny_model_dir, "--out", tmp_path / "idx", "-q")
    assert (code, out) == (1, "") and err == (
        f"Error: {path}: 2 empty questions (no words once punctuation is removed): line 3 (id '2'), line 5 (id '4'); "
        "fix or remove them (or skip them: --skip-invalid)\n")
    code, out, err = run(capsys, "index", "build", path, "--model", tiny_model_dir, "--out", tmp_path / "idx", "-q",
                         "--skip-invalid")
    assert (code, err) == (0, "") and out == (
        f"indexed 3 questions into {tmp_path / 'idx'}; skipped 2 empty questions (no words once punctuation is "
        "removed): line 3 (id '2'), line 5 (id '4')\n")
    more = tmp_path / "more.txt"
    more.write_text("What is rice?\n!!\n")
    code, out, _ = run(capsys, "index", "add", tmp_path / "idx", more, "--skip-invalid")
    assert out == (f"added 1 question to {tmp_path / 'idx'} (4 in all); skipped 1 empty question "
                   "(no words once punctuation is removed): line 2\n")


def test_a_build_of_only_empty_questions_says_they_were_all_skipped(capsys, tmp_path, tiny_model_dir):
    # It said "no questions to index", as if the file held none, and not that every one was left out.
    empty = tmp_path / "empty.txt"
    empty.write_text("?\n...\n!!\n")
    code, out, err = run(capsys, "index", "build", empty, "--model", tiny_model_dir, "--out", tmp_path / "idx", "-q",
                         "--skip-invalid")
    assert (code, out) == (1, "") and err == (
        "Error: no questions to index: --skip-invalid left out every one, 3 empty questions (no words once "
        "punctuation is removed): line 1, line 2, line 3\n")
    assert not (tmp_path / "idx").exists()
    (tmp_path / "blank.txt").write_text("")  # nothing skipped: nothing to say about skipping
    code, _, err = run(capsys, "index", "build", tmp_path / "blank.txt", "--model", tiny_model_dir, "--out",
                       tmp_path / "idx", "-q", "--skip-invalid")
    assert code == 1 and "skip" not in err and not (tmp_path / "idx").exists()


def test_a_file_of_only_empty_questions_adds_nothing(capsys, built, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("?\n...\n")
    before = sorted(p.name for p in built.iterdir())
    code, out, _ = run(capsys, "index", "add", built, empty, "--skip-invalid")
    assert code == 0 and out.startswith(f"added 0 questions to {built} (5 in all); skipped 2 empty questions")
    assert sorted(p.name for p in built.iterdir()) == before  # no new segment, no new generation


def test_mine_leaves_out_look_alikes_unless_asked(capsys, tmp_path):
    """The built-in model's pair scorer learnt look-alikes: mined groups keep the paraphrase,
    not the question about another country (issue 18)."""
    questions = tmp_path / "q.txt"
    questions.write_text("How do I get a divorce in Nepal?\nWhat is the process of divorce in Nepal?\n"
                         "How do I get a divorce in Armenia?\n")
    built = tmp_path / "idx"
    assert run(capsys, "index", "build", questions, "--out", built, "-q")[0] == 0
    groups = {}
    for name, extra in (("judged", []), ("loose", ["--no-pair-verdict"])):
        out = tmp_path / f"{name}.jsonl"
        code, _, err = run(capsys, "mine", built, "--top-k", "2", "--threshold", "0.0", "--out", out, "-q", *extra)
        assert code == 0, err
        groups[name] = {r["question"]: [m["question"] for m in r["matches"]]
                        for r in map(json.loads, out.read_text().splitlines())}
    nepal, process, armenia = questions.read_text().splitlines()
    assert groups["judged"][nepal] == [process] and armenia not in groups["judged"]
    assert sorted(groups["loose"][nepal]) == sorted([process, armenia])


def test_encode_and_mine_refuse_an_unwritable_output_before_the_work(tmp_path, fake_model, capsys):
    (tmp_path / "file").write_text("not a folder")
    Index.build(fake_model, None, ["How do I learn Python?", "How can I learn Python?"], tmp_path / "idx")
    questions = tmp_path / "q.txt"
    questions.write_text("How do I learn Python?\n")
    for command in (["encode", questions, "--out", tmp_path / "file" / "v.npy", "--model", "/nowhere"],
                    ["mine", tmp_path / "idx", "--out", tmp_path / "file" / "m.jsonl", "--model", "/nowhere"]):
        code, _, err = run(capsys, *command)  # the model is never loaded: the output is refused first
        assert (code, err) == (1, f"Error: {command[3]}: cannot write there (Not a directory)\n")


def test_mine_refuses_a_model_that_did_not_build_the_index(capsys, tmp_path, built, toy_split):
    """Was: mined the stored vectors anyway, with the other model's threshold, and exit 0."""
    other = qdup.train(toy_split, qdup.TrainConfig.from_recipe("reference", epochs=1, batch_size=32, dim=32, seed=2))
    other.save(tmp_path / "other")
    out = tmp_path / "pairs.jsonl"
    code, printed, err = run(capsys, "mine", built, "--model", tmp_path / "other", "--out", out, "-q")
    assert (code, printed) == (1, "") and not out.exists()
    assert err.startswith(f"Error: index {built} was built with model ") and err.count("\n") == 1
    assert run(capsys, "mine", built, "--out", out, "-q")[0] == 0  # the model that built it mines it
