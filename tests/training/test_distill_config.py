"""Distillation's settings (DistillConfig): validated, set with `qdup distill --set`, and
recorded in the student's config.json. The teacher is the fake trigram model (no transformers)."""

from __future__ import annotations

import json
import math

import pytest

import qdup
from fake_model import FakeModel
from helpers import TOY_PAIRS, run
from qdup.training.distill import distill
from qdup.training.recipes import DISTILL_SETTINGS, DistillConfig, parse_distill_settings

STUDENT = qdup.TrainConfig.from_recipe("default", epochs=1, batch_size=32, dim=8, hidden=8, ngram_buckets=64,
                                       dropout=0.0, scorer="cosine")
STUDENT_ARGS = ["--epochs", 1, "--batch-size", 32, "--set", "dim=8", "--set", "hidden=8",
                "--set", "ngram_buckets=64", "--quiet"]


@pytest.fixture(scope="module")
def questions(fixture_pairs):
    return sorted(set(fixture_pairs.question1 + fixture_pairs.question2))


@pytest.mark.parametrize("bad, message", [
    ({"similarity_weight": -1.0}, "similarity_weight must be a finite number >= 0, got -1.0"),
    ({"ranking_kl_weight": math.nan}, "ranking_kl_weight must be a finite number >= 0, got nan"),
    ({"regression_weight": "10"}, "regression_weight must be a finite number >= 0, got '10'"),
    ({"temperature": 0.0}, "temperature must be a positive number, got 0.0"),
    ({"held_out_share": 1.0}, "held_out_share must be between 0 and 1, got 1.0"),
    ({"neighbours": 0}, "neighbours must be an integer of at least 1, got 0"),
    ({"neighbours": True}, "neighbours must be an integer of at least 1, got True"),
    ({"max_held_out": 1}, "max_held_out must be an integer of at least 2, got 1"),
])
def test_settings_name_the_bad_value(bad, message):
    with pytest.raises(qdup.ConfigError) as caught:
        DistillConfig(**bad)
    assert str(caught.value) == message


def test_settings_round_trip_and_refuse_unknown_keys():
    settings = DistillConfig(temperature=0.1, neighbours=1)
    assert DistillConfig.from_dict(settings.to_dict()) == settings
    assert tuple(settings.to_dict()) == DISTILL_SETTINGS
    with pytest.raises(qdup.ConfigError, match="unknown distillation setting.*: temprature"):
        DistillConfig.from_dict({"temprature": 0.1})


def test_set_pairs_split_into_student_and_distillation_settings():
    overrides, settings = parse_distill_settings(["epochs=2", "temperature=0.1", "neighbours=1", "dim=8"])
    assert overrides == {"epochs": 2, "dim": 8}
    assert settings == DistillConfig(temperature=0.1, neighbours=1)
    assert parse_distill_settings([]) == ({}, DistillConfig())
    with pytest.raises(qdup.ConfigError, match="--set neighbours: expected int, got 'two'"):
        parse_distill_settings(["neighbours=two"])


def test_the_student_records_its_settings(questions, tmp_path):
    settings = DistillConfig(similarity_weight=50.0, neighbours=1, held_out_share=0.5, max_held_out=3)
    student = distill(FakeModel(), questions, STUDENT, distill_config=settings)
    section = student.info["distillation"]
    assert section["settings"] == settings.to_dict()
    assert section["held_out"] == 3  # half the questions, capped by max_held_out
    saved = json.loads((student.save(tmp_path / "student") / "config.json").read_text())
    assert saved["distillation"]["settings"] == settings.to_dict()
    default = distill(FakeModel(), questions, STUDENT).info["distillation"]
    assert default["settings"] == DistillConfig().to_dict()
    assert default["held_out"] == max(2, int(len(questions) * DistillConfig().held_out_share))


def test_cli_sets_and_records_distillation_settings(capsys, tiny_model_dir, questions, tmp_path):
    (tmp_path / "q.txt").write_text("\n".join(questions) + "\n")
    out = tmp_path / "student"
    code, stdout, err = run(capsys, "distill", tiny_model_dir, "--questions", tmp_path / "q.txt", "--out", out,
                            *STUDENT_ARGS, "--set", "temperature=0.1", "--set", "neighbours=2")
    assert (code, err) == (0, ""), err
    config = json.loads((out / "config.json").read_text())
    assert config["distillation"]["settings"] == DistillConfig(temperature=0.1, neighbours=2).to_dict()
    assert config["training"]["model"]["dim"] == 8  # the student's own settings go to TrainConfig


