"""A small deterministic stand-in for QdupModel: hashed character trigrams, L2-normalised.

It has the same surface the search code relies on (encode, fingerprint, threshold, dim, scorer),
so index, mining and service tests run in milliseconds and without trained weights.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Sequence

import numpy as np

from qdup.scoring.cosine import CosineScorer


class FakeModel:
    def __init__(self, dim: int = 64, salt: str = "a", threshold: float = 0.7) -> None:
        self.dim = dim
        self.threshold = threshold
        self._salt = salt
        self.fingerprint = hashlib.sha256(f"fake-trigram-{dim}-{salt}".encode()).hexdigest()
        self.scorer = CosineScorer()  # scores are the cosine, as a reference-recipe model's

    def encode(self, texts: Sequence[str], batch_size: int = 512, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()} "
            for i in range(len(padded) - 2):
                gram = (self._salt + padded[i : i + 3]).encode()
                out[row, zlib.crc32(gram) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def similarity(self, questions1: Sequence[str], questions2: Sequence[str]) -> np.ndarray:
        return np.einsum("nd,nd->n", self.encode(questions1), self.encode(questions2))

    def score(self, questions1: Sequence[str], questions2: Sequence[str]) -> np.ndarray:
        return self.similarity(questions1, questions2)  # a cosine scorer's score is the cosine


class VectorModel(FakeModel):
    """Encodes 'q<n>' as row n of a fixed matrix: hand-made geometry."""

    def __init__(self, vectors):
        super().__init__(dim=vectors.shape[1], salt="v")
        self.vectors = vectors

    def encode(self, texts, batch_size=512, progress=False):
        return self.vectors[[int(t[1:]) for t in texts]]
