"""Pictures of how well a model separates duplicates: ROC, precision-recall, histograms."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from ..util import atomic
from . import metrics

FILES = ("roc.png", "precision_recall.png", "similarity_histogram.png")


def save_plots(labels: np.ndarray, scores: np.ndarray, threshold: float, folder: str | os.PathLike,
               title: str = "", score_label: str = "the model's score") -> list[Path]:
    """Write ROC, precision-recall and score-histogram PNGs into ``folder`` (the histogram's
    x axis: ``score_label``, what the scores are).

    >>> save_plots(split.test.is_duplicate, scores, 0.7, "plots")   # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    from matplotlib import pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    labels = np.asarray(labels).astype(bool)
    suffix = f" — {title}" if title else ""
    figures = {
        "roc.png": _roc(plt, labels, scores, threshold, suffix),
        "precision_recall.png": _precision_recall(plt, labels, scores, threshold, suffix),
        "similarity_histogram.png": _histogram(plt, labels, scores, threshold, suffix, score_label),
    }
    written = []
    for name, figure in figures.items():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
        plt.close(figure)
        atomic.write_bytes(folder / name, buffer.getvalue())
        written.append(folder / name)
    return written


def check_folder(folder: str | os.PathLike) -> None:
    """Refuse a plots folder that cannot be written (a file in the way, a read-only place): an
    :class:`~qdup.errors.OutputError` before the pairs are scored, not an error after it."""
    atomic.check_writable(Path(folder) / FILES[0])  # inside the folder when it exists


def _roc(plt, labels, scores, threshold, suffix):
    fpr, tpr, thresholds = metrics.roc_curve(labels, scores)
    figure, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUC {metrics.auc_text(metrics.roc_auc(labels, scores), 3)}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    k = int(np.argmin(np.abs(thresholds - threshold)))
    ax.scatter([fpr[k]], [tpr[k]], color="red", zorder=3, label=f"threshold {threshold:.2f}")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC{suffix}",
           xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    return figure


def _precision_recall(plt, labels, scores, threshold, suffix):
    precision, recall, thresholds = metrics.precision_recall_curve(labels, scores)
    figure, ax = plt.subplots(figsize=(5, 5))
    ax.plot(recall, precision)
    ax.axhline(labels.mean(), linestyle=":", color="grey", label=f"share of duplicates {labels.mean():.2f}")
    k = int(np.argmin(np.abs(thresholds - threshold)))
    ax.scatter([recall[k]], [precision[k]], color="red", zorder=3, label=f"threshold {threshold:.2f}")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision–recall{suffix}", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left")
    return figure


def _histogram(plt, labels, scores, threshold, suffix, score_label):
    figure, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(min(-0.2, float(scores.min())), 1.0, 61)
    ax.hist(scores[~labels], bins=bins, alpha=0.6, label=f"not duplicates ({(~labels).sum()})")
    ax.hist(scores[labels], bins=bins, alpha=0.6, label=f"duplicates ({labels.sum()})")
    ax.axvline(threshold, color="red", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.set(xlabel=score_label, ylabel="pairs", title=f"Scores by label{suffix}")
    ax.legend(loc="upper left")
    return figure
