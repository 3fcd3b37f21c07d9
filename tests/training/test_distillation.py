"""Distillation: an LSTM student learns a (tiny, random) transformer teacher's similarities."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import qdup
from helpers import TOY_PAIRS, run
from qdup.encoders.lstm.encoder import LstmEncoder
from qdup.encoders.lstm.network import SiameseEncoder
from qdup.training import distill as distillation
from qdup.training.distill import distill
from qdup.training.losses import similarity_loss
from qdup.training.recipes import TrainConfig
from tiny_transformer import make_tiny_transformer

pytest.importorskip("transformers")

STUDENT = qdup.TrainConfig.from_recipe("default", epochs=3, batch_size=32, dim=16, hidden=16, ngram_buckets=200,
                                       dropout=0.0, negatives_per_batch=32, scorer="cosine", seed=3)
STUDENT_ARGS = ["--epochs", 3, "--batch-size", 32, "--set", "dim=16", "--set", "hidden=16",
                "--set", "ngram_buckets=200", "--set", "negatives_per_batch=32"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, fixture_pairs):
    folder = tmp_path_factory.mktemp("teacher") / "tiny-bert"
    return qdup.load(make_tiny_transformer(folder, fixture_pairs.question1 + fixture_pairs.question2))


@pytest.fixture(scope="module")
def questions(fixture_pairs):
    return sorted(set(fixture_pairs.question1 + fixture_pairs.question2))


def test_student_reproduces_teacher_similarities_better_than_untrained(teacher, questions, tmp_path):
    student = distill(teacher, questions, STUDENT)
    assert student.encoder.name == "lstm" and student.scorer.name == "cosine"
    assert student.threshold == teacher.threshold  # it mimics the teacher's scores
    assert [r["epoch"] for r in student.info["history"]] == [1, 2, 3]
    target = torch.from_numpy(teacher.encode(questions))
    torch.manual_seed(3)
    untrained = LstmEncoder(student.encoder.vocabulary, SiameseEncoder(student.encoder.config))
    learned = similarity_loss(torch.from_numpy(student.encode(questions)), target).item()
    assert learned < 0.5 * similarity_loss(torch.from_numpy(untrained.encode(questions)), target).item()
    saved = student.save(tmp_path / "student")
    loaded = qdup.load(saved)
    np.testing.assert_array_equal(loaded.encode(questions[:50]), student.encode(questions[:50]))
    assert json.loads((saved / "config.json").read_text())["encoder"] == "lstm"


def test_cli_distills_with_pairs_then_indexes_and_searches(capsys, teacher, questions, tmp_path):
    (tmp_path / "q.txt").write_text("\n".join(questions) + "\n")
    teacher_dir = teacher.save(tmp_path / "teacher")
    # A teacher trained with look-alikes of several words (the one command's recipe): its
    # student's re-ranker learns from the same kind, where the user sets nothing else.
    config = json.loads((teacher_dir / "config.json").read_text())
    config["training"] = {**config.get("training", {}), "lookalikes": 1.0, "lookalike_words": 3}
    (teacher_dir / "config.json").write_text(json.dumps(config))
    out = tmp_path / "student"
    code, stdout, err = run(capsys, "distill", teacher_dir, "--questions", tmp_path / "q.txt", "--pairs", TOY_PAIRS,
                            "--out", out, "--quiet", "--set", "lookalike_words=2", *STUDENT_ARGS)
    assert (code, err) == (0, "")
    assert stdout.startswith(f"saved {out} (best epoch ") and "chosen by validation AUC" in stdout
    student = qdup.load(out)
    assert stdout.splitlines()[1].startswith("search threshold ") and student.search_threshold is not None
    assert "calibration" in student.info and student.info["distillation"]["teacher_fingerprint"] == teacher.fingerprint
    assert student.scorer.name == "rerank"  # with --pairs: the default recipe's re-ranker
    assert (student.info["training"]["lookalikes"], student.info["training"]["lookalike_words"]) == (1.0, 2)
    code, stdout, err = run(capsys, "index", "build", tmp_path / "q.txt", "--out", tmp_path / "idx", "--model", out)
    assert code == 0, err
    code, stdout, err = run(capsys, "search", tmp_path / "idx", questions[5], "-k", "3", "--json")
    assert code == 0, err
    assert json.loads(stdout)[0]["question"] == questions[5]  # a stored question finds itself first


def test_a_teacher_lends_its_student_the_look_alike_settings_it_has(teacher):
    assert distillation.teacher_lookalikes(teacher) == {}  # a pretrained encoder as it is
    # saved before lookalike_words and before the search re-ranker's monotone unmatched words (as v5)
    older = SimpleNamespace(info={"training": {"recipe": "default", "lookalikes": 0.2, "epochs": 20}})
    assert distillation.teacher_lookalikes(older) == {"lookalikes": 0.2, "search_unmatched_monotone": False}
    newer = SimpleNamespace(info={"training": TrainConfig(lookalike_words=2).to_dict()})
    assert distillation.teacher_lookalikes(newer) == {"lookalikes": 0.2, "lookalike_words": 2,
                                                      "search_unmatched_monotone": True}


def test_distill_refuses_an_existing_output_before_any_work(capsys, teacher, tmp_path):
    (tmp_path / "q.txt").write_text("a?\nb?\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "distill", tmp_path / "nowhere", "--questions", tmp_path / "q.txt",
                       "--out", tmp_path / "out")
    assert code == 1 and err.startswith("Error: ") and err.count("\n") == 1
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_nearest_neighbours_in_chunks_match_brute_force(monkeypatch):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    monkeypatch.setattr(distillation, "NEIGHBOUR_CHUNK", 7)  # does not divide 50
    assert distillation._nearest(vectors, 1)[:, 0].tolist() == scores.argmax(axis=1).tolist()
    top3 = np.argsort(-scores, axis=1, kind="stable")[:, :3]
    assert distillation._nearest(vectors, 3).tolist() == top3.tolist()


def test_nearest_leaves_out_the_question_itself_even_when_it_ties():
    vectors = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=np.float32)  # 0, 1, 2 are the same
    nearest = distillation._nearest(vectors, 2)
    assert nearest.shape == (4, 2)
    assert all(i not in row for i, row in enumerate(nearest.tolist()))
    assert sorted(nearest[0].tolist()) == [1, 2]


def test_a_reranking_student_fits_the_re_ranker_on_out_of_fold_students(teacher, questions, fixture_pairs, tmp_path):
    from dataclasses import replace

    split = qdup.reference_split(fixture_pairs)
    student = distill(teacher, questions, replace(STUDENT, scorer="rerank", epochs=1), split)
    assert student.scorer.name == "rerank" and student.info["training"]["scorer"] == "rerank"
    loaded = qdup.load(student.save(tmp_path / "student"))
    pairs = split.validation
    np.testing.assert_allclose(loaded.score(pairs.question1, pairs.question2),
                               student.score(pairs.question1, pairs.question2), atol=1e-6)
    # The re-ranker's score is not the cosine it started from.
    cosine = np.einsum("nd,nd->n", student.encode(pairs.question1), student.encode(pairs.question2))
    assert not np.allclose(student.score(pairs.question1, pairs.question2), cosine, atol=1e-3)


def test_a_reranking_student_needs_labelled_pairs(teacher, questions):
    from dataclasses import replace

    with pytest.raises(qdup.ConfigError, match="needs labelled pairs"):
        distill(teacher, questions, replace(STUDENT, scorer="rerank"))


def test_a_held_out_reranking_student_is_distilled_once(teacher, questions, fixture_pairs, monkeypatch):
    from dataclasses import replace

    from qdup.training.scorer_fit import held_out_part

    calls, real = [], distillation._student
    monkeypatch.setattr(distillation, "_student", lambda taught, config, settings, part, *rest:
                        calls.append(part.train.ids.tolist()) or real(taught, config, settings, part, *rest))
    split = qdup.reference_split(fixture_pairs)
    student = distill(teacher, questions, replace(STUDENT, scorer="rerank", scorer_held_out=0.3, epochs=1), split)
    held = held_out_part(split, 0.3, STUDENT.seed)
    assert calls == [held.rest(split).train.ids.tolist()]  # one student, never taught the held-out labels
    assert student.info["scorer_fit"] == {"method": "held-out", **held.summary()} and student.scorer.name == "rerank"
    assert "calibration" in student.info
