"""import-keras: the reference Keras model's vocabulary and weights give Keras's vectors.

The fixture (tests/fixtures/keras) was made once with TensorFlow 2.21 / Keras 3 by
make_fixture.py: the SPEC §3 architecture at dimension 16, trained two epochs on the toy
pairs, and the vectors Keras gave for a dozen questions, each encoded alone (no padding).
"""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest

import qdup
from helpers import ROOT, run
from qdup.training.keras_import import import_keras

pytest.importorskip("h5py")

FIXTURE = ROOT / "tests" / "fixtures" / "keras"
KERAS = FIXTURE / "reference_tiny.keras"


@pytest.fixture(scope="module")
def expected():
    data = json.loads((FIXTURE / "vectors.json").read_text())
    return data["questions"], np.array(data["vectors"], dtype=np.float32)


def test_fixture_is_small():
    assert KERAS.stat().st_size < 200_000


def test_vectors_match_keras(expected):
    questions, vectors = expected
    model = import_keras(KERAS)
    assert model.encoder.config.dim == 16 and model.encoder.name == "lstm"
    # qdup's vectors do not depend on the batch (padding is masked): all at once, or one by one.
    np.testing.assert_allclose(model.encode(questions), vectors, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.stack([model.encode(q) for q in questions]), vectors, atol=1e-5, rtol=0)
    assert model.threshold == 0.7 and model.encoder.config.lowercase is False


def test_cli_import_then_load_gives_the_same_vectors(capsys, expected, tmp_path):
    questions, vectors = expected
    code, out, err = run(capsys, "import-keras", KERAS, "--out", tmp_path / "m")
    assert (code, err) == (0, "")
    assert out == f"imported {KERAS} into {tmp_path / 'm'} (vocabulary 107, dim 16)\n"
    loaded = qdup.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.encode(questions), vectors, atol=1e-5, rtol=0)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["encoder"] == "lstm" and config["imported"]["keras_version"].startswith("3.")
    code, _, err = run(capsys, "import-keras", KERAS, "--out", tmp_path / "m")  # no silent overwrite
    assert code == 1 and "already exists" in err


def _rewrite(source, target, change):
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = change(item.filename, old.read(item))
            if data is not None:
                new.writestr(item, data)


def _lstm_config(edit):
    def change(name, data):
        if name != "config.json":
            return data
        text = data.decode()
        return edit(text).encode()
    return change


@pytest.mark.parametrize("change, message", [
    (lambda name, data: None if name == "model.weights.h5" else data,
     "model.weights.h5 is missing (not a Keras 3 .keras file)"),
    (lambda name, data: None if name.endswith("vocabulary.txt") else data,
     "expected one TextVectorization vocabulary in assets/, found 0"),
    (_lstm_config(lambda t: t.replace('"return_sequences": true', '"return_sequences": false')),
     "LSTM return_sequences is False; the reference's is True"),
    (_lstm_config(lambda t: t.replace('"class_name": "LSTM"', '"class_name": "GRU"')),
     "not the reference architecture (expected one LSTM layer, found 0)"),
    (lambda name, data: b"[1]" if name == "metadata.json" else data,  # was an AttributeError
     "not a Keras 3 .keras file (metadata.json is not an object)"),
])
def test_other_files_are_refused_with_one_line(capsys, tmp_path, change, message):
    bad = tmp_path / "bad.keras"
    _rewrite(KERAS, bad, change)
    with pytest.raises(qdup.DataError) as caught:
        import_keras(bad)
    assert str(caught.value) == f"{bad}: {message}"
    code, out, err = run(capsys, "import-keras", bad, "--out", tmp_path / "m")
    assert (code, out, err) == (1, "", f"Error: {bad}: {message}\n")
    assert not (tmp_path / "m").exists()


def test_not_a_zip_and_legacy_h5_are_refused(tmp_path):
    (tmp_path / "x.keras").write_text("hello")
    with pytest.raises(qdup.DataError, match=r"x.keras: not a Keras 3 .keras file"):
        import_keras(tmp_path / "x.keras")
    shutil.copy(KERAS, tmp_path / "old.h5")
    with pytest.raises(qdup.DataError, match="legacy .h5 models are not supported"):
        import_keras(tmp_path / "old.h5")


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_a_damaged_compressed_member_is_refused_with_one_line(capsys, tmp_path, method):
    """Was a zlib.error / LZMAError traceback, or bz2's bare "Error: Invalid data stream"."""
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(KERAS) as old, zipfile.ZipFile(bad, "w", method) as new:
        for item in old.infolist():
            new.writestr(item.filename, old.read(item))
        member = new.getinfo("model.weights.h5")
    data = bytearray(bad.read_bytes())
    start = member.header_offset + 30 + len(member.filename) + 100  # inside its compressed data
    data[start:start + 200] = bytes(b ^ 0x55 for b in data[start:start + 200])
    bad.write_bytes(bytes(data))
    code, out, err = run(capsys, "import-keras", bad, "--out", tmp_path / "m")
    assert (code, out) == (1, "")
    assert err.startswith(f"Error: {bad}: model.weights.h5 cannot be read (not a Keras 3 .keras file: ")
    assert err.count("\n") == 1 and not (tmp_path / "m").exists()


@pytest.mark.parametrize("name", ["config.json", "metadata.json"])
def test_deeply_nested_json_is_refused_with_one_line(capsys, tmp_path, name):
    """Was a RecursionError traceback."""
    bad = tmp_path / "bad.keras"
    _rewrite(KERAS, bad, lambda member, data: b"[" * 100_000 + b"]" * 100_000 if member == name else data)
    code, out, err = run(capsys, "import-keras", bad, "--out", tmp_path / "m")
    assert (code, out) == (1, "") and err.startswith(f"Error: {bad}: not a Keras 3 .keras file (")
    assert err.count("\n") == 1 and not (tmp_path / "m").exists()
