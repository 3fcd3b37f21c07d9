import copy
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import qdup
from qdup.encoders.lstm.encoder import LstmEncoder
from qdup.data.questions import check_questions
from qdup.errors import ModelLoadError, OutputExistsError

QUESTIONS = ["How do I learn Python?", "What is the best way to cook rice?", ""]


def test_load_gives_identical_vectors(tiny_model, tiny_model_dir):
    loaded = qdup.load(tiny_model_dir)
    assert np.array_equal(loaded.encode(QUESTIONS), tiny_model.encode(QUESTIONS))
    assert loaded.fingerprint == tiny_model.fingerprint
    assert loaded.encoder.vocabulary.tokens == tiny_model.encoder.vocabulary.tokens
    assert loaded.info["best_epoch"] == tiny_model.info["best_epoch"]


def test_folder_contents(tiny_model_dir):
    assert sorted(os.listdir(tiny_model_dir)) == ["config.json", "model.safetensors", "vocab.txt"]
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["format"] == "qdup-model" and config["model"]["dim"] == 32
    assert {"qdup", "torch", "python"} <= set(config["versions"])
    assert config["training"]["recipe"] == "reference + dim=32, epochs=4, batch_size=32, seed=1"  # conftest.TINY


def test_refuses_existing_folder_unless_forced(tiny_model, tmp_path):
    target = tiny_model.save(tmp_path / "m")
    (target / "marker").write_text("old")
    with pytest.raises(OutputExistsError, match="already exists"):
        tiny_model.save(target)
    assert (target / "marker").exists()
    tiny_model.save(target, force=True)
    assert not (target / "marker").exists() and qdup.load(target).dim == 32


def test_failed_save_leaves_nothing_behind(tiny_model, tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(tiny_model.encoder.vocabulary, "save", explode)
    with pytest.raises(qdup.OutputError) as error:
        tiny_model.save(tmp_path / "m")
    assert str(error.value) == f"{tmp_path / 'm'}: cannot write the model (disk full)"  # not the temp folder
    assert os.listdir(tmp_path) == []


def copy_model(src, dst):
    dst.mkdir()
    for name in os.listdir(src):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "config.json").unlink(), "not a qdup model folder (no config.json)"),
    (lambda d: (d / "config.json").write_text("{not json"), "config.json is corrupt"),
    (lambda d: (d / "config.json").write_text('{"format": "keras"}'), "not a qdup model folder"),
    (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:100]),
     "does not match its checksum"),
    (lambda d: ((d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:100]),
                edit_config(d, lambda c: c.pop("checksums"))), "corrupt or truncated weights"),
    (lambda d: (d / "model.safetensors").unlink(), "model.safetensors is missing"),
    (lambda d: ((d / "vocab.txt").write_text("\n[UNK]\nonly\n"), edit_config(d, lambda c: c.pop("checksums"))),
     "vocab.txt has 3 tokens"),
])
def test_damaged_folders_give_one_line(tiny_model_dir, tmp_path, damage, message):
    assert_one_line_load_error(tiny_model_dir, tmp_path, damage, message)


def assert_one_line_load_error(tiny_model_dir, tmp_path, damage, message):
    folder = copy_model(tiny_model_dir, tmp_path / "m")
    damage(folder)
    with pytest.raises(ModelLoadError) as error:
        qdup.load(folder)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_newer_format_version_is_refused(tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = 99
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="format version 99 is not supported"):
        qdup.load(folder)


def test_encode_refuses_a_batch_size_below_one_and_texts_that_are_not_text(tiny_model):
    # batch_size=0 looped for ever (the batching appended empty chunks), a None was an AttributeError.
    for batch_size in (0, -1, 2.5, True):
        with pytest.raises(qdup.ConfigError, match=f"^batch_size must be a positive integer, got {batch_size!r}$"):
            tiny_model.encode(["How do I learn Python?"], batch_size=batch_size)
    for text in (None, 5, b"bytes?"):
        with pytest.raises(qdup.QuestionError, match=f"^question 2 is not text \\(got {type(text).__name__}\\)$"):
            tiny_model.encode(["How do I learn Python?", text])
    assert tiny_model.encode(["", "Why?"], batch_size=1).shape == (2, tiny_model.dim)  # empty texts still encode


