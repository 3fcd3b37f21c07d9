"""How two questions are scored: the one seam that predict, evaluate, search, mining and the
service share, so no caller re-implements a score.

A scorer turns the encoder's cosine of aligned pairs (and, when it uses them, the pairs'
lexical rows) into the final score that the model's threshold applies to. It is named in
``config.json`` (``"scorer": {"name": ...}``) and rebuilt from the model folder through
:data:`SCORERS`; a new way of scoring is one class plus one registry line.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np
import safetensors.numpy

from ..util import atomic
from ..errors import ModelLoadError
from ..text.lexical import LexicalRows, LexicalStats
from .pair_features import FEATURES, pair_features
from .booster import Reranker

LEXICAL_FILE = "lexical.safetensors"
PAIR_FILE = "reranker-pairs.txt"    # LightGBM's text format: numbers only, no code
SEARCH_FILE = "reranker-search.txt"


class Scorer(Protocol):
    name: str
    lexical: LexicalStats | None  # None: the scorer needs no lexical rows

    def score(self, cosine: np.ndarray, a: LexicalRows | None, b: LexicalRows | None) -> np.ndarray:
        """``(n,)`` scores of aligned pairs, higher = more likely duplicates."""

    def rank(self, cosine: np.ndarray, queries: LexicalRows | None, candidates: LexicalRows | None,
             query_of: np.ndarray | None = None) -> np.ndarray:
        """Search scores of the pairs (``queries[query_of[i]]``, ``candidates[i]``): their order
        within a query is what counts."""

    def save(self, folder: Path) -> dict:
        """Write the scorer's files into ``folder``; returns its ``config.json`` section."""

    def digest(self) -> bytes:
        """Bytes that identify the scorer (part of the model fingerprint)."""


class CosineScorer:
    """The encoder's cosine similarity, as the reference system judges pairs."""

    name = "cosine"
    lexical = None

    def score(self, cosine, a=None, b=None) -> np.ndarray:
        return np.asarray(cosine, dtype=np.float32)

    def rank(self, cosine, queries=None, candidates=None, query_of=None) -> np.ndarray:
        return self.score(cosine)

    def save(self, folder: Path) -> dict:
        return {"name": self.name}

    def digest(self) -> bytes:
        return b""

    @classmethod
    def load(cls, folder: Path, section: dict) -> "CosineScorer":
        return cls()


class RerankScorer:
    """Two re-rankers that see both questions' words next to the cosine.

    Pairs (``predict``, ``evaluate``, the threshold) and search ask different questions:
    Quora's labelled non-duplicates share most of their words, a search's wrong candidates
    mostly do not. One model fitted to both served neither (validation ROC AUC 0.845 vs
    0.877 for pairs; docs/benchmarks.md), so each has its own, on the same features: a
    binary one for pairs (a probability), a ranking one for search (its order is what counts).
    """

    name = "rerank"

    def __init__(self, lexical: LexicalStats, pair: Reranker, search: Reranker) -> None:
        self.lexical = lexical
        self.pair = pair
        self.search = search

    def score(self, cosine, a, b) -> np.ndarray:
        return self.pair.predict(pair_features(cosine, a, b, self.lexical))

    def rank(self, cosine, queries, candidates, query_of=None) -> np.ndarray:
        return self.search.predict(pair_features(cosine, queries, candidates, self.lexical, a_of=query_of))

    def save(self, folder: Path) -> dict:
        atomic.write_bytes(folder / LEXICAL_FILE, safetensors.numpy.save(self.lexical.to_tensors()))
        atomic.write_text(folder / PAIR_FILE, self.pair.to_text())
        atomic.write_text(folder / SEARCH_FILE, self.search.to_text())
        return {"name": self.name, "features": list(FEATURES)}

    def digest(self) -> bytes:
        tensors = self.lexical.to_tensors()
        lexical = hashlib.sha256(b"".join(tensors[k].tobytes() for k in sorted(tensors))).digest()
        return lexical + (self.pair.to_text() + self.search.to_text()).encode("utf-8")

    @classmethod
    def load(cls, folder: Path, section: dict) -> "RerankScorer":
        if tuple(section.get("features", ())) != FEATURES:
            raise ModelLoadError(f"{folder}: the re-rankers were trained on other features than this qdup computes")
        for name in (LEXICAL_FILE, PAIR_FILE, SEARCH_FILE):
            if not (folder / name).is_file():
                raise ModelLoadError(f"{folder}: {name} is missing")
        try:
            tensors = safetensors.numpy.load_file(str(folder / LEXICAL_FILE))
            pair, search = ((folder / name).read_text(encoding="utf-8") for name in (PAIR_FILE, SEARCH_FILE))
        except Exception as error:  # safetensors raises its own types for corrupt headers
            raise ModelLoadError(f"{folder}: corrupt scorer files ({type(error).__name__})") from None
        try:
            return cls(LexicalStats.from_tensors(tensors), Reranker.from_text(pair, FEATURES),
                       Reranker.from_text(search, FEATURES))
        except ModelLoadError as error:
            raise ModelLoadError(f"{folder}: {error}") from None


SCORERS = {"cosine": CosineScorer, "rerank": RerankScorer}


def load_scorer(folder: Path, section: dict | None) -> Scorer:
    """The scorer a model folder names (none named: cosine, as every model before scorers)."""
    section = section or {"name": "cosine"}
    if not isinstance(section, dict) or section.get("name") not in SCORERS:
        raise ModelLoadError(f"{folder}: unknown scorer {section!r} (known: {', '.join(SCORERS)})")
    return SCORERS[section["name"]].load(folder, section)
