"""A trained model: vocabulary + encoder + decision threshold, saved as a folder.

Folder layout: ``config.json`` (format, shape, training settings, threshold, versions,
sha256 of the two other files), ``model.safetensors`` (weights; loading never runs code),
``vocab.txt`` (one token a line).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import safetensors.torch
import torch

from . import __version__, atomic
from .progress import bar as progress_bar
from .errors import ConfigError, ModelLoadError, OutputError
from .features import Featurizer
from .model_config import ModelConfig
from .network import SiameseEncoder
from .scorer import CosineScorer, Scorer, load_scorer
from .thresholds import check_threshold
from .vocabulary import Vocabulary

FORMAT = "qdup-model"
FORMAT_VERSION = 1
STAMP = ("config.json", FORMAT)  # what marks a folder as a model that --force may replace
CHECKED_FILES = ("model.safetensors", "vocab.txt")  # always checksummed; so is every other file saved
DEFAULT_THRESHOLD = 0.7
BUILTIN_PATH = Path(__file__).parent / "builtin_model"


class QdupModel:
    """Turns questions into unit vectors; duplicates land close together.

    >>> model = load()  # qdup.load(): the built-in model; qdup.load("models/quora") for another
    >>> vectors = model.encode(["How do I learn Python?", "What is the best way to learn Python?"])
    >>> float(vectors[0] @ vectors[1]) > 0.9  # 0.955 here; the last digits vary with the CPU
    True
    """

    def __init__(self, vocabulary: Vocabulary, encoder: SiameseEncoder,
                 threshold: float = DEFAULT_THRESHOLD, info: dict[str, Any] | None = None,
                 scorer: Scorer | None = None):
        self.vocabulary = vocabulary
        self.encoder = encoder.eval()
        self.scorer = scorer or CosineScorer()  # turns cosines (+ words) into the score `threshold` applies to
        self.threshold = check_threshold(threshold)
        self.info = dict(info or {})  # training settings, history, calibration: kept in config.json
        self.featurizer = featurizer_for(vocabulary, encoder.config, fused=True)
        self._fingerprint: tuple | None = None  # (weights version, sha256)
        self._fused_version: tuple | None = None
        self._tensors: tuple | None = None  # (encoder, its parameters and buffers): see _weights_version

    @property
    def config(self) -> ModelConfig:
        return self.encoder.config

    @property
    def search_threshold(self) -> float | None:
        """Score above which a search match is a likely duplicate (None: not calibrated).

        Chosen on validation queries for a stated precision; see :mod:`qdup.search_threshold`.
        """
        entry = self.info.get("search_threshold")
        return float(entry["threshold"]) if isinstance(entry, dict) and "threshold" in entry else None

    @property
    def dim(self) -> int:
        """Length of the vectors ``encode`` returns."""
        return self.config.output_dim

    def _weights_version(self) -> tuple:
        # Tensor._version grows on every in-place change (optimizer steps, load_state_dict);
        # the data pointer changes when a tensor is replaced (``p.data = ...``). Reading them
        # from the tensors directly costs a few microseconds; ``state_dict()`` cost a third
        # of a one-pair predict.
        if self._tensors is None or self._tensors[0] is not self.encoder:
            self._tensors = (self.encoder, [*self.encoder.parameters(), *self.encoder.buffers()])
        return tuple((t._version, t.data_ptr()) for t in self._tensors[1])

    @property
    def fingerprint(self) -> str:
        """sha256 of the weights and vocabulary: identifies the vector space."""
        version = self._weights_version()
        if self._fingerprint is None or self._fingerprint[0] != version:
            digest = hashlib.sha256(_weights_bytes(self.encoder))
            digest.update("\n".join(self.vocabulary.tokens).encode("utf-8"))
            digest.update(self.scorer.digest())
            self._fingerprint = (version, digest.hexdigest())
        return self._fingerprint[1]

    def _refresh_fused_table(self) -> None:
        """(Re)build the word + n-gram table whenever the weights changed since it was built."""
        version = self._weights_version()
        if (self.config.ngram_buckets or self.config.bidirectional) and version != self._fused_version:
            self.encoder.fuse(self.featurizer.vocabulary_ngrams() if self.config.ngram_buckets else None)
            self._fused_version = version

    @torch.inference_mode()
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
        self.encoder.eval()
        self._refresh_fused_table()
        rows = self.featurizer.rows(texts)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        chunks = progress_bar(_length_chunks([len(ids) for ids, _ in rows], batch_size), "encoding", "batch",
                              enabled=progress)
        for chunk in chunks:
            out[chunk] = self.encoder(self.featurizer.collate([rows[i] for i in chunk])).numpy()
        return out

    def similarity(self, questions1: Sequence[str], questions2: Sequence[str]) -> np.ndarray:
        """Cosine similarity of each aligned pair, ``(n,)`` float32."""
        if len(questions1) != len(questions2):
            raise ConfigError("question lists must have the same length")
        vectors = self.encode([*questions1, *questions2])  # one call: one pass for a single pair
        return np.einsum("nd,nd->n", vectors[: len(questions1)], vectors[len(questions1) :])

    def score(self, questions1: Sequence[str], questions2: Sequence[str]) -> np.ndarray:
        """The model's score of each aligned pair, ``(n,)``: what :attr:`threshold` applies to.

        The cosine for a cosine scorer; with a re-ranker, its probability that the pair
        are duplicates, from the cosine and both questions' words.
        """
        cosine = self.similarity(questions1, questions2)
        if self.scorer.lexical is None:
            return self.scorer.score(cosine, None, None)
        rows = self.scorer.lexical.rows(list(questions1) + list(questions2))
        n = len(questions1)
        return self.scorer.score(cosine, rows.take(np.arange(n)), rows.take(np.arange(n, 2 * n)))

    def save(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write the model folder atomically; refuses an existing ``path`` unless ``force``."""
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.config.to_dict(),
            "threshold": self.threshold,
            **self.info,
            "versions": {"qdup": __version__, "torch": torch.__version__,
                         "python": platform.python_version()},
        }
        try:
            with atomic.directory(path, force=force, stamp=STAMP) as tmp:
                atomic.write_bytes(tmp / "model.safetensors", _weights_bytes(self.encoder))
                self.vocabulary.save(tmp / "vocab.txt")
                config["scorer"] = self.scorer.save(tmp)  # its own files, and its section of config.json
                config["checksums"] = {entry.name: _sha256(entry.read_bytes()) for entry in sorted(tmp.iterdir())}
                atomic.write_text(tmp / "config.json", json.dumps(config, indent=2) + "\n")
        except OSError as error:  # name the folder asked for, not the hidden temporary one
            raise OutputError(f"{path}: cannot write the model ({error.strerror or error})") from None
        return Path(path)


