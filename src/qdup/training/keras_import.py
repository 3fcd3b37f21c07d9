"""Import the reference Keras model (SPEC §3) into a qdup LSTM model folder.

A Keras 3 ``.keras`` file is a zip of ``config.json`` (the architecture, as JSON),
``model.weights.h5`` (HDF5 arrays) and ``assets/`` (the TextVectorization vocabulary).
qdup reads those three as data, never through Keras: nothing in the file is run, and
custom functions it names (the standardisation, the L2-normalising Lambda) are only
checked by name. The weights map onto ``--recipe reference``'s network:

    Embedding (V, d)                       → embedding.weight
    LSTM kernel (d, 4u), gates i, f, c, o  → lstm.weight_ih_l0 = kernelᵀ (PyTorch's order i, f, g, o)
    LSTM recurrent_kernel (u, 4u)          → lstm.weight_hh_l0 = recurrent_kernelᵀ
    LSTM bias (4u)                         → lstm.bias_ih_l0 (bias_hh_l0 stays 0)

qdup masks padding where the reference does not (SPEC §3), so vectors agree with Keras's
for questions encoded without padding (alone, or in a batch of equal lengths).
Reading HDF5 needs the optional group: ``pip install 'qdup[keras]'`` (h5py).
"""

from __future__ import annotations

import io
import json
import lzma
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..encoders.lstm.encoder import LstmEncoder
from ..encoders.lstm.network import SiameseEncoder
from ..errors import DataError
from ..model import DEFAULT_THRESHOLD, QdupModel
from ..text.vocabulary import Vocabulary
from .recipes import TrainConfig

MAX_MEMBER = 2 << 30  # bytes: refuse larger zip members (a damaged or hostile file)
# TextVectorization standardisations qdup reproduces: (lower-case?) + delete ASCII punctuation.
STANDARDIZE = {"lower_and_strip_punctuation": True, "strip_punctuation": False}
LSTM_SETTINGS = {"activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
                 "return_sequences": True, "go_backwards": False}


def import_keras(path: str | Path) -> QdupModel:
    """The reference-architecture model in a ``.keras`` file, as a qdup model (threshold 0.7).

    >>> qdup.training.keras_import.import_keras("reference.keras").save("models/from-keras")  # doctest: +SKIP
    """
    path = Path(path)
    if path.suffix.lower() == ".h5":
        raise DataError(f"{path}: legacy .h5 models are not supported; save the model as .keras with Keras 3")
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(_member(archive, path, "config.json"))
            layers = _layers(config, path)
            vocabulary, lowercase = _vocabulary(archive, path, layers["TextVectorization"])
            arrays = _arrays(_member(archive, path, "model.weights.h5"), path)
            metadata = json.loads(_member(archive, path, "metadata.json") or "{}")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, ValueError, UnicodeDecodeError, RecursionError) as error:  # JSON: 4,300+ digits, deep
        raise DataError(f"{path}: not a Keras 3 .keras file ({error})") from None
    if not isinstance(metadata, dict):
        raise DataError(f"{path}: not a Keras 3 .keras file (metadata.json is not an object)")
    network = _network(arrays, len(vocabulary), lowercase, path)
    info = {"imported": {"from": path.name, "keras_version": metadata.get("keras_version"),
                         "standardize": layers["TextVectorization"].get("standardize")}}
    return QdupModel(LstmEncoder(vocabulary, network), DEFAULT_THRESHOLD, info)


def _member(archive: zipfile.ZipFile, path: Path, name: str) -> bytes | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        if name == "metadata.json":
            return None
        raise DataError(f"{path}: {name} is missing (not a Keras 3 .keras file)") from None
    if info.file_size > MAX_MEMBER:
        raise DataError(f"{path}: {name} is implausibly large ({info.file_size} bytes)")
    try:
        return archive.read(info)
    # A damaged member's decompressor fails in its own way (zlib, bz2's OSError, lzma, a stream
    # cut short); an encrypted one, or one of a method zipfile lacks, cannot be read at all.
    except (zlib.error, lzma.LZMAError, EOFError, OSError, RuntimeError, NotImplementedError) as error:
        raise DataError(f"{path}: {name} cannot be read (not a Keras 3 .keras file: {error})") from None


