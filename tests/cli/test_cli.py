import json
import os

import pytest

import qdup

from helpers import ROOT, run
from qdup.cli import cli
from qdup.errors import DataError
from qdup.evaluation.search_calibration import calibrate_on_pairs

TINY_ARGS = ["--epochs", "2", "--batch-size", "32", "--dim", "16", "--quiet"]


def test_train_evaluate_predict(capsys, toy_path, tmp_path):
    out_dir = tmp_path / "model"
    code, out, err = run(capsys, "train", toy_path, "--out", out_dir, *TINY_ARGS)
    assert code == 0, err
    history = qdup.load(out_dir).info["history"]
    aucs = [h["validation_auc"] for h in history]
    best = aucs.index(max(aucs))  # the default recipe selects by validation AUC
    trained = qdup.load(out_dir)
    stored = trained.info["search_threshold"]  # calibrated as `qdup calibrate-search` would
    assert out == (f"saved {out_dir} (best epoch {best + 1}, chosen by validation AUC {aucs[best]:.4f})\n"
                   f"search threshold {stored['threshold']:.4f}: {stored['flagged_share']:.1%} of {stored['queries']} "
                   f"validation queries flagged, precision {stored['precision']:.3f}\n")
    again = calibrate_on_pairs(trained, qdup.read_pairs(toy_path))
    assert trained.search_threshold == pytest.approx(again.threshold, abs=1e-5) and again.precision >= 0.8

    code, out, _ = run(capsys, "evaluate", out_dir, toy_path, "--split", "test", "--threshold", "0.7")
    assert code == 0
    assert "pairs:      160 (test)" in out and "threshold:  0.7000" in out
    assert "confusion:  [[TN " in out and "ROC AUC:" in out

    code, out, _ = run(capsys, "evaluate", out_dir, toy_path, "--json")
    report = json.loads(out)
    assert report["pairs"] == 720 and report["split"] == "all"
    (tn, fp), (fn, tp) = report["confusion_matrix"]
    assert tn + fp + fn + tp == 720
    assert report["accuracy"] == pytest.approx((tn + tp) / 720)

    code, out, _ = run(capsys, "predict", out_dir, "How do I learn Python?", "How can I learn Python?")
    assert code == 0
    similarity, verdict = out.split(" ", 1)
    threshold = qdup.load(out_dir).threshold  # calibrated on the validation pairs by the default recipe
    assert threshold != 0.7 and qdup.load(out_dir).info["calibration"]["accuracy_threshold"] == \
        pytest.approx(threshold, abs=1e-4)
    expected = "duplicate" if float(similarity) > threshold else "not duplicate"
    assert verdict == f"{expected} (threshold {threshold:.2f})\n"

    code, out, _ = run(capsys, "predict", out_dir, "A?", "A?", "--json", "--threshold", "0.5")
    result = json.loads(out)
    [score] = qdup.load(out_dir).score(["A?"], ["A?"])  # the default recipe's re-ranker: P(duplicate)
    assert result["is_duplicate"] is True and result["score"] == pytest.approx(float(score), abs=1e-6)
    assert result["similarity"] == result["score"]  # its name before, kept for older scripts