def load(path: str | os.PathLike | None = None) -> QdupModel:
    """Load a model folder (``None``: the built-in model).

    >>> model = qdup.load("models/quora")   # doctest: +SKIP
    """
    folder = BUILTIN_PATH if path is None else Path(path)
    if path is not None:
        atomic.recover(folder)  # a save --force killed between its two renames
    if not folder.is_dir():
        what = "the built-in model is not installed" if path is None else f"{folder}: no such model folder"
        raise ModelLoadError(what)
    config = _read_config(folder)
    try:
        model_config = ModelConfig.from_dict(config["model"])
    except (ConfigError, TypeError, KeyError) as error:
        raise ModelLoadError(f"{folder}: config.json has an invalid model section ({error})") from None
    _verify_checksums(folder, config.get("checksums"))
    vocabulary = Vocabulary.load(folder / "vocab.txt")
    if len(vocabulary) != model_config.vocab_size:
        raise ModelLoadError(
            f"{folder}: vocab.txt has {len(vocabulary)} tokens but config.json says {model_config.vocab_size}"
        )
    encoder = _load_encoder(model_config, folder / "model.safetensors")
    info = {k: v for k, v in config.items()
            if k not in ("format", "format_version", "model", "threshold", "versions", "checksums", "scorer")}
    scorer = load_scorer(folder, config.get("scorer"))
    try:
        return QdupModel(vocabulary, encoder, config.get("threshold", DEFAULT_THRESHOLD), info, scorer)
    except ConfigError as error:
        raise ModelLoadError(f"{folder}: config.json: {error}") from None


def write_config_entry(path: str | os.PathLike, key: str, value: Any) -> None:
    """Set one top-level entry of a model folder's config.json (atomically); weights untouched."""
    folder = Path(path)
    config = _read_config(folder)
    if key in ("format", "format_version", "model", "versions"):
        raise ConfigError(f"config.json entry {key!r} is not writable")
    config[key] = value
    atomic.write_text(folder / "config.json", json.dumps(config, indent=2) + "\n")


MIN_BUCKET = 32  # fewer rows of one length are not worth an encoder call of their own


