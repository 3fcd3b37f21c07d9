"""Pretrained transformer encoders: opened as they are, fine-tuned with a re-ranker in one command, saved,
indexed, distilled; unsafe folders refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import qdup
from helpers import ROOT, TOY_PAIRS, run
from qdup.training import scorer_fit, trainer
from qdup.training.scorer_fit import held_out_part
from tiny_transformer import make_tiny_transformer

pytest.importorskip("transformers")

FINE_TUNE = qdup.TrainConfig.from_recipe("transformer", batch_size=16, negatives_per_batch=16,
                                         learning_rate=1e-3)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, fixture_pairs):
    folder = tmp_path_factory.mktemp("pretrained") / "tiny-bert"
    return make_tiny_transformer(folder, fixture_pairs.question1 + fixture_pairs.question2)


@pytest.fixture(scope="module")
def fine_tuning(pretrained, toy_split):
    """The one-command pipeline, with the training pairs of each fine-tuning, and the vectors and
    queries of the searches its re-ranker learned from."""
    searches, trained = [], []
    real_rows, real_train = scorer_fit._candidate_rows, trainer._train_encoder
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scorer_fit, "_candidate_rows", lambda queries, vectors, *rest:
                      searches.append((queries, vectors)) or real_rows(queries, vectors, *rest))
        patch.setattr(trainer, "_train_encoder", lambda part, *rest:
                      trained.append(part) or real_train(part, *rest))
        return qdup.train(toy_split, FINE_TUNE, encoder=str(pretrained)), searches, trained


@pytest.fixture(scope="module")
def fine_tuned(fine_tuning):
    return fine_tuning[0]


def test_pretrained_folder_opens_as_it_is(pretrained, toy_split):
    model = qdup.load(pretrained)
    questions = toy_split.test.question1[:20]
    vectors = model.encode(questions)
    assert vectors.shape == (20, 32) and model.encoder.name == "transformer"
    np.testing.assert_allclose((vectors * vectors).sum(1), 1.0, atol=1e-5)
    # A vector does not depend on the other questions of the call (padding is masked).
    alone = np.stack([model.encode([q])[0] for q in questions[:5]])
    np.testing.assert_allclose(alone, vectors[:5], atol=1e-5)
    assert model.threshold == 0.7 and model.scorer.name == "cosine"


def test_fine_tune_save_load_gives_identical_vectors(fine_tuned, pretrained, toy_split, tmp_path):
    questions = toy_split.test.question1[:30]
    before = qdup.load(pretrained).encode(questions)
    after = fine_tuned.encode(questions)
    assert np.abs(after - before).max() > 1e-3  # training changed the weights
    history = fine_tuned.info["history"]
    assert fine_tuned.info["base_encoder"] == str(pretrained) and len(history) == 2  # recipe transformer: 2 epochs
    assert fine_tuned.info["best_epoch"] == max(history, key=lambda r: r["validation_auc"])["epoch"]
    saved = fine_tuned.save(tmp_path / "tuned")
    assert {"model.safetensors", "tokenizer.json", "transformer.json", "config.json", "reranker-pairs.txt",
            "reranker-search.txt", "lexical.safetensors"} <= {p.name for p in saved.iterdir()}
    assert not [p for p in saved.iterdir() if p.suffix in (".bin", ".pt", ".pkl")]
    config = json.loads((saved / "config.json").read_text())
    assert config["encoder"] == "transformer" and config["scorer"]["name"] == "rerank"
    loaded = qdup.load(saved)
    np.testing.assert_array_equal(loaded.encode(questions), after)
    assert loaded.fingerprint == fine_tuned.fingerprint
    assert loaded.threshold == fine_tuned.threshold
    pairs = toy_split.test
    np.testing.assert_allclose(loaded.score(pairs.question1, pairs.question2),
                               fine_tuned.score(pairs.question1, pairs.question2), atol=1e-6)


def test_the_re_ranker_learns_from_out_of_fold_fine_tunings(fine_tuning, toy_split):
    """Recipe transformer fits the re-ranker as the default recipe does: the kept encoder is
    fine-tuned on the whole pool, and each half of the pool is searched with the vectors of a
    fine-tuning that did not see its labels."""
    fine_tuned, searches, trained = fine_tuning
    assert fine_tuned.info["scorer_fit"] == {"method": "out-of-fold"}
    assert fine_tuned.info["training"]["scorer_held_out"] == 0.0 and fine_tuned.scorer.name == "rerank"
    folds = scorer_fit._folds(toy_split, FINE_TUNE.scorer_folds)
    assert [part.train.ids.tolist() for part in trained] == [
        toy_split.train.ids.tolist(), *(held.rest(toy_split).train.ids.tolist() for held in folds)]
    pool = sorted({q.strip() for p in (toy_split.train, toy_split.negatives) for q in p.question1 + p.question2})
    assert len(searches) == len(folds)
    kept = fine_tuned.encode(pool)
    for (queries, vectors), held in zip(searches, folds):
        assert np.abs(vectors - kept).max() > 1e-3  # a fold's fine-tuning, not the kept encoder
        duplicates = toy_split.train.subset(held.train)  # the pairs this fold's encoder did not train on
        assert {pool[r] for r in queries} == {q.strip() for q in duplicates.question1 + duplicates.question2}
    pairs = toy_split.validation
    cosine = np.einsum("nd,nd->n", fine_tuned.encode(pairs.question1), fine_tuned.encode(pairs.question2))
    assert not np.allclose(fine_tuned.score(pairs.question1, pairs.question2), cosine, atol=1e-3)


def test_fine_tuned_model_indexes_and_searches(fine_tuned, toy_split, tmp_path):
    questions = sorted(set(toy_split.test.question1))[:40]
    index = qdup.Index.build(fine_tuned, None, questions, tmp_path / "idx")
    results = index.search(fine_tuned, questions[:10], k=3)
    # Each finds itself (the toy re-ranker may put a near-copy such as "How can I fix a slow
    # laptop?" for "Any advice on how to fix a slow laptop?" first).
    assert all(str(i) in r.ids for i, r in zip(range(1, 11), results))
    with pytest.raises(qdup.DataError, match="was built with model"):
        index.search(qdup.load(), questions[:1])  # the LSTM's vectors are another space


def test_one_command_trains_searches_and_distils(capsys, pretrained, toy_split, tmp_path):
    """`qdup train --encoder` (fine-tuned encoder + re-ranker), then index, search and distil from it."""
    out = tmp_path / "cli-tuned"
    code, stdout, err = run(capsys, "train", TOY_PAIRS, "--out", out, "--encoder", pretrained, "--quiet",
                            "--batch-size", 16, "--set", "negatives_per_batch=16", "--epochs", 1)
    assert (code, err) == (0, "")
    assert stdout.startswith(f"saved {out} (best epoch 1, chosen by validation AUC ")
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["recipe"].startswith("transformer") and config["scorer"]["name"] == "rerank"
    assert config["scorer_fit"]["method"] == "out-of-fold" and config["training"]["scorer_held_out"] == 0.0
    # Its searches flag from the start: the search threshold chosen, or the line saying why not.
    said = stdout.splitlines()[1]
    assert said.startswith("no search threshold (") if "search_threshold" not in config else \
        said.startswith(f"search threshold {config['search_threshold']['threshold']:.4f}: ")
    code, stdout, _ = run(capsys, "predict", out, "How do I learn Python?", "How to learn Python?", "--json")
    assert code == 0 and 0 <= json.loads(stdout)["similarity"] <= 1.0001
    questions = sorted(set(toy_split.test.question1 + toy_split.test.question2))
    (tmp_path / "q.txt").write_text("\n".join(questions) + "\n")
    code, _, err = run(capsys, "index", "build", tmp_path / "q.txt", "--out", tmp_path / "idx", "--model", out)
    assert code == 0, err
    code, stdout, err = run(capsys, "search", tmp_path / "idx", questions[3], "-k", "3", "--json")
    assert code == 0 and questions[3] in stdout, err  # a stored question finds itself
    student = tmp_path / "student"
    code, stdout, err = run(capsys, "distill", out, "--questions", tmp_path / "q.txt", "--pairs", TOY_PAIRS,
                            "--out", student, "--quiet", "--epochs", 1, "--batch-size", 32, "--set", "dim=16",
                            "--set", "hidden=16", "--set", "ngram_buckets=200", "--set", "negatives_per_batch=32")
    assert (code, err) == (0, "") and stdout.startswith(f"saved {student} ")
    distilled = qdup.load(student)
    assert distilled.encoder.name == "lstm" and distilled.scorer.name == "rerank"
    assert distilled.info["distillation"]["teacher_fingerprint"] == qdup.load(out).fingerprint


def test_a_held_out_part_still_gives_one_fine_tuning(pretrained, toy_split):
    """``scorer_held_out`` (the recipe before issue 18's folds): one fine-tuning, without the held-out part."""
    trained, real = [], trainer._train_encoder
    config = qdup.TrainConfig.from_recipe("transformer", batch_size=16, negatives_per_batch=16, epochs=1,
                                          scorer_held_out=0.25)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer, "_train_encoder", lambda part, *rest: trained.append(part) or real(part, *rest))
        model = qdup.train(toy_split, config, encoder=str(pretrained))
    held = held_out_part(toy_split, 0.25, config.seed)
    assert model.info["scorer_fit"] == {"method": "held-out", **held.summary()}
    assert [part.train.ids.tolist() for part in trained] == [held.rest(toy_split).train.ids.tolist()]


