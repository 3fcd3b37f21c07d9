"""The re-ranking scorer: two LightGBM re-rankers over the cosine and both questions' words
(:mod:`qdup.scoring.pair_features`), one for pairs and one for search, saved as data files
(safetensors IDF statistics and LightGBM's text format; loading runs no code).

Training fits it on out-of-fold cosines: :mod:`qdup.training.scorer_fit`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import safetensors.numpy

from ..errors import ModelLoadError
from ..text.lexical import LexicalStats, tensors_digest
from ..text.names import NameStats
from ..util import atomic
from .booster import Reranker
from .pair_features import FEATURES, pair_features

LEXICAL_FILE = "lexical.safetensors"
PAIR_FILE = "reranker-pairs.txt"    # LightGBM's text format: numbers only, no code
SEARCH_FILE = "reranker-search.txt"


class RerankScorer:
    """Two re-rankers that see both questions' words next to the cosine.

    Pairs (``predict``, ``evaluate``, the threshold) and search ask different questions:
    Quora's labelled non-duplicates share most of their words, a search's wrong candidates
    mostly do not. One model fitted to both served neither (validation ROC AUC 0.845 vs
    0.877 for pairs; docs/benchmarks.md), so each has its own, on the same features: a
    binary one for pairs (a probability), a ranking one for search (its order is what counts).
    """

    name = "rerank"
    fitted_on_pairs = True

    def __init__(self, lexical: LexicalStats, pair: Reranker, search: Reranker, names: NameStats | None = None) -> None:
        if pair.feature_names != search.feature_names:
            raise ValueError("both re-rankers must read the same features")
        self.lexical = lexical
        self.names = names  # None in models saved before issue 18 (their digest stays as it was)
        self.pair = pair
        self.search = search
        # Older models read fewer features: their columns, in their order.
        self._columns = [FEATURES.index(name) for name in pair.feature_names]

    def score(self, cosine, a, b) -> np.ndarray:
        return self.score_features(self.features(cosine, a, b))

    def features(self, cosine, queries, candidates, query_of=None) -> np.ndarray:
        features = pair_features(cosine, queries, candidates, self.lexical, a_of=query_of, names=self.names)
        return features if len(self._columns) == len(FEATURES) else features[:, self._columns]

    def rank_features(self, features: np.ndarray, sizes: np.ndarray | None = None,
                      keep: int | None = None) -> np.ndarray:
        if sizes is None or keep is None:
            return self.search.predict(features)
        return self.search.predict_shortlist(features, sizes, keep)

    def score_features(self, features: np.ndarray) -> np.ndarray:
        return self.pair.predict(features)

    def save(self, folder: Path) -> dict:
        atomic.write_bytes(folder / LEXICAL_FILE, safetensors.numpy.save(self._tensors()))
        atomic.write_text(folder / PAIR_FILE, self.pair.to_text())
        atomic.write_text(folder / SEARCH_FILE, self.search.to_text())
        return {"name": self.name, "features": list(self.pair.feature_names)}

    def _tensors(self) -> dict[str, np.ndarray]:
        return {**self.lexical.to_tensors(), **(self.names.to_tensors() if self.names else {})}

    def digest(self) -> bytes:
        return tensors_digest(self._tensors()) + (self.pair.to_text() + self.search.to_text()).encode("utf-8")

    @classmethod
    def load(cls, folder: Path, section: dict) -> "RerankScorer":
        features = section.get("features")
        features = tuple(features) if isinstance(features, list) else ()  # config.json may hold anything
        if not features or not all(isinstance(name, str) and name in FEATURES for name in features):
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
            return cls(LexicalStats.from_tensors(tensors), Reranker.from_text(pair, features),
                       Reranker.from_text(search, features),
                       NameStats.from_tensors(tensors) if "name.buckets" in tensors else None)
        except ModelLoadError as error:
            raise ModelLoadError(f"{folder}: {error}") from None