def test_the_pair_score_is_named_for_what_it_is(capsys):
    for command in ("predict", "evaluate"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and "Cosine above" not in out and "cosine similarity" not in out
        assert "re-ranker's duplicate probability" in " ".join(out.split())


def test_train_refuses_existing_output(capsys, toy_path, tmp_path):
    assert run(capsys, "train", toy_path, "--out", tmp_path / "m", *TINY_ARGS)[0] == 0
    (tmp_path / "m" / "keep.txt").write_text("precious")
    code, _, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", *TINY_ARGS)
    assert code == 1
    assert err == f"Error: {tmp_path / 'm'} already exists (use --force to replace it)\n"
    assert (tmp_path / "m" / "keep.txt").read_text() == "precious"
    code, _, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", "--force", *TINY_ARGS)
    assert code == 0 and not (tmp_path / "m" / "keep.txt").exists()


@pytest.mark.parametrize("args, message", [
    (["train", "missing.tsv", "--out", "x"], "Error: missing.tsv: no such file\n"),
    (["train", "{toy}", "--out", "{tmp}/m", "--epochs", "0"], "Error: epochs must be a positive integer, got 0\n"),
    (["evaluate", "{tmp}/nothing", "{toy}"], "Error: {tmp}/nothing: no such model folder\n"),
    (["predict", "{toy}", "a?", "b?"], "Error: {toy} is a file, not a model folder\n"),  # was 'no such model folder'
    (["evaluate", "{model}", "{toy}", "--threshold", "1.5"], "Error: threshold must be in [-1, 1], got 1.5\n"),
    (["predict", "{model}", "a?", "b?", "--threshold", "-2"], "Error: threshold must be in [-1, 1], got -2.0\n"),
    (["predict", "{model}", "a?", "b?", "c?"], "Error: expected [MODEL] QUESTION1 QUESTION2, got 4 arguments\n"),
    (["evaluate", "{model}", "{toy}", "x"], "Error: expected [MODEL] DATA, got 3 arguments\n"),
    (["train", "{toy}", "--out", "{tmp}/m", "--recipe", "magic"], "Error: Invalid value for '--recipe': "
     "'magic' is not one of 'default', 'reference', 'transformer'.\n"),
])
def test_errors_are_one_line_exit_1(capsys, toy_path, tiny_model_dir, tmp_path, args, message):
    fill = {"toy": toy_path, "tmp": tmp_path, "model": tiny_model_dir}
    code, out, err = run(capsys, *[a.format(**fill) for a in args])
    assert code == 1
    assert err == message.format(**fill)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("args, kind", [
    (["decisions", "export", "{idx}", "--force", "--out"], "file"),
    (["train", "{toy}", "--force", "--quiet", "--out"], "folder"),
    (["refit", "{toy}", "--decisions", "{idx}", "--force", "--quiet", "--out"], "folder"),
    (["distill", "{model}", "--questions", "{questions}", "--force", "--out"], "folder"),
    (["index", "build", "{questions}", "--model", "{model}", "--force", "--quiet", "--out"], "folder"),
    (["import-keras", "{tmp}/model.h5", "--force", "--out"], "folder"),
    (["mine", "{idx}", "--quiet", "--out"], "file"),
    (["encode", "{questions}", "--model", "{model}", "--out"], "file"),
    # Other paths a command writes: evaluate wrote no plots, refit used its default cache.
    (["evaluate", "{model}", "{toy}", "--plots"], "folder"),
    (["refit", "{toy}", "--decisions", "{idx}", "--out", "{tmp}/r", "--quiet", "--cache"], "folder"),
])
def test_an_empty_out_is_refused_naming_the_option(capsys, toy_path, tiny_model_dir, tmp_path, monkeypatch, args,
                                                   kind):
    # "" was read as the working folder: `decisions export --out "" --force` said "Error: .: Device or
    # resource busy", `train --out ""` ". already exists" (with --force it trained, then could not save),
    # and `index build --out "" --force` left a .lock there.
    questions = tmp_path / "q.txt"
    questions.write_text("How do I learn Python?\nWhat is Python?\n")
    assert run(capsys, "index", "build", questions, "--model", tiny_model_dir, "--out", tmp_path / "idx", "-q")[0] == 0
    assert run(capsys, "decide", tmp_path / "idx", "--query", "2", "--match", "1", "--duplicate")[0] == 0
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    fill = {"toy": toy_path, "tmp": tmp_path, "model": tiny_model_dir, "idx": tmp_path / "idx", "questions": questions}
    assert run(capsys, *[a.format(**fill) for a in args], "") == (1, "", f"Error: {args[-1]} must name a {kind}\n")
    assert not any((tmp_path / "cwd").iterdir())


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_an_endless_questions_file_is_refused_before_the_teacher_loads(capsys, tmp_path, monkeypatch):
    from qdup.data import textfiles

    # It was read until memory ran out; a FIFO (`--questions <(...)`) is still read (tests/data).
    monkeypatch.setattr(textfiles, "MAX_LINE", 1000)
    code, _, err = run(capsys, "distill", tmp_path / "no-teacher", "--questions", "/dev/zero", "--out", tmp_path / "s")
    assert (code, err) == (1, "Error: /dev/zero: line 1 is longer than 1,000 characters (expected a file of questions)\n")


def test_bad_data_file_is_one_line(capsys, tmp_path, tiny_model_dir):
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t1\t2\t\xff?\tb\t1\n")
    code, _, err = run(capsys, "evaluate", tiny_model_dir, bad)
    assert code == 1
    assert err == f"Error: {bad}: line 2 is not valid UTF-8 (byte 0xff); re-save the file as UTF-8\n"


@pytest.mark.parametrize("q1, q2, message", [
    ("", "x", "Error: question 1 is empty (no words once punctuation is removed)\n"),
    ("???", "!!!", "Error: question 1 is empty (no words once punctuation is removed)\n"),
    ("A real question?", "  ?  ", "Error: question 2 is empty (no words once punctuation is removed)\n"),
    ("caf\udce9?", "x", "Error: question 1 is not valid Unicode text (undecodable bytes?); use UTF-8\n"),
])
def test_empty_or_invalid_questions_are_refused_like_search_does(capsys, tiny_model_dir, q1, q2, message):
    code, out, err = run(capsys, "predict", tiny_model_dir, q1, q2)
    assert (code, out, err) == (1, "", message)


def test_undecodable_argv_bytes_are_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    qdup_script = Path(sys.executable).parent / "qdup"
    for args in ([b"predict", b"caf\xe9 au lait?", b"coffee?"], [b"search", b"no-index-\xff", b"caf\xe9?"]):
        done = subprocess.run([str(qdup_script), *args], capture_output=True, cwd=tmp_path)
        assert done.returncode == 1 and done.stderr.count(b"\n") == 1 and done.stderr.startswith(b"Error: ")
        assert b"Traceback" not in done.stderr


def test_every_command_is_documented_with_an_example():
    commands = dict(cli.commands)
    for group in [c for c in commands.values() if hasattr(c, "commands")]:
        commands.update({f"{group.name} {n}": c for n, c in group.commands.items()})
    for name, command in commands.items():
        if hasattr(command, "commands"):
            continue
        assert command.help and "Example:" in command.help, f"qdup {name} has no example in its help"


def test_train_set_passes_any_setting(capsys, toy_path, tmp_path):
    code, _, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", "--recipe", "reference", *TINY_ARGS,
                       "--set", "dropout=0.2", "--set", "lowercase=yes", "--set", "select=auc")
    assert code == 0, err
    training = qdup.TrainConfig.from_dict(qdup.load(tmp_path / "m").info["training"])
    assert (training.model.dropout, training.model.lowercase, training.select) == (0.2, True, "auc")


