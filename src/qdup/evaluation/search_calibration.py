"""The search threshold: when is a search's top match a "likely duplicate"?

The pair threshold (``model.threshold``) answers "are these two questions duplicates?"
at best accuracy on balanced labelled pairs. In search, every query has a best match,
and against a large corpus many unrelated matches pass that threshold. The search
threshold is chosen instead on validation *queries*: each query's top match either is a
labelled duplicate of it or is not, and the threshold is the lowest score at which
flagged top matches are true duplicates at a stated precision (say 0.9).

It is stored in the model's ``config.json`` under ``search_threshold`` (see
:attr:`qdup.QdupModel.search_threshold`); ``qdup calibrate-search`` computes and stores it.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Collection, Sequence

import numpy as np

from ..data.duplicate_classes import DuplicateClasses
from ..errors import ConfigError, DataError
from ..search.hybrid import same_question

# Flagged top matches that are labelled duplicates, at least. On the Quora validation
# queries 0.8 flags 37.4% of queries with the re-ranking built-in model (15% with the
# previous cosine one, whose 0.9 flagged only texts equal up to case). docs/benchmarks.md.
DEFAULT_PRECISION = 0.8
# The floor (``min_score`` of the service and page) keeps this share of the validation
# queries whose top match is a true duplicate: below it a match is shown to nobody.
FLOOR_RECALL = 0.95
QUERY_CHUNK = 1024  # validation queries searched at a time


@dataclass(frozen=True)
class SearchCalibration:
    """A calibrated search threshold and the figures behind it."""

    threshold: float        # a top match is a likely duplicate when its score is above this
    target_precision: float
    precision: float        # of the flagged validation top matches
    flagged_share: float    # share of validation queries whose top match is flagged
    queries: int
    floor: float | None = None  # matches scoring below it are noise (the page hides them)
    floor_recall: float | None = None  # share of true-duplicate top matches at or above the floor

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (f"search threshold {self.threshold:.4f}: {self.flagged_share:.1%} of {self.queries} validation "
                f"queries flagged, precision {self.precision:.3f}")


def calibrate_search_threshold(top_scores: Sequence[float], top_is_duplicate: Sequence[bool],
                               precision: float = DEFAULT_PRECISION,
                               agree: Sequence[bool] | None = None) -> SearchCalibration:
    """The lowest threshold at which flagged top matches reach ``precision``.

    ``top_scores[i]``: the score of validation query i's top match; ``top_is_duplicate[i]``:
    whether that match is a true duplicate of the query. A query is flagged when its score
    is strictly above the threshold and, given ``agree``, when ``agree[i]`` (the pair
    scorer's verdict, as :func:`~qdup.scoring.thresholds.likely_duplicates` flags). Among
    the cut points between distinct scores (best first), the one flagging the most queries
    while the flagged precision is at least ``precision`` wins. :class:`DataError` when no
    cut reaches it.

    >>> c = calibrate_search_threshold([0.9, 0.8, 0.7, 0.6], [True, True, False, True], precision=0.9)
    >>> c.threshold, c.precision, c.flagged_share
    (0.7, 1.0, 0.5)
    """
    if not 0.0 < precision <= 1.0:
        raise ConfigError(f"precision must be in (0, 1], got {precision!r}")
    raw = np.asarray(top_scores, dtype=np.float64)
    hits = np.asarray(top_is_duplicate, dtype=bool)
    if raw.ndim != 1 or raw.shape != hits.shape or not len(raw):
        raise DataError("calibration needs one score and one label per query, and at least one query")
    duplicates = raw[hits]  # the floor (what is shown at all) counts every match, agreed with or not
    floor = search_floor(duplicates)
    scores = raw if agree is None else np.where(np.asarray(agree, dtype=bool), raw, -np.inf)
    order = np.argsort(-scores, kind="stable")
    scores, hits = scores[order], hits[order]
    flagged = np.arange(1, len(scores) + 1)
    precisions = np.cumsum(hits) / flagged
    # A cut after position k (flag the k best) exists only where the next score is lower.
    separable = np.append(scores[1:] < scores[:-1], True) & np.isfinite(scores)  # -inf: never flagged
    ok = np.flatnonzero(separable & (precisions >= precision - 1e-12))
    if not len(ok):
        raise DataError(f"no threshold reaches precision {precision} on these {len(scores)} queries "
                        f"(best: {precisions.max():.3f}); try a lower precision")
    k = ok[-1]  # the most queries flagged: the lowest threshold
    # Flag the k+1 best: the threshold is the next score down (matches must be strictly above).
    below = scores[k + 1] if k + 1 < len(scores) else -np.inf
    threshold = float(below) if np.isfinite(below) else max(-1.0, float(scores[k]) - 1e-6)
    floor = None if floor is None else min(floor, threshold)  # a flagged match is never hidden
    recall = None if floor is None else float(np.mean(duplicates >= floor))
    return SearchCalibration(threshold, float(precision), float(precisions[k]), float((k + 1) / len(scores)),
                             len(scores), floor, recall)


def search_floor(duplicate_scores: np.ndarray, recall: float = FLOOR_RECALL) -> float | None:
    """The score at or above which ``recall`` of the true-duplicate top matches score
    (None: no true duplicate among them).

    >>> search_floor(np.array([0.9, 0.8, 0.7, 0.1]), recall=0.75)
    0.7
    """
    finite = np.sort(duplicate_scores[np.isfinite(duplicate_scores)])[::-1]
    if not len(finite):
        return None
    return float(finite[max(int(np.ceil(recall * len(finite))) - 1, 0)])


def top_matches(model, corpus: Sequence[str], queries: Sequence[str],
                index_backend: str = "exact") -> tuple[np.ndarray, list[str | None]]:
    """Search ``corpus`` with each query through :meth:`qdup.Index.search` (so through
    whatever scoring the index applies); return each query's best match other than
    itself: its score (-inf when none) and its text.
    """
    from ..search.index import Index

    with tempfile.TemporaryDirectory() as tmp:
        index = Index.build(model, None, list(corpus), Path(tmp) / "index", backend=index_backend)
        # In chunks: one search of every query at once held all their candidates' features
        # (1.2 GB more peak memory for 11,453 queries over 256,857 questions).
        results = [r for start in range(0, len(queries), QUERY_CHUNK)
                   for r in index.search(model, list(queries[start : start + QUERY_CHUNK]), k=2)]
    scores, matches = np.full(len(queries), -np.inf), [None] * len(queries)
    for n, (query, result) in enumerate(zip(queries, results)):
        for question, score in zip(result.questions, result.scores):
            if question != query.strip():
                scores[n], matches[n] = score, question
                break
    return scores, matches


def calibrate_on_pairs(model, pairs, precision: float = DEFAULT_PRECISION, exclude: Collection[str] = (),
                       verdicts: Sequence[tuple[str, str, bool]] = ()) -> SearchCalibration:
    """The benchmark protocol (benchmarks/retrieval.py) on validation queries.

    Corpus: every distinct question of ``pairs``; queries: question1 of each validation
    duplicate of the reference split. A top match counts as a true duplicate when the
    file's duplicate labels link it to the query, directly or through other labelled
    duplicates (duplicates of a duplicate), or when both texts are equal up to case and
    punctuation. Quora labels are incomplete, so the precision measured is a lower bound.

    ``exclude``: questions that are no queries here (those a refit learnt moderator
    decisions on: :mod:`qdup.training.refit`). ``verdicts``: ``(query, match, duplicate)``
    of held-out moderator decisions, which label those pairs (over the file's labels).
    """
    from ..data.split import reference_split
    from ..text.vocabulary import tokenize

    # What an index accepts: questions with at least one word.
    corpus = sorted({q.strip() for q in pairs.question1 + pairs.question2 if tokenize(q)})
    same = duplicate_classes(pairs)
    validation = reference_split(pairs).validation_duplicates
    excluded = {q.strip() for q in exclude}
    queries = sorted({a.strip() for a, b in zip(validation.question1, validation.question2)
                      if tokenize(a) and tokenize(b) and a.strip() != b.strip()} - excluded)
    if not queries:
        raise DataError("no validation duplicates to calibrate on")
    judged = {frozenset((q.strip(), m.strip())): bool(d) for q, m, d in verdicts}
    scores, matches = top_matches(model, corpus, queries)
    hits = [judged.get(frozenset((q, m)), same(q, m)) if m is not None else False for q, m in zip(queries, matches)]
    return calibrate_search_threshold(scores, hits, precision, top_match_verdicts(model, queries, matches))


def store_search_threshold(model, pairs, precision: float = DEFAULT_PRECISION,
                           **options) -> tuple[SearchCalibration | None, str | None]:
    """:func:`calibrate_on_pairs` (``options``: its ``exclude`` and ``verdicts``) stored in
    ``model.info["search_threshold"]``: ``(calibration, None)``. When no threshold reaches
    ``precision`` (few or easy validation queries) the model is kept without one:
    ``(None, why)``, one line; a training or a refit of minutes is not lost for want of it."""
    try:
        calibration = calibrate_on_pairs(model, pairs, precision, **options)
    except DataError as error:
        model.info.pop("search_threshold", None)
        return None, str(error).split("; ")[0]  # not "try a lower precision": nobody chose one here
    model.info["search_threshold"] = calibration.to_dict()
    return calibration, None


def top_match_verdicts(model, queries: Sequence[str], matches: Sequence[str | None]) -> list[bool] | None:
    """Whether the model's pair scorer judges each top match a duplicate of its query, as a
    search's "likely duplicate" flag asks it (None: a model whose search does not ask, the cosine)."""
    if model.scorer.lexical is None:
        return None
    found = [n for n, m in enumerate(matches) if m is not None]
    agree = [False] * len(queries)
    if found:
        scores = model.score([queries[n] for n in found], [matches[n] for n in found])
        for n, score in zip(found, scores):
            agree[n] = bool(score > model.threshold) or same_question(queries[n], matches[n])
    return agree


def duplicate_classes(pairs) -> Callable[[str, str], bool]:
    """``same(a, b)``: whether two questions are true duplicates by ``pairs``' labels: labelled
    duplicates, transitively (the classes of the labels), or equal up to case and punctuation.

    >>> same = duplicate_classes(qdup.pairs_from_lists(["A one?", "B two?"], ["B two?", "C three?"], [1, 1]))
    >>> same("A one?", "C three?"), same("a one", "A one?"), same("A one?", "D four?")
    (True, True, False)
    """
    return DuplicateClasses(pairs).same
