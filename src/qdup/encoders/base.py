"""The encoder seam: what turns questions into vectors, one architecture per module.

``config.json`` names the architecture (``"encoder": "lstm"`` or ``"transformer"``; a
folder saved before the seam names none and is an LSTM). :data:`ENCODERS` maps the name
to the module that builds it, imported on first use so that the LSTM path never imports
transformers. A folder never names code: its name is looked up here and nothing else is
imported, and :func:`refuse_unsafe` turns away folders holding pickles or asking for
remote code before any file is parsed by a library.

An architecture module provides ``REQUIRED_FILES`` (always checksummed) and
``load(folder, section) -> TextEncoder``; a new architecture is one module plus one line here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

from ..errors import ModelLoadError
from ..util.registry import Registry

if TYPE_CHECKING:
    import numpy as np
    import torch

ENCODERS = Registry("encoder", {
    "lstm": "qdup.encoders.lstm.encoder",
    "transformer": "qdup.encoders.transformer",
}, ModelLoadError, extras={"transformer": "transformers"})
UNNAMED_ENCODER = "lstm"  # what a config.json saved before the seam holds
PRETRAINED_ENCODER = "transformer"  # opens sentence-transformers / Hugging Face folders as they are
# Files that unpickle (or may) when a library loads them; weights must be safetensors.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
REMOTE_CODE_KEYS = ("auto_map", "trust_remote_code")


class TextEncoder(Protocol):
    """One architecture's encoder: questions in, unit vectors out; trainable by qdup.train (qdup.training.trainer)."""

    name: str  # as config.json's "encoder" names it
    dim: int  # length of the vectors
    network: "torch.nn.Module"  # the trainable weights
    train_chunk: int  # rows per forward call in training (the architecture's fastest)

    def encode(self, texts: Sequence[str], batch_size: int = 512, progress: bool = False) -> "np.ndarray":
        """``(n, dim)`` float32 unit vectors; a vector does not depend on the other texts."""

    def version(self) -> tuple:
        """Changes whenever the weights change (keys the fingerprint cache)."""

    def digest(self) -> bytes:
        """Bytes identifying the vector space: weights and vocabulary (part of the fingerprint)."""

    def save(self, folder: Path) -> dict:
        """Write weights and vocabulary files into ``folder``; returns config.json's ``model`` section."""

    def rows(self, texts: Sequence[str]) -> list:
        """Texts prepared once for training (token ids...)."""

    def row_length(self, row: Any) -> int:
        """Tokens in a prepared row (training batches group rows of similar length)."""

    def forward(self, rows: Sequence) -> "torch.Tensor":
        """``(len(rows), dim)`` unit vectors with gradients, on the network's device."""

    def to(self, device: str) -> "TextEncoder":
        """Move the network (and its input tensors) to ``device``; returns self."""


def architecture(config: dict, folder: Path | str = "model"):
    """The module of the architecture a qdup ``config.json`` names (none: an LSTM, saved before
    the seam); a one-line error for an unknown name or a missing optional dependency."""
    return ENCODERS.get(config.get("encoder", UNNAMED_ENCODER), where=str(folder))


def open_pretrained(folder: Path) -> TextEncoder:
    """A sentence-transformers / Hugging Face folder opened as it is (no qdup config.json)."""
    return ENCODERS.get(PRETRAINED_ENCODER, where=str(folder)).load(folder, None)


def refuse_unsafe(folder: Path) -> None:
    """Refuse a folder holding pickled weights or a config asking for remote code (one line)."""
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in PICKLE_SUFFIXES and path.is_file():
            raise ModelLoadError(f"{folder}: refusing {path.relative_to(folder)}: pickled files can run code "
                                 "when loaded; qdup reads weights from .safetensors only")
    for name in ("config.json", "tokenizer_config.json", "transformer.json"):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            continue  # missing or corrupt: the loader names that problem
        if isinstance(data, dict):
            asked = [key for key in REMOTE_CODE_KEYS if data.get(key)]
            if asked:
                raise ModelLoadError(f"{folder}: refusing {name}: it asks for remote code ({asked[0]}); "
                                     "qdup never runs code from a model folder")