@pytest.mark.parametrize("setting, message", [
    ("colour=red", "Error: --set takes KEY=VALUE with KEY one of "),
    ("dropout", "Error: --set takes KEY=VALUE with KEY one of "),
    ("epochs=many", "Error: --set epochs: expected int, got 'many'\n"),
    ("bidirectional=maybe", "Error: --set bidirectional: expected bool, got 'maybe'\n"),
])
def test_train_set_rejects_bad_settings(capsys, toy_path, tmp_path, setting, message):
    code, _, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", "--set", setting)
    assert code == 1 and err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "m").exists()


def test_train_device_is_checked(capsys, toy_path, tmp_path):
    code, _, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", "--device", "toaster")
    assert code == 1 and err == "Error: unknown device 'toaster' (use cpu or cuda)\n"


@pytest.mark.parametrize("device", ["mps", "meta", "xla"])
def test_train_refuses_devices_it_does_not_run_on(capsys, toy_path, tmp_path, device):
    # torch knows them: training started, and ended in a traceback (mps, xla: torch not built for
    # them; meta: an operation it lacks).
    code, _, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", "--device", device, *TINY_ARGS)
    assert (code, err) == (1, f"Error: device {device!r} is not supported (use cpu or cuda)\n")


def test_train_refuses_a_gpu_this_machine_lacks(capsys, toy_path, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    code, _, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", "--device", "cuda:1", *TINY_ARGS)
    assert (code, err) == (1, "Error: device 'cuda:1' is not available here (CUDA GPUs: 1, cuda:0 the first)\n")


def test_set_may_name_a_setting_that_has_its_own_option(capsys, toy_path, tmp_path):
    code, _, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", "--recipe", "reference",
                       "--batch-size", "32", "--quiet", "--set", "dim=8", "--set", "epochs=1")
    assert code == 0, err
    assert qdup.load(tmp_path / "m").dim == 8