@pytest.mark.parametrize("given, kind", [({"How do I learn Python?": 1}, "dict"), ({"Why?", "How?"}, "set"),
                                         (5, "int"), (None, "NoneType")])
def test_encode_and_score_refuse_a_mapping_a_set_and_a_non_collection(tiny_model, given, kind):
    # A dict's keys were encoded (and scored), a set's in an order no caller chose; 5 was a TypeError.
    with pytest.raises(qdup.ConfigError, match=f"^texts must be a list of strings, got {kind}$"):
        tiny_model.encode(given)
    for method in (tiny_model.score, tiny_model.similarity):
        with pytest.raises(qdup.ConfigError, match=f"^questions2 must be a list of strings, got {kind}$"):
            method(["Why?"], given)
    with pytest.raises(qdup.ConfigError, match=f"^questions must be a list of strings, got {kind}$"):
        check_questions(given)


def test_encode_and_score_read_a_generator_once_and_refuse_two_strings(tiny_model):
    questions = ["How do I learn Python?", "Best way to learn Python?"]
    # A generator was read by the check and reached the encoder empty: (0, dim), no error.
    np.testing.assert_array_equal(tiny_model.encode(q for q in questions), tiny_model.encode(questions))
    np.testing.assert_array_equal(tiny_model.score(iter(questions[:1]), (q for q in questions[1:])),
                                  tiny_model.score(questions[:1], questions[1:]))
    # Two strings were scored character by character: one score per letter.
    for method in (tiny_model.score, tiny_model.similarity):
        with pytest.raises(qdup.ConfigError, match=r"^questions1 and questions2 must be lists, not strings"):
            method("Why?", "How?")


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="no such model folder"):
        qdup.load(tmp_path / "nothing")


def test_an_empty_path_is_refused_not_read_as_the_current_folder(tiny_model_dir, monkeypatch):
    monkeypatch.chdir(tiny_model_dir)  # Path("") is ".": the model here was loaded without a word
    with pytest.raises(qdup.ConfigError, match=r"^the model folder path is empty$"):
        qdup.load("")


def test_saved_files_get_the_usual_permissions(tiny_model, tmp_path):
    folder = tiny_model.save(tmp_path / "m")
    mask = os.umask(0)
    os.umask(mask)
    assert (folder.stat().st_mode & 0o777) == 0o777 & ~mask
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        assert ((folder / name).stat().st_mode & 0o777) == 0o666 & ~mask


def test_changed_weights_refresh_vectors_and_fingerprint(default_like_model):
    model = default_like_model
    before, fingerprint = model.encode(["how do i learn python"]), model.fingerprint
    with torch.no_grad():
        model.encoder.network.embedding.weight.mul_(3)
    assert not np.allclose(model.encode(["how do i learn python"]), before)
    assert model.fingerprint != fingerprint


def _replace_ngrams(encoder):
    encoder.ngrams.weight.data = encoder.ngrams.weight.data * 2


def _load_doubled(encoder):
    encoder.load_state_dict({k: v * 2 for k, v in encoder.state_dict().items()})


def _optimizer_step(encoder):
    encoder.ngrams.weight.grad = torch.ones_like(encoder.ngrams.weight)
    torch.optim.SGD([encoder.ngrams.weight], lr=0.1).step()


@pytest.mark.parametrize("change", [_replace_ngrams, _load_doubled, _optimizer_step])
def test_any_weight_change_gives_fresh_fused_table_and_fingerprint(default_like_model, change):
    model = default_like_model
    questions = ["how do i learn python", "what is python"]
    before, fingerprint = model.encode(questions), model.fingerprint
    change(model.encoder.network)
    after = model.encode(questions)
    # A model built afresh from the changed weights is the truth the cached table must match.
    fresh = qdup.QdupModel(LstmEncoder(model.encoder.vocabulary, copy.deepcopy(model.encoder.network))).encode(questions)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, fresh, atol=1e-6)
    assert model.fingerprint != fingerprint


@pytest.fixture
def default_like_model(toy_split):
    config = qdup.TrainConfig.from_recipe("default", epochs=1, batch_size=32, negatives_per_batch=32,
                                          dim=8, hidden=4, ngram_buckets=64)
    return qdup.train(toy_split, config)


def test_model_config_booleans_are_checked(tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["model"]["lowercase"] = "false"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="lowercase must be true or false"):
        qdup.load(folder)


def edit_config(folder, change):
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))