def test_calibrate_writes_qdup_json_next_to_a_pretrained_folder(capsys, pretrained, tmp_path):
    folder = shutil.copytree(pretrained, tmp_path / "copy")
    config_before = (folder / "config.json").read_bytes()
    code, stdout, err = run(capsys, "calibrate", TOY_PAIRS, "--model", folder)
    assert code == 0 and err == "" and stdout.startswith("threshold ")
    assert (folder / "config.json").read_bytes() == config_before  # the pretrained files stay untouched
    stored = json.loads((folder / "qdup.json").read_text())
    model = qdup.load(folder)
    assert model.threshold == stored["threshold"] == round(stored["calibration"]["accuracy_threshold"], 4)


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01."),
     "refusing pytorch_model.bin: pickled files can run code when loaded; qdup reads weights from .safetensors only"),
    (lambda f: (f / "1_Pooling" / "extra.pkl").write_bytes(b"\x80\x04K\x01."),
     "refusing 1_Pooling/extra.pkl: pickled files can run code when loaded"),
    (lambda f: _edit(f / "config.json", auto_map={"AutoModel": "modeling_evil.EvilModel"}),
     "refusing config.json: it asks for remote code (auto_map); qdup never runs code from a model folder"),
    (lambda f: _edit(f / "config.json", trust_remote_code=True),
     "refusing config.json: it asks for remote code (trust_remote_code)"),
    (lambda f: (f / "model.safetensors").unlink(),
     "no model.safetensors (qdup reads weights from safetensors only)"),
    (lambda f: (f / "tokenizer.json").unlink(), "no tokenizer.json (qdup reads fast tokenizers only)"),
])
def test_unsafe_or_incomplete_folders_are_refused_with_one_line(capsys, pretrained, tmp_path, damage, message):
    folder = shutil.copytree(pretrained, tmp_path / "bad")
    damage(folder)
    with pytest.raises(qdup.ModelLoadError) as caught:
        qdup.load(folder)
    assert str(caught.value).startswith(f"{folder}: {message}")
    code, out, err = run(capsys, "predict", folder, "a question?", "another question?")
    assert code == 1 and out == "" and err.startswith(f"Error: {folder}: ") and err.count("\n") == 1


def test_saved_qdup_folder_asking_for_remote_code_is_refused(fine_tuned, tmp_path):
    saved = fine_tuned.save(tmp_path / "tuned")
    _edit(saved / "transformer.json", auto_map={"AutoModel": "evil.Model"})
    with pytest.raises(qdup.ModelLoadError, match=r"refusing transformer.json: it asks for remote code"):
        qdup.load(saved)


def test_import_and_lstm_paths_do_not_import_transformers():
    code = ("import sys, qdup; from qdup.cli import main; qdup.load().encode(['how?']); "
            "print(sorted(m for m in ('transformers', 'tokenizers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    version = subprocess.run([sys.executable, "-c", "import sys; from qdup.cli import main; "
                              "sys.argv = ['qdup', '--version']; code = main(sys.argv[1:]); "
                              "print('transformers' in sys.modules)"],
                             capture_output=True, text=True, check=True, cwd=ROOT)
    assert version.stdout.strip().endswith("False")


def _edit(path, **entries):
    data = json.loads(path.read_text())
    data.update(entries)
    path.write_text(json.dumps(data))
