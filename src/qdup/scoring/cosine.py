"""The cosine scorer: the encoder's cosine similarity is the score, as the reference system
judges pairs. Nothing to fit and no files of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class CosineScorer:
    """The encoder's cosine similarity, as the reference system judges pairs."""

    name = "cosine"
    lexical = None
    fitted_on_pairs = False

    def score(self, cosine, a=None, b=None) -> np.ndarray:
        return np.asarray(cosine, dtype=np.float32)

    def features(self, cosine, queries=None, candidates=None, query_of=None) -> np.ndarray:
        return self.score(cosine)[:, None]

    def rank_features(self, features: np.ndarray, sizes=None, keep=None) -> np.ndarray:
        return features[:, 0]

    def score_features(self, features: np.ndarray) -> np.ndarray:
        return features[:, 0]

    def save(self, folder: Path) -> dict:
        return {"name": self.name}

    def digest(self) -> bytes:
        return b""

    @classmethod
    def load(cls, folder: Path, section: dict) -> "CosineScorer":
        return cls()