def _layers(config, path: Path) -> dict[str, dict]:
    """The reference's layers (by class name) from the architecture; anything else is refused."""
    found: dict[str, list[dict]] = {}

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("class_name"), str) and isinstance(node.get("config"), dict):
                found.setdefault(node["class_name"], []).append(node["config"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    for needed in ("TextVectorization", "Embedding", "LSTM", "GlobalAveragePooling1D"):
        if len(found.get(needed, [])) != 1:
            raise DataError(f"{path}: not the reference architecture (expected one {needed} layer, "
                            f"found {len(found.get(needed, []))})")
    for unsupported in ("Bidirectional", "GRU", "Dense", "Conv1D", "Attention", "MultiHeadAttention"):
        if unsupported in found:
            raise DataError(f"{path}: not the reference architecture (it has a {unsupported} layer)")
    lstm = found["LSTM"][0]
    for key, value in LSTM_SETTINGS.items():
        if lstm.get(key, value) != value:
            raise DataError(f"{path}: LSTM {key} is {lstm.get(key)!r}; the reference's is {value!r}")
    vectorizer = found["TextVectorization"][0]
    if vectorizer.get("split", "whitespace") != "whitespace" or vectorizer.get("ngrams"):
        raise DataError(f"{path}: TextVectorization must split on whitespace without n-grams")
    return {name: configs[0] for name, configs in found.items()}


def _vocabulary(archive: zipfile.ZipFile, path: Path, vectorizer: dict) -> tuple[Vocabulary, bool]:
    standardize = vectorizer.get("standardize")
    if isinstance(standardize, str):
        if standardize not in STANDARDIZE:
            raise DataError(f"{path}: TextVectorization standardize={standardize!r} is not one qdup reproduces "
                            f"({', '.join(STANDARDIZE)}, or the reference's own function)")
        lowercase = STANDARDIZE[standardize]
    elif isinstance(standardize, dict):  # a custom function, by name only: SPEC §2's (punctuation, case kept)
        lowercase = False
    else:
        raise DataError(f"{path}: TextVectorization without standardisation keeps punctuation; qdup deletes it")
    names = [n for n in archive.namelist() if n.startswith("assets/") and n.endswith("/vocabulary.txt")
             and "_lookup_layer" not in n]
    if len(names) != 1:
        raise DataError(f"{path}: expected one TextVectorization vocabulary in assets/, found {len(names)}")
    text = _member(archive, path, names[0]).decode("utf-8")
    tokens = text.split("\n")
    if tokens and tokens[-1] == "":
        tokens = tokens[:-1]
    try:
        return Vocabulary(tokens), lowercase
    except ValueError as error:
        raise DataError(f"{path}: {names[0]}: {error}") from None


def _arrays(data: bytes, path: Path) -> dict[str, np.ndarray]:
    """The model's weights by HDF5 path (the optimizer's slots left out)."""
    try:
        import h5py
    except ImportError:
        raise DataError("reading .keras weights needs h5py: pip install 'qdup[keras]'") from None
    arrays: dict[str, np.ndarray] = {}
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            f.visititems(lambda name, item: arrays.__setitem__(name, np.asarray(item[()], dtype=np.float32))
                         if isinstance(item, h5py.Dataset) and not name.startswith("optimizer/") else None)
    except (OSError, ValueError, TypeError) as error:
        raise DataError(f"{path}: model.weights.h5 is corrupt ({error})") from None
    return arrays


def _one(arrays: dict[str, np.ndarray], suffix: str, path: Path) -> np.ndarray:
    hits = [name for name in arrays if name.endswith(suffix)]
    if len(hits) != 1:
        raise DataError(f"{path}: expected one weight ending in {suffix!r}, found {len(hits)}")
    return arrays[hits[0]]


def _network(arrays: dict[str, np.ndarray], vocab_size: int, lowercase: bool, path: Path) -> SiameseEncoder:
    embedding = _one(arrays, "embedding/vars/0", path)
    kernel, recurrent, bias = (_one(arrays, f"lstm/cell/vars/{i}", path) for i in range(3))
    d, u = embedding.shape[1], recurrent.shape[0]
    if embedding.shape[0] != vocab_size:
        raise DataError(f"{path}: the embedding has {embedding.shape[0]} rows but the vocabulary {vocab_size} tokens")
    if kernel.shape != (d, 4 * u) or recurrent.shape != (u, 4 * u) or bias.shape != (4 * u,):
        raise DataError(f"{path}: LSTM weight shapes {kernel.shape}, {recurrent.shape}, {bias.shape} "
                        f"do not fit embedding size {d}")
    if not all(np.isfinite(a).all() for a in (embedding, kernel, recurrent, bias)):
        raise DataError(f"{path}: weights hold NaN or infinite values")
    shape = replace(TrainConfig.from_recipe("reference").model, vocab_size=vocab_size, dim=int(d),
                    hidden=0 if u == d else int(u), lowercase=lowercase)
    network = SiameseEncoder(shape)
    with torch.no_grad():
        network.embedding.weight.copy_(torch.from_numpy(embedding))
        network.lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        network.lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
        network.lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        network.lstm.bias_hh_l0.zero_()
    return network.eval()
