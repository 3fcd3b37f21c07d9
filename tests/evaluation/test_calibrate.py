"""qdup calibrate: the pair threshold chosen on the validation pairs, stored in the model folder."""

from __future__ import annotations

import json
import shutil

import pytest

import qdup
from helpers import TOY_PAIRS, run
from qdup.evaluation import metrics


def test_calibrate_stores_the_validation_accuracy_threshold(capsys, tiny_model_dir, toy_split, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    code, out, err = run(capsys, "calibrate", TOY_PAIRS, "--model", folder)
    assert code == 0 and err == ""
    model = qdup.load(folder)  # the checksums still hold: config.json is not checksummed
    valid = toy_split.validation
    expected, accuracy = metrics.threshold_sweep(
        valid.is_duplicate, model.score(valid.question1, valid.question2)).best("accuracy")
    assert model.threshold == pytest.approx(round(expected, 4), abs=1e-4)
    assert model.info["calibration"]["validation_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert out.startswith(f"threshold {model.threshold:.4f}: validation accuracy {accuracy:.4f}")


def test_dry_run_changes_nothing(capsys, tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    before = (folder / "config.json").read_bytes()
    code, out, _ = run(capsys, "calibrate", TOY_PAIRS, "--model", folder, "--dry-run")
    assert code == 0 and "stored" not in out
    assert (folder / "config.json").read_bytes() == before


def test_protected_entries_stay_protected(tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    for key in ("encoder", "model", "checksums"):
        with pytest.raises(qdup.ConfigError, match=f"config.json entry '{key}' is not writable"):
            qdup.model.write_config_entries(folder, **{key: "x"})
    assert json.loads((folder / "config.json").read_text())["encoder"] == "lstm"


def test_threshold_and_figures_are_stored_together(capsys, tiny_model_dir, tmp_path, monkeypatch):
    # They were two writes of config.json: a failure after the first (a full disk, a kill)
    # left the new threshold next to the old calibration figures.
    from qdup.util import atomic

    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "threshold": 0.5,
                                                    "calibration": {"accuracy_threshold": 0.5}}))
    write, writes = atomic.write_text, []

    def first_write_only(path, text):
        writes.append(path)
        if len(writes) > 1:
            raise OSError(28, "No space left on device", str(path))
        write(path, text)

    monkeypatch.setattr(atomic, "write_text", first_write_only)
    run(capsys, "calibrate", TOY_PAIRS, "--model", folder)
    stored = json.loads((folder / "config.json").read_text())
    assert stored["threshold"] != 0.5  # the calibration was stored...
    assert stored["threshold"] == round(stored["calibration"]["accuracy_threshold"], 4)  # ...all of it


def test_validation_pairs_of_one_kind_are_refused_as_training_refuses_them(capsys, tiny_model_dir, tmp_path,
                                                                            monkeypatch):
    # One rule with training's (steps.check_calibration), naming the file and the kind missing; it
    # said "calibration needs validation pairs of both labels". No --set here to go without one.
    lines = TOY_PAIRS.read_text(encoding="utf-8").splitlines()
    data = tmp_path / "dup.tsv"
    data.write_text("\n".join(lines[:1] + [x for x in lines[1:] if x.endswith("\t1")]) + "\n", encoding="utf-8")
    validation = qdup.reference_split(qdup.read_pairs(data)).validation
    monkeypatch.setattr(qdup.model, "load", lambda *a, **k: pytest.fail("loaded the model before the check"))
    code, out, err = run(capsys, "calibrate", data, "--model", tiny_model_dir)
    assert (code, out, err) == (1, "", f"Error: {data}: the {len(validation)} validation pairs are all duplicates: "
                                       "calibrating the threshold needs non-duplicates too (add some to the file)\n")
