"""Classification metrics for similarity scores: pure numpy, no model involved.

Convention (SPEC §6): a pair is predicted duplicate when ``score > threshold``; confusion
matrices are ``[[TN, FP], [FN, TP]]`` (rows: true label 0/1; columns: predicted 0/1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``[[TN, FP], [FN, TP]]`` as int64.

    >>> confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])).tolist()
    [[1, 1], [0, 2]]
    """
    y, p = np.asarray(labels).astype(bool), np.asarray(predicted).astype(bool)
    return np.array([[np.sum(~y & ~p), np.sum(~y & p)], [np.sum(y & ~p), np.sum(y & p)]], dtype=np.int64)


def summarize(matrix: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 from a confusion matrix (0.0 where undefined)."""
    (tn, fp), (fn, tp) = np.asarray(matrix, dtype=np.float64)
    total = tn + fp + fn + tp
    return {
        "accuracy": _ratio(tp + tn, total),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


@dataclass(frozen=True)
class Sweep:
    """Counts at every distinct threshold, from the highest (nothing positive) down.

    ``thresholds[k]`` predicts positive exactly the pairs holding the k highest distinct
    scores; it lies halfway between neighbouring distinct scores.
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    tn: np.ndarray
    fn: np.ndarray

    @property
    def accuracy(self) -> np.ndarray:
        return (self.tp + self.tn) / (self.tp + self.tn + self.fp + self.fn)

    @property
    def f1(self) -> np.ndarray:
        return np.divide(2 * self.tp, 2 * self.tp + self.fp + self.fn,
                         out=np.zeros(len(self.tp)), where=(2 * self.tp + self.fp + self.fn) > 0)

    def best(self, metric: str = "accuracy") -> tuple[float, float]:
        """``(threshold, value)`` maximising ``metric`` ("accuracy" or "f1")."""
        values = {"accuracy": self.accuracy, "f1": self.f1}[metric]
        k = int(np.argmax(values))
        return float(self.thresholds[k]), float(values[k])


def threshold_sweep(labels: np.ndarray, scores: np.ndarray) -> Sweep:
    """Confusion counts for every threshold that changes a prediction.

    >>> sweep = threshold_sweep(np.array([0, 1, 1]), np.array([0.2, 0.6, 0.9]))
    >>> sweep.best("accuracy")
    (0.4, 1.0)
    """
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError("labels and scores must be non-empty 1-D arrays of the same length")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last_of_group = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # distinct scores, high to low
    tp = np.r_[0, np.cumsum(y)[last_of_group]]
    fp = np.r_[0, np.cumsum(~y)[last_of_group]]
    distinct = s[last_of_group]
    thresholds = np.r_[distinct[0], (distinct[:-1] + distinct[1:]) / 2, np.nextafter(distinct[-1], -np.inf)]
    positives, negatives = y.sum(), (~y).sum()
    return Sweep(thresholds, tp, fp, negatives - fp, positives - tp)


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(false positive rate, true positive rate, thresholds)``, from (0, 0) to (1, 1)."""
    sweep = threshold_sweep(labels, scores)
    return (_safe_div(sweep.fp, sweep.fp[-1]), _safe_div(sweep.tp, sweep.tp[-1]), sweep.thresholds)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); NaN with a single class.

    >>> roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    sweep = threshold_sweep(labels, scores)
    if sweep.tp[-1] == 0 or sweep.fp[-1] == 0:
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def stored_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """:func:`roc_auc` as a model's history and calibration keep it: None for a single class
    (JSON has no NaN, and an epoch is then chosen by its loss).

    >>> stored_auc(np.array([1, 1]), np.array([0.2, 0.9])) is None
    True
    """
    auc = roc_auc(labels, scores)
    return None if np.isnan(auc) else auc


def auc_text(auc: float | None, digits: int = 4) -> str:
    """A ROC AUC as a person reads it: undefined (NaN, or None as stored) for pairs of one label.

    >>> auc_text(0.97871), auc_text(float("nan"), 3)
    ('0.9787', 'undefined (every pair has the same label)')
    """
    return "undefined (every pair has the same label)" if auc is None or np.isnan(auc) else f"{auc:.{digits}f}"


def precision_recall_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(precision, recall, thresholds)`` at every threshold predicting at least one positive."""
    sweep = threshold_sweep(labels, scores)
    tp, fp = sweep.tp[1:], sweep.fp[1:]
    return tp / (tp + fp), _safe_div(tp, sweep.tp[-1]), sweep.thresholds[1:]


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def _safe_div(a: np.ndarray, b: float) -> np.ndarray:
    return a / b if b else np.zeros(len(a))
