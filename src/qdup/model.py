"""A trained model: an encoder + scorer + decision threshold, saved as a folder.

Folder layout: ``config.json`` (format, encoder architecture and shape, training settings,
threshold, versions, sha256 of every other file), ``model.safetensors`` (weights; loading
never runs code) and the encoder's vocabulary files (the LSTM's ``vocab.txt``, a
transformer's ``tokenizer.json``; see :mod:`qdup.encoders.base`), plus the scorer's files.

A sentence-transformers / Hugging Face folder also loads as it is; qdup keeps its own
settings for it (threshold, calibration) in a ``qdup.json`` next to the folder's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from . import __version__
from .data.questions import check_encode, check_pairs
from .encoders.base import TextEncoder, architecture, open_pretrained, refuse_unsafe
from .errors import ConfigError, ModelLoadError, OutputError
from .scoring.base import Scorer, load_scorer
from .scoring.cosine import CosineScorer
from .scoring.thresholds import CheckedThreshold, check_search_threshold
from .util import atomic
from .util.folders import given_folder, refuse_special_files
from .util.threads import torch_loaded

torch_loaded()  # a --threads count given before torch was loaded takes effect now (any encoder)

FORMAT = "qdup-model"
FORMAT_VERSION = 1
STAMP = ("config.json", FORMAT)  # what marks a folder as a model that --force may replace
SIDECAR = "qdup.json"  # qdup's settings for a pretrained folder opened as it is
DEFAULT_THRESHOLD = 0.7
BUILTIN_PATH = Path(__file__).parent / "builtin_model"


class QdupModel:
    """Turns questions into unit vectors; duplicates land close together.

    ``encoder`` is one architecture behind :mod:`qdup.encoders.base` (the LSTM of
    :mod:`qdup.encoders.lstm.encoder`, or a pretrained transformer); everything here and downstream
    (index, search, mining, service) only uses :meth:`encode`, :attr:`fingerprint` and the scorer.

    >>> model = load()  # qdup.load(): the built-in model; qdup.load("models/quora") for another
    >>> vectors = model.encode(["How do I learn Python?", "What is the best way to learn Python?"])
    >>> float(vectors[0] @ vectors[1]) > 0.9  # 0.955 here; the last digits vary with the CPU
    True
    """

    threshold = CheckedThreshold()  # the score above which a pair is a duplicate: in [-1, 1]

    def __init__(self, encoder: TextEncoder, threshold: float = DEFAULT_THRESHOLD,
                 info: dict[str, Any] | None = None, scorer: Scorer | None = None):
        self.encoder = encoder
        self.scorer = scorer or CosineScorer()  # turns cosines (+ words) into the score `threshold` applies to
        self.threshold = threshold
        self.info = dict(info or {})  # training settings, history, calibration: kept in config.json
        self._fingerprint: tuple | None = None  # (weights version, sha256)
        self._data_fingerprint: tuple | None = None  # (weights version and scorer, sha256)

    @property
    def search_threshold(self) -> float | None:
        """Score above which a search match is a likely duplicate (None: not calibrated), chosen on
        validation queries for a stated precision; see :mod:`qdup.evaluation.search_calibration`."""
        entry = self.info.get("search_threshold")
        return float(entry["threshold"]) if isinstance(entry, dict) and "threshold" in entry else None

    @property
    def search_floor(self) -> float | None:
        """Score below which a search match is noise, hidden by the service and the page (None:
        not calibrated). Calibrated with the search threshold, see :func:`~qdup.evaluation.search_calibration.search_floor`."""
        entry = self.info.get("search_threshold")
        floor = entry.get("floor") if isinstance(entry, dict) else None
        return min(float(floor), float(entry.get("threshold", floor))) if floor is not None else None  # flagged: shown

    @property
    def dim(self) -> int:
        """Length of the vectors ``encode`` returns."""
        return self.encoder.dim

    @property
    def fingerprint(self) -> str:
        """sha256 of the weights, vocabulary and scorer: identifies the vector space."""
        version = (self.encoder, self.encoder.version())
        if self._fingerprint is None or self._fingerprint[0] != version:
            digest = hashlib.sha256(self.encoder.digest())
            digest.update(self.scorer.digest())
            self._fingerprint = (version, digest.hexdigest())
        return self._fingerprint[1]

    @property
    def data_fingerprint(self) -> str:
        """sha256 of what an index stores for a question: the encoder's weights and vocabulary
        (its vectors) and the scorer's lexical statistics (its lexical rows), not the
        re-rankers. A model refit on moderator decisions (:mod:`qdup.training.refit`) keeps
        it, so it searches the indexes of the model it was refit from."""
        version = (self.encoder, self.encoder.version(), self.scorer)
        if self._data_fingerprint is None or self._data_fingerprint[0] != version:
            digest = hashlib.sha256(self.encoder.digest())
            digest.update(b"lexical:" + (self.scorer.lexical.digest() if self.scorer.lexical is not None else b"none"))
            self._data_fingerprint = (version, digest.hexdigest())
        return self._data_fingerprint[1]

    def encode(self, texts: Sequence[str], batch_size: int = 512, progress: bool = False) -> np.ndarray:
        """Encode questions to an ``(n, dim)`` float32 array of unit vectors.

        A question's vector does not depend on the others in the list or on ``batch_size``.
        One string (not in a list) gives one ``(dim,)`` vector, as in sentence-transformers.

        >>> vectors = load().encode(["How do I learn Python?", "Learn Python how?"])  # qdup.load()
        >>> vectors.shape, round(float(vectors[0] @ vectors[0]), 4)
        ((2, 192), 1.0)
        >>> load().encode("How do I learn Python?").shape
        (192,)
        """
        if isinstance(texts, str):
            return self.encode([texts], batch_size)[0]
        texts = check_encode(texts, batch_size)  # a one-line error, not an AttributeError or a loop without end
        return self.encoder.encode(texts, batch_size, progress)

    def similarity(self, questions1: Sequence[str], questions2: Sequence[str]) -> np.ndarray:
        """Cosine similarity of each aligned pair, ``(n,)`` float32."""
        questions1, questions2 = check_pairs(questions1, questions2)  # lists of the same length
        vectors = self.encode([*questions1, *questions2])  # one call: one pass for a single pair
        return np.einsum("nd,nd->n", vectors[: len(questions1)], vectors[len(questions1) :])

    def score(self, questions1: Sequence[str], questions2: Sequence[str]) -> np.ndarray:
        """The model's score of each aligned pair, ``(n,)``: what :attr:`threshold` applies to.

        The cosine for a cosine scorer; with a re-ranker, its probability that the pair
        are duplicates, from the cosine and both questions' words.
        """
        questions1, questions2 = check_pairs(questions1, questions2)  # a generator is read once
        cosine = self.similarity(questions1, questions2)
        if self.scorer.lexical is None:
            return self.scorer.score(cosine, None, None)
        rows = self.scorer.lexical.rows(questions1 + questions2)  # lists, as check_pairs returns them
        n = len(questions1)
        return self.scorer.score(cosine, rows.take(np.arange(n)), rows.take(np.arange(n, 2 * n)))

    def save(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write the model folder atomically; refuses an existing ``path`` unless ``force``."""
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "encoder": self.encoder.name,
            "threshold": self.threshold,
            **self.info,
            "versions": _versions(),
        }
        try:
            with atomic.directory(path, force=force, stamp=STAMP) as tmp:
                config["model"] = self.encoder.save(tmp)  # weights and vocabulary files
                config["scorer"] = self.scorer.save(tmp)  # its own files, and its section of config.json
                config["checksums"] = {entry.name: _sha256(entry.read_bytes()) for entry in sorted(tmp.iterdir())}
                atomic.write_text(tmp / "config.json", json.dumps(_ordered(config), indent=2) + "\n")
        except OSError as error:  # name the folder asked for, not the hidden temporary one
            raise OutputError(f"{path}: cannot write the model ({error.strerror or error})") from None
        return Path(path)


