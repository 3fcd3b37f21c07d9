"""The encoder registry: config.json's name picks the architecture; an unknown name or a
missing optional group is one line."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

import qdup
from qdup.encoders.base import ENCODERS, architecture


def test_names_pick_their_modules_and_an_unnamed_folder_is_an_lstm():
    assert ENCODERS.names == ("lstm", "transformer")
    assert architecture({"encoder": "lstm"}).__name__ == "qdup.encoders.lstm.encoder"
    assert architecture({}).__name__ == "qdup.encoders.lstm.encoder"  # saved before the seam


@pytest.mark.parametrize("name", ["gru", None, ["lstm"]])
def test_an_unknown_encoder_is_one_line(tiny_model_dir, tmp_path, name):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["encoder"] = name
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(qdup.ModelLoadError) as caught:
        qdup.load(folder)
    assert str(caught.value) == f"{folder}: unknown encoder {name!r} (known: lstm, transformer)"


def test_a_missing_transformers_gives_the_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` fails as if not installed
    monkeypatch.delitem(sys.modules, "qdup.encoders.transformer", raising=False)
    with pytest.raises(qdup.ModelLoadError) as caught:
        architecture({"encoder": "transformer"}, tmp_path)
    assert str(caught.value) == (f"{tmp_path}: the transformer encoder needs transformers; "
                                 "install it with: pip install 'qdup[transformers]'")