def _length_chunks(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Row indices in chunks of at most ``batch_size``, length-sorted: little padding work.

    Rows of one length form chunks of their own (no padding at all, which the encoder's
    one-call bidirectional path needs) where there are at least ``MIN_BUCKET`` of them;
    rarer lengths share chunks. Vectors do not depend on the chunking.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    chunks: list[list[int]] = []
    pending: list[int] = []  # rows of rare lengths, waiting to fill a mixed chunk
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and lengths[order[end]] == lengths[order[start]]:
            end += 1
        run = order[start:end]
        if len(run) >= MIN_BUCKET:
            chunks += [run[i : i + batch_size] for i in range(0, len(run), batch_size)]
        else:
            pending += run
            while len(pending) >= batch_size:
                chunks.append(pending[:batch_size])
                pending = pending[batch_size:]
        start = end
    return chunks + ([pending] if pending else [])


def check_output(path: str | os.PathLike, force: bool) -> None:
    """Before training: refuse an existing output folder (with ``force``: anything but a
    qdup model folder) and a place that cannot be written."""
    atomic.recover(path)
    atomic.check_replaceable(path, force, STAMP)
    atomic.check_writable(path)


def featurizer_for(vocabulary: Vocabulary, config: ModelConfig, device: str = "cpu",
                   fused: bool = False) -> Featurizer:
    return Featurizer(vocabulary, config.max_length, config.ngram_buckets, config.ngram_min,
                      config.ngram_max, device, fused, lowercase=config.lowercase)


def _read_config(folder: Path) -> dict:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{folder}: not a qdup model folder (no config.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{folder}: config.json is corrupt ({error})") from None
    except RecursionError:
        raise ModelLoadError(f"{folder}: config.json is corrupt (nested too deeply)") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelLoadError(f"{folder}: not a qdup model folder (config.json format is not {FORMAT!r})")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelLoadError(
            f"{folder}: model format version {version!r} is not supported by qdup {__version__} "
            f"(expects {FORMAT_VERSION}); retrain or use a matching qdup"
        )
    return config


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verify_checksums(folder: Path, checksums) -> None:
    """Detect a flipped byte or a reordered vocabulary. Folders saved before checksums
    existed have none and still load: the checksum guards against damage, not attack."""
    if checksums is None:
        return
    if not isinstance(checksums, dict):
        raise ModelLoadError(f"{folder}: config.json: checksums must be an object")
    if not all(isinstance(name, str) and "/" not in name and name not in ("", ".", "..") for name in checksums):
        raise ModelLoadError(f"{folder}: config.json: checksums may only name files of the model folder")
    for name in sorted(set(CHECKED_FILES) | set(checksums)):  # the scorer's files too, when it has any
        try:
            data = (folder / name).read_bytes()
        except FileNotFoundError:
            raise ModelLoadError(f"{folder}: {name} is missing") from None
        except OSError as error:
            raise ModelLoadError(f"{folder}: cannot read {name} ({error.strerror or error})") from None
        if _sha256(data) != checksums.get(name):
            raise ModelLoadError(f"{folder}: {name} does not match its checksum in config.json (damaged or edited)")


def _load_encoder(config: ModelConfig, path: Path) -> SiameseEncoder:
    """Check the file's shapes (from its header) before allocating anything, then load."""
    try:
        with torch.device("meta"):  # shapes only, no memory: config.json may ask for huge sizes
            encoder = SiameseEncoder(config)
    except (RuntimeError, OverflowError, ValueError):  # sizes beyond what a tensor can hold
        raise ModelLoadError(f"{path.parent}: config.json describes a model too large to build") from None
    expected = {name: tuple(t.shape) for name, t in encoder.state_dict().items()}
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            found = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    except FileNotFoundError:
        raise ModelLoadError(f"{path.parent}: model.safetensors is missing") from None
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise ModelLoadError(f"{path}: corrupt or truncated weights ({type(error).__name__})") from None
    if expected != found:
        wrong = sorted(set(expected.items()) ^ set(found.items()))
        raise ModelLoadError(f"{path}: weights do not match config.json ({wrong[0][0]} differs)")
    try:
        tensors = safetensors.torch.load_file(str(path))
    except Exception as error:
        raise ModelLoadError(f"{path}: corrupt or truncated weights ({type(error).__name__})") from None
    for name, tensor in tensors.items():
        if not torch.isfinite(tensor).all():
            raise ModelLoadError(f"{path}: weight {name} holds NaN or infinite values")
    encoder.load_state_dict(tensors, assign=True)  # the meta tensors become the loaded ones
    return encoder


def _state(encoder: SiameseEncoder) -> dict[str, torch.Tensor]:
    return {name: t.detach().contiguous() for name, t in encoder.state_dict().items()}


def _weights_bytes(encoder: SiameseEncoder) -> bytes:
    return safetensors.torch.save(_state(encoder))