def test_force_never_replaces_a_folder_that_is_not_a_model(capsys, toy_path, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("precious")
    code, _, err = run(capsys, "train", toy_path, "--out", tmp_path / "src", "--force", *TINY_ARGS)
    assert code == 1
    assert err == f"Error: {tmp_path / 'src'} exists and is not a qdup-model folder; refusing to replace it\n"
    assert (tmp_path / "src" / "main.py").read_text() == "precious"


def test_unwritable_output_is_one_line(capsys, toy_path, tmp_path):
    code, _, err = run(capsys, "evaluate", toy_path, "--plots", toy_path / "x")  # a file as a folder
    assert code == 1 and err.startswith("Error: ") and err.count("\n") == 1


def test_json_has_no_nan(capsys, toy_path):
    code, out, _ = run(capsys, "evaluate", toy_path, "--split", "train", "--json")  # duplicates only
    assert code == 0 and "NaN" not in out and json.loads(out)["roc_auc"] is None


def test_negative_seed_is_refused(capsys, toy_path, tmp_path):
    code, _, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", "--seed", "-1")
    assert code == 1 and err == "Error: seed must be an integer in [0, 2**32), got -1\n"


def test_train_without_calibration_stores_no_search_threshold(capsys, toy_path, tmp_path):
    code, out, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", *TINY_ARGS, "--set", "calibrate=false")
    assert code == 0, err
    assert qdup.load(tmp_path / "m").search_threshold is None and "search threshold" not in out


@pytest.mark.parametrize("error, why", [
    # Few or easy validation queries: the error's advice (a lower precision) is for calibrate-search.
    (DataError("no threshold reaches precision 0.8 on these 52 queries (best: 0.500); try a lower precision"),
     "no threshold reaches precision 0.8 on these 52 queries (best: 0.500)"),
    # The temporary index of the validation search could not be written: the training (hours
    # on a complete file) is saved all the same.
    (OSError(28, "No space left on device"), "[Errno 28] No space left on device"),
])
def test_a_model_whose_search_threshold_cannot_be_chosen_is_saved_without_one(capsys, toy_path, tmp_path,
                                                                               monkeypatch, error, why):
    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr("qdup.evaluation.search_calibration.calibrate_on_pairs", failing)
    code, out, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", *TINY_ARGS)
    assert code == 0, err
    assert out.splitlines()[1] == f"no search threshold ({why}): `qdup calibrate-search --precision P` can store one"
    model = qdup.load(tmp_path / "m")
    assert model.search_threshold is None and "calibration" in model.info  # the pair threshold is kept


def test_reference_recipe_says_the_epoch_was_chosen_by_loss(capsys, toy_path, tmp_path):
    code, out, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", "--recipe", "reference", *TINY_ARGS)
    assert code == 0, err
    losses = [h["validation_loss"] for h in qdup.load(tmp_path / "m").info["history"]]
    best = losses.index(min(losses))
    # ... and, keeping SPEC's thresholds (no calibration), stores no search threshold either.
    assert out == f"saved {tmp_path / 'm'} (best epoch {best + 1}, chosen by validation loss {losses[best]:.4f})\n"


def test_train_into_an_unwritable_place_fails_before_training(capsys, toy_path, tmp_path, monkeypatch):
    from qdup.training import trainer as training

    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("trained before checking the output"))
    (tmp_path / "file").write_text("in the way")
    code, _, err = run(capsys, "train", toy_path, "--out", tmp_path / "file" / "m", *TINY_ARGS)
    assert (code, err) == (1, f"Error: {tmp_path / 'file' / 'm'}: cannot write there (Not a directory)\n")