def flip_byte(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def nan_weights(folder):
    import safetensors.torch

    tensors = safetensors.torch.load_file(str(folder / "model.safetensors"))
    tensors["embedding.weight"][3, 0] = float("nan")
    (folder / "model.safetensors").write_bytes(safetensors.torch.save(tensors))
    edit_config(folder, lambda c: c.pop("checksums"))  # as an older save would have it


def retyped_weights(folder, dtype, big=False):
    import safetensors.torch

    tensors = safetensors.torch.load_file(str(folder / "model.safetensors"))
    tensors = {name: tensor.to(dtype) for name, tensor in tensors.items()}
    if big:
        tensors["embedding.weight"][3, 0] = 1e300  # a float64, beyond float32
    (folder / "model.safetensors").write_bytes(safetensors.torch.save(tensors))
    edit_config(folder, lambda c: c.pop("checksums"))  # as an older save would have it


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_weights_stored_as_another_float_type_load_as_float32(tiny_model, tiny_model_dir, tmp_path, dtype):
    # They loaded, and the first encode failed with a traceback (an LSTM of float16 weights).
    folder = copy_model(tiny_model_dir, tmp_path / "m")
    retyped_weights(folder, getattr(torch, dtype))
    loaded = qdup.load(folder)
    assert {t.dtype for t in loaded.encoder.network.state_dict().values()} == {torch.float32}
    questions = ["How do I learn Python?", "What is the best way to learn Python?"]
    np.testing.assert_allclose(loaded.encode(questions), tiny_model.encode(questions), atol=2e-3)


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "config.json").write_text("[" * 100_000 + "]" * 100_000), "config.json is corrupt (nested too deeply)"),
    # json.loads refuses a number of over 4,300 digits with a plain ValueError, not a JSONDecodeError.
    (lambda d: (d / "config.json").write_text('{"format": "qdup-model", "threshold": 1' + "0" * 5000 + "}"),
     "config.json is corrupt (Exceeds the limit (4300 digits)"),
    (lambda d: flip_byte(d / "model.safetensors", -5), "model.safetensors does not match its checksum in config.json"),
    (lambda d: (d / "vocab.txt").write_text("\n".join(
        [*(d / "vocab.txt").read_text().split("\n")[:2], *reversed((d / "vocab.txt").read_text().split("\n")[2:-1])]) + "\n"),
     "vocab.txt does not match its checksum in config.json"),
    (nan_weights, "weight embedding.weight holds NaN or infinite values"),
    (lambda d: edit_config(d, lambda c: c.update(threshold=True)), "threshold must be a number in [-1, 1], got True"),
    (lambda d: edit_config(d, lambda c: (c["model"].update(ngram_buckets=10**12), c.pop("checksums"))),
     "weights do not match config.json"),
    (lambda d: edit_config(d, lambda c: (c["model"].update(dim=10**9), c.pop("checksums"))),
     "config.json describes a model too large to build"),
    (lambda d: edit_config(d, lambda c: (c["model"].update(dim=100_000), c.pop("checksums"))),
     "weights do not match config.json"),
    (lambda d: edit_config(d, lambda c: (c["model"].update(ngram_buckets=10**20), c.pop("checksums"))),
     "config.json describes a model too large to build"),  # beyond an int64: torch's TypeError
    (lambda d: retyped_weights(d, torch.int64), "weight embedding.weight is stored as int64, not float32"),
    (lambda d: retyped_weights(d, torch.float64, big=True), "weight embedding.weight holds NaN or infinite values"),
    (lambda d: edit_config(d, lambda c: c.update(checksums="abc")), "checksums must be an object"),
    # A bad search threshold fails the load, not every search afterwards.
    (lambda d: edit_config(d, lambda c: c.update(search_threshold={"threshold": "abc"})),
     "config.json: search_threshold: threshold must be a number in [-1, 1], got 'abc'"),
    (lambda d: edit_config(d, lambda c: c.update(search_threshold=0.8)),
     "config.json: search_threshold must be an object with a threshold, got 0.8"),
    (lambda d: edit_config(d, lambda c: c.update(search_threshold={"threshold": 0.9, "floor": "low"})),
     "config.json: search_threshold: threshold must be a number in [-1, 1], got 'low'"),
    # Nothing but plain files: a device never ends, a FIFO never answers, a link may lead anywhere.
    (lambda d: ((d / "vocab.txt").unlink(), (d / "vocab.txt").symlink_to("/dev/zero")),
     "refusing vocab.txt: a link that leads out of the model folder; copy the file into it"),
    (lambda d: ((d / "vocab.txt").unlink(), os.mkfifo(d / "vocab.txt")), "refusing vocab.txt: not a regular file"),
    (lambda d: ((d / "notes").mkdir(), os.mkfifo(d / "notes" / "fifo")),
     "refusing notes/fifo: not a regular file"),
])
def test_hardened_loading_gives_one_line(tiny_model_dir, tmp_path, damage, message):
    assert_one_line_load_error(tiny_model_dir, tmp_path, damage, message)