@pytest.mark.parametrize("command", ["distill", "train"])
def test_bad_distillation_settings_fail_in_one_line_before_any_work(capsys, tiny_model_dir, tmp_path, command):
    (tmp_path / "q.txt").write_text("a?\nb?\n")
    head = [tiny_model_dir, "--questions", tmp_path / "q.txt"] if command == "distill" else [tmp_path / "q.txt"]
    code, _, err = run(capsys, command, *head, "--out", tmp_path / "out", "--set", "temperature=0")
    assert code == 1 and not (tmp_path / "out").exists()
    if command == "distill":
        assert err == "Error: temperature must be a positive number, got 0.0\n"
    else:  # a distillation setting is not a training setting
        assert err.startswith("Error: --set takes KEY=VALUE with KEY one of ") and "got 'temperature=0'" in err


def test_a_student_whose_validation_pairs_are_all_duplicates_is_reported_by_its_loss(capsys, tiny_model_dir,
                                                                                     questions, tmp_path):
    # Without an AUC (pairs of one label) the report was a TypeError traceback, the student saved.
    (tmp_path / "q.txt").write_text("\n".join(questions) + "\n")
    lines = TOY_PAIRS.read_text().splitlines()
    (tmp_path / "ones.tsv").write_text("\n".join([lines[0], *(line for line in lines[1:]
                                                               if line.endswith("\t1"))]) + "\n")
    out = tmp_path / "student"
    code, stdout, err = run(capsys, "distill", tiny_model_dir, "--questions", tmp_path / "q.txt", "--pairs",
                            tmp_path / "ones.tsv", "--out", out, *STUDENT_ARGS, "--set", "calibrate=false")
    assert (code, err) == (0, ""), err
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["select"] == "auc" and config["history"][0]["validation_auc"] is None
    loss = config["history"][0]["validation_loss"]
    assert stdout == f"saved {out} (best epoch 1, chosen by validation loss {loss:.4f})\n"


@pytest.mark.parametrize("with_pairs", [False, True])
def test_too_few_questions_are_named_by_their_file_before_the_teacher_loads(capsys, tmp_path, monkeypatch,
                                                                             with_pairs):
    # The error named no file, and came once the teacher had loaded (minutes for a large one).
    monkeypatch.setattr(qdup.model, "load", lambda *a, **k: pytest.fail("loaded the teacher before the check"))
    questions = tmp_path / "q.txt"
    questions.write_text("How?\nHow?\nWhy?\n")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("question1\tquestion2\tis_duplicate\n" + "How?\tHow?\t1\n" * 5 + "How?\tWhy?\t0\n" * 5)
    code, _, err = run(capsys, "distill", tmp_path / "teacher", "--questions", questions, "--out", tmp_path / "s",
                       *(["--pairs", pairs, "--set", "calibrate=false"] if with_pairs else []))
    named = f"{questions} with the training pairs of {pairs}" if with_pairs else questions
    assert (code, err) == (1, f"Error: {named}: distillation needs at least 4 distinct questions, got 2\n")


def test_the_library_checks_the_questions_too():
    with pytest.raises(qdup.ConfigError, match="^distillation needs at least 4 distinct questions, got 3$"):
        distill(FakeModel(), ["How?", "Why?", "Who?", "  ", "Who?"], STUDENT)


def test_validation_pairs_of_one_kind_are_named_by_their_file_before_the_teacher_loads(capsys, tmp_path,
                                                                                       monkeypatch, questions):
    # The error named no file, and came once the teacher had loaded (minutes for a large one).
    monkeypatch.setattr(qdup.model, "load", lambda *a, **k: pytest.fail("loaded the teacher before the check"))
    (tmp_path / "q.txt").write_text("\n".join(questions) + "\n")
    lines = TOY_PAIRS.read_text().splitlines()
    pairs = tmp_path / "ones.tsv"
    pairs.write_text("\n".join([lines[0], *(line for line in lines[1:] if line.endswith("\t1"))]) + "\n")
    validation = qdup.reference_split(qdup.read_pairs(pairs)).validation
    code, _, err = run(capsys, "distill", tmp_path / "teacher", "--questions", tmp_path / "q.txt", "--pairs", pairs,
                       "--out", tmp_path / "s", *STUDENT_ARGS)
    assert (code, err) == (1, f"Error: {pairs}: the {len(validation)} validation pairs are all duplicates: "
                              "calibrating the threshold needs non-duplicates too (add some to the file, "
                              "or --set calibrate=false)\n")
