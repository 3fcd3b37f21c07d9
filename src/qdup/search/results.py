"""What a search returns: the matches of each query, best first, with their stored text and metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.metadata import readable
from ..scoring.thresholds import likely_duplicates
from .backends import Store


@dataclass(frozen=True)
class SearchResult:
    """Matches for one query, best first."""

    ids: list[str]
    questions: list[str]
    scores: list[float]
    metadata: list[dict] = field(default_factory=list)  # per match: url, title... ({} when none)
    # Per match: whether the model's pair scorer judges it a duplicate of the query; asked of
    # the matches above the search threshold only (None: not asked, say a cosine model).
    agree: list[bool] | None = None

    @property
    def verdicts(self) -> list[bool]:
        """Per match, the pair scorer's verdict (:attr:`agree`); True for every match when no
        pair scorer was asked (a cosine model): then the score alone decides."""
        return self.agree if self.agree is not None else [True] * len(self.ids)

    def matches(self, model) -> list[dict]:
        """The matches as ``qdup search --json`` and the service answer them, each with the
        model's "likely duplicate" flag (:func:`~qdup.scoring.thresholds.likely_duplicates`)."""
        likely = likely_duplicates(model, self.scores, self.agree)
        return [{"id": i, "question": q, "score": s, "likely_duplicate": f, "metadata": m}
                for i, q, s, f, m in zip(self.ids, self.questions, self.scores, likely, self.metadata)]


@dataclass(frozen=True)
class StoredQuestion:
    """One stored question, as :meth:`qdup.Index.get` returns it."""

    id: str
    question: str
    metadata: dict


def search_results(store: Store, scores: np.ndarray, rows: np.ndarray, threshold: float | None,
                   min_score: float | None = None, agree: np.ndarray | None = None) -> list[SearchResult]:
    """One :class:`SearchResult` per row of the ``(q, k)`` top-k arrays, without the padding
    (row -1) and, with ``threshold``, without the matches scoring at or below it (with
    ``min_score``, below it)."""
    keep = np.isfinite(scores) & (rows >= 0)
    if threshold is not None:
        keep &= scores > threshold
    if min_score is not None:
        keep &= scores >= min_score
    records = store.records(rows[keep])  # one look-up for the whole batch
    out, start = [], 0
    for n, (s, mask) in enumerate(zip(scores, keep)):
        mine = records[start : start + int(mask.sum())]
        start += len(mine)
        out.append(SearchResult([r[0] for r in mine], [r[1] for r in mine], [float(x) for x in s[mask]],
                                [readable(r[2]) for r in mine],
                                None if agree is None else [bool(x) for x in agree[n][mask]]))
    return out