def _versions() -> dict:
    versions = {"qdup": __version__, "torch": torch.__version__, "python": platform.python_version()}
    if "transformers" in sys.modules:  # a transformer encoder: its library's version matters too
        versions["transformers"] = sys.modules["transformers"].__version__
    return versions


def _ordered(config: dict) -> dict:
    """format, format_version, encoder, model first, as folders saved before the seam."""
    head = ("format", "format_version", "encoder", "model")
    return {**{k: config[k] for k in head}, **{k: v for k, v in config.items() if k not in head}}


def load(path: str | os.PathLike | None = None) -> QdupModel:
    """Load a model folder (``None``: the built-in model).

    A qdup folder, or a sentence-transformers / Hugging Face folder opened as it is (its
    threshold, until ``qdup calibrate`` stores one, is the default 0.7).

    >>> model = qdup.load("models/quora")   # doctest: +SKIP
    """
    folder = BUILTIN_PATH if path is None else given_folder(path, "model")
    if path is not None:
        atomic.recover(folder)  # a save --force killed between its two renames
    if not folder.is_dir():
        what = "the built-in model is not installed" if path is None else f"{folder}: no such model folder"
        raise ModelLoadError(f"{folder} is a file, not a model folder" if path and folder.exists() else what)
    refuse_special_files(folder)  # before anything is read: a FIFO would hang, /dev/zero never end
    refuse_unsafe(folder)
    config = _read_config(folder)
    if config.get("format") != FORMAT:  # a pretrained folder: qdup's settings live in qdup.json
        encoder = open_pretrained(folder)
        config = _read_sidecar(folder)
        return _model(folder, encoder, config, CosineScorer())
    encoder_module = architecture(config, folder)
    _verify_checksums(folder, config.get("checksums"), encoder_module.REQUIRED_FILES)
    encoder = encoder_module.load(folder, config.get("model"))
    return _model(folder, encoder, config, load_scorer(folder, config.get("scorer")))


