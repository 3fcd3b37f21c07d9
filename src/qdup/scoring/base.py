"""How two questions are scored: the one seam that predict, evaluate, search, mining and the
service share, so no caller re-implements a score.

A scorer turns the encoder's cosine of aligned pairs (and, when it uses them, the pairs'
lexical rows) into the final score that the model's threshold applies to. It is named in
``config.json`` (``"scorer": {"name": ...}``) and rebuilt from the model folder through
:data:`SCORERS`. A new way of scoring is one module (a class with ``load(folder, section)``
and the methods of :class:`Scorer`, ``score`` being ``score_features`` of ``features``)
plus one line here, and one line in :data:`qdup.training.scorers.FITTERS` for how
training fits it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import ModelLoadError
from ..util.registry import Registry

if TYPE_CHECKING:
    import numpy as np

    from ..text.lexical import LexicalRows, LexicalStats

SCORERS = Registry("scorer", {
    "cosine": "qdup.scoring.cosine:CosineScorer",
    "rerank": "qdup.scoring.rerank:RerankScorer",
}, ModelLoadError)
UNNAMED_SCORER = "cosine"  # what a folder saved before scorers existed is scored by


class Scorer(Protocol):
    name: str  # as config.json's "scorer" section names it
    lexical: LexicalStats | None  # None: the scorer needs no lexical rows
    fitted_on_pairs: bool  # learns from labelled pairs: training needs them, and out-of-fold encoders

    def score(self, cosine: np.ndarray, a: LexicalRows | None, b: LexicalRows | None) -> np.ndarray:
        """``(n,)`` scores of aligned pairs, higher = more likely duplicates."""

    def features(self, cosine: np.ndarray, queries: LexicalRows | None, candidates: LexicalRows | None,
                 query_of: np.ndarray | None = None) -> np.ndarray:
        """``(n, f)``: what the scorer reads of the pairs (``queries[query_of[i]]``,
        ``candidates[i]``; ``query_of`` defaults to aligned pairs). A search ranks its
        candidates and judges its best few as pairs from one computation, and ``score`` is
        ``score_features(features(...))``."""

    def rank_features(self, features: np.ndarray, sizes: np.ndarray | None = None,
                      keep: int | None = None) -> np.ndarray:
        """Search scores from :meth:`features`' rows: their order within a query is what counts.
        Given ``sizes`` (the rows hold ``len(sizes)`` queries' candidates in turn) and ``keep``,
        only each query's best ``keep`` need a score; the others may score -inf (a shortlist)."""

    def score_features(self, features: np.ndarray) -> np.ndarray:
        """:meth:`score`'s scores from :meth:`features`' rows."""

    def save(self, folder: Path) -> dict:
        """Write the scorer's files into ``folder``; returns its ``config.json`` section."""

    def digest(self) -> bytes:
        """Bytes that identify the scorer (part of the model fingerprint)."""


def load_scorer(folder: Path, section: dict | None) -> Scorer:
    """The scorer a model folder names (none named: cosine, as every model before scorers)."""
    section = section or {"name": UNNAMED_SCORER}
    if not isinstance(section, dict):
        raise ModelLoadError(f"{folder}: unknown scorer {section!r} (known: {', '.join(SCORERS.names)})")
    return SCORERS.get(section.get("name"), where=str(folder)).load(folder, section)