def test_progress_without_a_terminal_is_a_few_plain_lines(capsys, toy_path, tmp_path):
    # capsys's stderr is not a TTY, as in a CI log: no carriage-return bar, one line per epoch.
    code, _, err = run(capsys, "train", toy_path, "--out", tmp_path / "m", "--epochs", "2", "--batch-size", "32",
                       "--dim", "8", "--recipe", "reference")
    assert code == 0 and "\r" not in err
    assert [line.split(":")[0] for line in err.splitlines()] == ["epoch 1", "epoch 2"]
    (tmp_path / "q.txt").write_text("".join(f"question {n}?\n" for n in range(1200)))
    code, _, err = run(capsys, "index", "build", tmp_path / "q.txt", "--model", tmp_path / "m", "--out", tmp_path / "idx")
    assert (code, err) == (0, "encoding: batch 1/3\nencoding: batch 2/3\nencoding: batch 3/3\n")


def test_the_readme_output_folders_are_ignored_by_git():
    from helpers import ROOT

    readme, ignored = (ROOT / "README.md").read_text(), (ROOT / ".gitignore").read_text().split()
    for folder in ("models", "plots"):  # `qdup train ... --out models/quora`, `--plots plots/`
        assert f" {folder}/" in readme and f"/{folder}/" in ignored


def test_pairs_of_one_label_say_their_auc_is_undefined(capsys, toy_path, tmp_path):
    # Their AUC is NaN: `train` chose the epoch by the loss but named the AUC (a format error
    # on None), and `evaluate` printed "ROC AUC: nan".
    lines = toy_path.read_text(encoding="utf-8").splitlines()
    (tmp_path / "dup.tsv").write_text("\n".join(lines[:1] + [x for x in lines[1:] if x.endswith("\t1")]) + "\n",
                                      encoding="utf-8")
    code, out, err = run(capsys, "train", tmp_path / "dup.tsv", "--out", tmp_path / "m", "--recipe", "reference",
                         *TINY_ARGS, "--set", "select=auc", "--set", "calibrate=false")
    assert code == 0, err
    assert out.startswith(f"saved {tmp_path / 'm'} (best epoch ") and "chosen by validation loss " in out
    code, out, err = run(capsys, "evaluate", tmp_path / "m", tmp_path / "dup.tsv")
    assert code == 0, err
    assert "ROC AUC:    undefined (every pair has the same label)\n" in out


HEADER = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"


@pytest.mark.parametrize("rows, message", [
    ("", "too few duplicate pairs to split: 0 in the training pool (need at least 3)"),
    ("1\t1\t2\tHow do I cook rice?\tWhat is love?\t0\n",
     "too few duplicate pairs to split: 0 in the training pool (need at least 3)"),
])
@pytest.mark.parametrize("command", [["calibrate", "{data}", "--model", "{model}"],
                                     ["calibrate-search", "{data}", "--model", "{model}"],
                                     ["evaluate", "{model}", "{data}", "--split", "test"],
                                     ["train", "{data}", "--out", "{tmp}/m"],
                                     ["refit", "{model}", "{data}", "--decisions", "{data}", "--out", "{tmp}/m"]])
def test_pairs_that_cannot_be_split_are_named_in_the_error(capsys, tiny_model_dir, tmp_path, rows, message, command):
    # The error said what was wrong but not of which file ("too few duplicate pairs to split").
    data = tmp_path / "pairs.tsv"
    data.write_text(HEADER + rows, encoding="utf-8")
    fill = {"data": data, "model": tiny_model_dir, "tmp": tmp_path}
    code, _, err = run(capsys, *[a.format(**fill) for a in command])
    assert (code, err) == (1, f"Error: {data}: {message}\n")


@pytest.mark.parametrize("rows, message", [
    ("", "too few duplicate pairs to split: 0 in the training pool (need at least 3)"),
    ("1\t1\t2\tHow?\tWhy?\tyes\n", "line 2: is_duplicate must be 0 or 1, got 'yes'")])
def test_calibrate_search_refuses_its_pairs_before_the_model_loads(capsys, tmp_path, monkeypatch, rows, message):
    # The model loaded first (a transformer's: many seconds), then the file was read and split.
    monkeypatch.setattr("qdup.model.load", lambda *a, **k: pytest.fail("loaded the model before the check"))
    data = tmp_path / "pairs.tsv"
    data.write_text(HEADER + rows, encoding="utf-8")
    code, _, err = run(capsys, "calibrate-search", data, "--model", tmp_path / "model")
    assert (code, err) == (1, f"Error: {data}: {message}\n")