def _model(folder: Path, encoder: TextEncoder, config: dict, scorer: Scorer) -> QdupModel:
    skip = ("format", "format_version", "encoder", "model", "threshold", "versions", "checksums", "scorer")
    info = {k: v for k, v in config.items() if k not in skip}
    try:
        if "search_threshold" in info:  # a bad one would fail every search later, not the load
            check_search_threshold(info["search_threshold"])
        return QdupModel(encoder, config.get("threshold", DEFAULT_THRESHOLD), info, scorer)
    except ConfigError as error:
        raise ModelLoadError(f"{folder}: {SIDECAR if config.get('format') != FORMAT else 'config.json'}: "
                             f"{error}") from None


def write_config_entries(path: str | os.PathLike, **entries: Any) -> None:
    """Set top-level entries of a model folder's config.json (a pretrained folder's
    qdup.json) in one atomic write (all of them or none); weights untouched."""
    folder = Path(path)
    config = _read_config(folder)
    if fixed := sorted({"format", "format_version", "encoder", "model", "versions", "scorer", "checksums"} & set(entries)):
        raise ConfigError(f"config.json entry {fixed[0]!r} is not writable")
    target = "config.json"
    if config.get("format") != FORMAT:  # never edit a pretrained folder's own files
        config, target = _read_sidecar(folder), SIDECAR
    config.update(entries)
    atomic.write_text(folder / target, json.dumps(config, indent=2) + "\n")


def check_output(path: str | os.PathLike, force: bool) -> None:
    """Before training: refuse an existing output folder (with ``force``: anything but a
    qdup model folder) and a place that cannot be written."""
    atomic.recover(path)
    atomic.check_replaceable(path, force, STAMP)
    atomic.check_writable(path)


def _read_config(folder: Path) -> dict:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{folder}: not a qdup model folder (no config.json)") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:  # ValueError: also a number of 4,300+ digits
        raise ModelLoadError(f"{folder}: config.json is corrupt ({error})") from None
    except RecursionError:
        raise ModelLoadError(f"{folder}: config.json is corrupt (nested too deeply)") from None
    if isinstance(config, dict) and "format" not in config and "model_type" in config:
        return config  # a Hugging Face folder: the transformer encoder reads it
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelLoadError(f"{folder}: not a qdup model folder (config.json format is not {FORMAT!r})")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelLoadError(
            f"{folder}: model format version {version!r} is not supported by qdup {__version__} "
            f"(expects {FORMAT_VERSION}); retrain or use a matching qdup"
        )
    return config


def _read_sidecar(folder: Path) -> dict:
    try:
        config = json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ModelLoadError(f"{folder}: {SIDECAR} is corrupt ({error})") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{folder}: {SIDECAR} is corrupt (not an object)")
    return config


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verify_checksums(folder: Path, checksums, required: tuple[str, ...]) -> None:
    """Detect a flipped byte or a reordered vocabulary. Folders saved before checksums
    existed have none and still load: the checksum guards against damage, not attack."""
    if checksums is None:
        return
    if not isinstance(checksums, dict):
        raise ModelLoadError(f"{folder}: config.json: checksums must be an object")
    if not all(isinstance(name, str) and "/" not in name and name not in ("", ".", "..") for name in checksums):
        raise ModelLoadError(f"{folder}: config.json: checksums may only name files of the model folder")
    for name in sorted(set(required) | set(checksums)):  # the scorer's files too, when it has any
        try:
            data = (folder / name).read_bytes()
        except FileNotFoundError:
            raise ModelLoadError(f"{folder}: {name} is missing") from None
        except OSError as error:
            raise ModelLoadError(f"{folder}: cannot read {name} ({error.strerror or error})") from None
        if _sha256(data) != checksums.get(name):
            raise ModelLoadError(f"{folder}: {name} does not match its checksum in config.json (damaged or edited)")