def test_checksums_are_recorded_and_folders_without_them_still_load(tiny_model, tiny_model_dir, tmp_path):
    import hashlib

    checksums = json.loads((tiny_model_dir / "config.json").read_text())["checksums"]
    assert checksums == {n: hashlib.sha256((tiny_model_dir / n).read_bytes()).hexdigest()
                         for n in ("model.safetensors", "vocab.txt")}
    folder = copy_model(tiny_model_dir, tmp_path / "m")
    edit_config(folder, lambda c: c.pop("checksums"))  # saved by qdup before checksums existed
    assert qdup.load(folder).fingerprint == tiny_model.fingerprint
    assert "checksums" not in qdup.load(folder).info


def test_a_link_inside_the_folder_is_fine(tiny_model, tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path / "m")
    (folder / "vocab-copy.txt").write_bytes((folder / "vocab.txt").read_bytes())
    (folder / "vocab.txt").unlink()
    (folder / "vocab.txt").symlink_to("vocab-copy.txt")
    assert qdup.load(folder).fingerprint == tiny_model.fingerprint


def test_builtin_model_carries_a_valid_checksum():
    config = json.loads((qdup.model.BUILTIN_PATH / "config.json").read_text())
    saved = {p.name for p in qdup.model.BUILTIN_PATH.iterdir() if p.name != "config.json"}
    assert set(config["checksums"]) == saved >= {"model.safetensors", "vocab.txt", "reranker-pairs.txt"}
    assert qdup.load().dim == 192


def test_a_search_floor_above_its_threshold_never_hides_a_flagged_match(tiny_model_dir, tmp_path):
    # Calibrations before 506ae7e could store one; the floor then acts as the threshold.
    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "m"))
    edit_config(folder, lambda c: c.update(search_threshold={"threshold": 0.5, "floor": 0.9}))
    loaded = qdup.load(folder)
    assert (loaded.search_threshold, loaded.search_floor) == (0.5, 0.5)
    loaded.info["search_threshold"] = {"threshold": 0.5, "floor": 0.2}
    assert loaded.search_floor == 0.2


@pytest.mark.parametrize("bad", [5, -1.5, float("nan"), float("inf"), "0.5", True, None])
def test_setting_a_threshold_checks_it_as_loading_does(tiny_model, bad):
    # model.threshold = 5 was kept: every pair was "not a duplicate" afterwards, without a word.
    before = tiny_model.threshold
    with pytest.raises(qdup.ConfigError, match=r"^threshold must be (a number )?in \[-1, 1\], got "):
        tiny_model.threshold = bad
    assert tiny_model.threshold == before
    tiny_model.threshold = np.float32(0.25)  # a numpy number is a number
    assert isinstance(tiny_model.threshold, float) and tiny_model.threshold == pytest.approx(0.25)
    assert qdup.predict(tiny_model, "How do I learn Python?", "Best way to learn Python?")[0] == (
        qdup.predict(tiny_model, "How do I learn Python?", "Best way to learn Python?")[1] > 0.25)
    tiny_model.threshold = before


@pytest.mark.parametrize("questions1, questions2, name", [(["How?"], [None], "question 1 of questions2"),
                                                          (["How?", 5], ["Why?", "When?"], "question 2 of questions1")])
def test_score_names_a_question_that_is_not_text_by_its_list(tiny_model, questions1, questions2, name):
    # Counted across both lists: score(["How?"], [None]) blamed "question 2", which is neither list's.
    for method in (tiny_model.score, tiny_model.similarity):
        with pytest.raises(qdup.QuestionError, match=f"^{name} is not text \\(got "):
            method(questions1, questions2)