def test_no_validation_queries_names_the_file(capsys, tiny_model_dir, tmp_path):
    # Five duplicates split 4 / 1; the one validation duplicate asks its own text: no query.
    rows = [f"{n}\t{2 * n}\t{2 * n + 1}\tWhat is question {n}?\tWhat is question {n} really?\t1\n" for n in range(4)]
    data = tmp_path / "pairs.tsv"
    data.write_text(HEADER + "".join(rows) + "9\t20\t20\tHow?\tHow?\t1\n", encoding="utf-8")
    code, _, err = run(capsys, "calibrate-search", data, "--model", tiny_model_dir)
    assert (code, err) == (1, f"Error: {data}: no validation duplicates to calibrate on\n")


@pytest.mark.parametrize("lines, split, message", [
    (1, "all", "no pairs to evaluate"), (30, "test", "no pairs to evaluate in its test split")])
def test_evaluate_names_the_file_without_pairs_to_score_before_the_model_loads(capsys, toy_path, tmp_path,
                                                                                monkeypatch, lines, split, message):
    # "no pairs to evaluate", naming no file (29 pairs: and no split), once the model had loaded.
    data = tmp_path / "few.tsv"
    data.write_text("".join(toy_path.read_text(encoding="utf-8").splitlines(keepends=True)[:lines]), encoding="utf-8")
    monkeypatch.setattr("qdup.model.load", lambda *a, **k: pytest.fail("loaded the model before the check"))
    assert run(capsys, "evaluate", data, "--split", split) == (1, "", f"Error: {data}: {message}\n")


@pytest.mark.parametrize("command, content", [
    (["train", "{data}", "--out", "{out}", "--recipe", "reference", "--epochs", "1"], "pairs"),
    (["refit", "{base}", "{data}", "--decisions", "{few}", "--out", "{out}", "--cache", "{cache}"], "pairs"),
    (["refit", "{base}", "{toy}", "--decisions", "{data}", "--out", "{out}", "--cache", "{cache}"], "few"),
    (["distill", "{base}", "--questions", "{data}", "--out", "{out}", "--epochs", "1"], "questions")])
def test_an_input_inside_the_out_folder_is_refused_not_replaced_with_it(capsys, rerank_model, toy_path, tmp_path,
                                                                         command, content):
    # --force replaced the folder with the new model: the file it was made from was lost with it.
    out, base = rerank_model.save(tmp_path / "m"), rerank_model.save(tmp_path / "base")
    few = tmp_path / "decisions.tsv"  # verdicts on a few pairs: the validation pairs stay to calibrate on
    few.write_text("".join(toy_path.read_text(encoding="utf-8").splitlines(keepends=True)[:40]), encoding="utf-8")
    data = out / ("questions.txt" if content == "questions" else "pairs.tsv")
    data.write_bytes({"pairs": toy_path, "few": few, "questions": ROOT / "examples" / "questions.txt"}[content]
                     .read_bytes())
    before = data.read_bytes()
    fill = {"data": data, "out": out, "toy": toy_path, "base": base, "few": few, "cache": tmp_path / "cache"}
    code, _, err = run(capsys, *[a.format(**fill) for a in command], "--force", "--quiet")
    assert (code, err) == (1, f"Error: {data} is inside --out {out}, which the new model replaces: move it out first\n")
    assert data.read_bytes() == before


def test_index_build_refuses_its_questions_inside_the_index_it_replaces(capsys, tiny_model_dir, tmp_path):
    index, questions = tmp_path / "idx", tmp_path / "idx" / "questions.txt"
    assert run(capsys, "index", "build", ROOT / "examples" / "questions.txt", "--model", tiny_model_dir,
               "--out", index, "-q")[0] == 0
    questions.write_bytes((ROOT / "examples" / "questions.txt").read_bytes())  # kept with the index it was built from
    code, _, err = run(capsys, "index", "build", questions, "--model", tiny_model_dir, "--out", index, "--force", "-q")
    assert (code, err) == (1, f"Error: {questions} is inside --out {index}, which the new index replaces: "
                              "move it out first\n")
    assert questions.read_bytes() == (ROOT / "examples" / "questions.txt").read_bytes()
