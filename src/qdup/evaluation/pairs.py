"""Judging pairs by the model's score against a threshold (SPEC §6, §7: the cosine, or a re-ranker's)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import metrics
from ..data.pairs import Pairs
from ..errors import DataError
from ..model import QdupModel
from ..data.questions import check_questions
from ..scoring.thresholds import check_threshold


@dataclass(frozen=True)
class Evaluation:
    """Scores and figures for a set of labelled pairs at one threshold."""

    threshold: float
    pairs: int
    accuracy: float
    confusion_matrix: list[list[int]]  # [[TN, FP], [FN, TP]]
    precision: float
    recall: float
    f1: float
    roc_auc: float
    best_accuracy_threshold: float
    best_accuracy: float
    best_f1_threshold: float
    best_f1: float
    labels: np.ndarray = field(repr=False, compare=False)  # (n,) the pairs' labels
    scores: np.ndarray = field(repr=False, compare=False)  # (n,) their cosine similarities

    def to_dict(self) -> dict:
        """The figures, without the per-pair arrays."""
        return {k: v for k, v in self.__dict__.items() if k not in ("labels", "scores")}


def evaluate(model: QdupModel, pairs: Pairs, threshold: float | None = None) -> Evaluation:
    """Classify every pair as duplicate when its cosine exceeds ``threshold``.

    ``threshold`` defaults to the model's own (0.7 unless training calibrated it).

    >>> report = qdup.evaluate(model, split.test, threshold=0.7)   # doctest: +SKIP
    >>> report.accuracy, report.confusion_matrix                   # doctest: +SKIP
    (0.79, [[1190, 232], [338, 953]])
    """
    threshold = check_threshold(model.threshold if threshold is None else threshold)  # before the slow part
    if len(pairs) == 0:
        raise DataError("no pairs to evaluate")
    scores = model.score(pairs.question1, pairs.question2)
    return evaluate_scores(pairs.is_duplicate, scores, threshold)


def evaluate_scores(labels: np.ndarray, scores: np.ndarray, threshold: float) -> Evaluation:
    """The same figures from precomputed similarity scores."""
    threshold = check_threshold(threshold)
    # float64, as the sweep and predict(): a float32 compare would round the threshold.
    matrix = metrics.confusion_matrix(labels, np.asarray(scores, dtype=np.float64) > threshold)
    summary = metrics.summarize(matrix)
    sweep = metrics.threshold_sweep(labels, scores)
    best_acc_t, best_acc = sweep.best("accuracy")
    best_f1_t, best_f1 = sweep.best("f1")
    return Evaluation(
        threshold=threshold, pairs=len(scores), confusion_matrix=matrix.tolist(),
        roc_auc=metrics.roc_auc(labels, scores),
        best_accuracy_threshold=best_acc_t, best_accuracy=best_acc,
        best_f1_threshold=best_f1_t, best_f1=best_f1, **summary,
        labels=np.asarray(labels), scores=np.asarray(scores),
    )


def predict(model: QdupModel, question1: str, question2: str,
            threshold: float | None = None) -> tuple[bool, float]:
    """``(is_duplicate, score)`` for one pair: the model's score (see :meth:`QdupModel.score`).

    >>> qdup.predict(model, "When will I see you?", "When can I see you again?")  # doctest: +SKIP
    (True, 0.84)
    """
    threshold = check_threshold(model.threshold if threshold is None else threshold)
    question1, question2 = check_questions([question1, question2])  # the rule search and index follow
    score = float(model.score([question1], [question2])[0])
    return score > threshold, score


def calibration(model: QdupModel, validation: Pairs) -> dict:
    """The accuracy- and F1-maximising thresholds of the model's score on ``validation``
    (as training records them in ``config.json``'s ``calibration``)."""
    scores = model.score(validation.question1, validation.question2)
    sweep = metrics.threshold_sweep(validation.is_duplicate, scores)
    (acc_t, acc), (f1_t, f1) = sweep.best("accuracy"), sweep.best("f1")
    return {"pairs": len(validation), "accuracy_threshold": acc_t, "validation_accuracy": acc,
            "f1_threshold": f1_t, "validation_f1": f1,
            "validation_auc": metrics.stored_auc(validation.is_duplicate, scores)}
