"""Train with --recipe reference on the qqp-partial protocol and report its figures.

    python benchmarks/reference_recipe.py [--data PATH] [--epochs 2] [--unmasked]

Prints validation/test accuracy at threshold 0.7, ROC AUC, seconds per epoch and
questions embedded per second; writes benchmarks/results/reference_recipe_*.json.
``--unmasked`` re-creates the Keras reference's padding defect (the LSTM runs over the
padding and the mean includes it) to show what it costs. As in the reference, question1s and
question2s are then padded as separate batches, in training and in scoring (batches of 256
in file order); for the masked model this changes nothing, its vectors ignore batching.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.nn import functional as F

import qdup
import qdup.training.steps
import qdup.training.trainer
from common import data_path, questions_per_second, write_results


class UnmaskedEncoder(qdup.encoders.lstm.network.SiameseEncoder):
    """The reference's behaviour: padding goes through the LSTM and into the mean."""

    def forward(self, batch) -> torch.Tensor:
        hidden, _ = self.lstm(self.embedding(batch.ids))  # (B, T, d), T = longest in the batch
        return F.normalize(hidden.mean(dim=1), dim=1)


def encode_sides_apart(encoder, rows, chunk=None):
    """Training's encoder call with question1s and question2s padded apart, as Keras does (unsorted)."""
    half = len(rows) // 2
    return torch.cat([encoder.forward(rows[:half]), encoder.forward(rows[half:])])


@torch.no_grad()
def similarity_in_batches(model, pairs, batch_size: int = 256) -> np.ndarray:
    """Cosines scored like the reference: batches in file order, each side padded apart."""
    out = []
    for start in range(0, len(pairs), batch_size):
        sides = [model.encoder.network(model.encoder.featurizer.batch(questions[start : start + batch_size]))
                 for questions in (pairs.question1, pairs.question2)]
        out.append((sides[0] * sides[1]).sum(dim=1).numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--unmasked", action="store_true", help="reproduce the reference's padding defect")
    args = parser.parse_args()
    if args.unmasked:
        qdup.training.trainer.SiameseEncoder = UnmaskedEncoder
        qdup.training.steps.encode = encode_sides_apart

    split = qdup.reference_split(qdup.read_pairs(data_path(args.data)))
    config = qdup.TrainConfig.from_recipe("reference", epochs=args.epochs)
    started = time.perf_counter()
    model = qdup.train(split, config)
    train_seconds = time.perf_counter() - started

    suffix = " --unmasked" if args.unmasked else ""
    figures = {"command": f"python benchmarks/reference_recipe.py --epochs {args.epochs}{suffix}",
               "config": config.to_dict(), "best_epoch": model.info["best_epoch"],
               "train_seconds": round(train_seconds, 1),
               "seconds_per_epoch": round(float(np.mean([h["seconds"] for h in model.info["history"]])), 2)}
    for name in ("validation", "test"):
        pairs = getattr(split, name)
        scores = similarity_in_batches(model, pairs)
        report = qdup.evaluation.pairs.evaluate_scores(pairs.is_duplicate, scores, 0.7)
        figures[name] = {"pairs": report.pairs, "accuracy_at_0.7": round(report.accuracy, 4),
                         "confusion_matrix": report.confusion_matrix, "roc_auc": round(report.roc_auc, 4),
                         "share_of_cosines_above_0.95": round(float((scores > 0.95).mean()), 4),
                         "median_cosine": round(float(np.median(scores)), 4)}
    questions = split.test.question1 + split.test.question2
    figures["questions_per_second"] = round(questions_per_second(model, questions))

    for key in ("seconds_per_epoch", "questions_per_second"):
        print(f"{key:>24}: {figures[key]}")
    for name in ("validation", "test"):
        f = figures[name]
        print(f"{name:>24}: accuracy@0.7 {f['accuracy_at_0.7']:.4f}  ROC AUC {f['roc_auc']:.4f}  "
              f"cosines>0.95 {f['share_of_cosines_above_0.95']:.1%}  confusion {f['confusion_matrix']}")
    write_results(f"reference_recipe_{args.epochs}ep" + ("_unmasked" if args.unmasked else ""), figures)


if __name__ == "__main__":
    main()
