"""Side-by-side pair classification on the qqp-partial protocol: TF-IDF, models' cosines and scores.

    python benchmarks/quality.py [--model DIR] [--baseline DIR] [--train-default DIR] [--data PATH]

Each system picks its accuracy-maximising threshold on the validation pairs and is then
scored once on the test pairs: accuracy, precision, recall and F1 at that threshold, ROC AUC,
training time and questions scored per second (one process, so the ratios are comparable). A model is shown
twice: its encoder's cosine alone and its final score (its scorer). Writes
benchmarks/results/quality.json.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

import qdup
from qdup.evaluation import metrics
from qdup.evaluation.pairs import evaluate_scores
from common import data_path, machine, questions_per_second, write_results


def score(name: str, split, similarity, train_seconds: float, qps: float) -> dict:
    valid = split.validation
    threshold, _ = metrics.threshold_sweep(valid.is_duplicate, similarity(valid)).best("accuracy")
    report = evaluate_scores(split.test.is_duplicate, similarity(split.test), threshold)
    return {"system": name, "threshold": round(threshold, 4), "test_accuracy": round(report.accuracy, 4),
            "test_precision": round(report.precision, 4), "test_recall": round(report.recall, 4),
            "test_f1": round(report.f1, 4), "test_auc": round(report.roc_auc, 4),
            "train_seconds": round(train_seconds, 1), "questions_per_second": round(qps)}


def tfidf_system(split) -> dict:
    """Character n-gram TF-IDF cosine, fitted on the training questions (id < c)."""
    texts = [q for p in (split.train, split.negatives) for q in p.question1 + p.question2]
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=True, sublinear_tf=True)
    vectorizer.fit(texts)
    seconds = time.perf_counter() - started

    def similarity(pairs):
        a, b = vectorizer.transform(pairs.question1), vectorizer.transform(pairs.question2)
        return np.asarray(a.multiply(b).sum(axis=1)).ravel()  # rows are L2-normalised

    questions = split.test.question1 + split.test.question2
    started = time.perf_counter()
    vectorizer.transform(questions)
    qps = len(questions) / (time.perf_counter() - started)
    return score("TF-IDF char 2-5-grams (scikit-learn)", split, similarity, seconds, qps)


def model_systems(split, model, name: str, train_seconds: float) -> list[dict]:
    """The model's encoder cosine alone, and its final score (the re-ranker when it has one)."""
    test_questions = split.test.question1 + split.test.question2
    qps = questions_per_second(model, test_questions)
    rows = [score(f"{name}: encoder cosine", split, lambda p: model.similarity(p.question1, p.question2),
                  train_seconds, qps)]
    if model.scorer.name != "cosine":
        started = time.perf_counter()
        model.score(split.test.question1, split.test.question2)
        pair_rate = len(test_questions) / (time.perf_counter() - started)  # questions/s, as encode
        rows.append(score(f"{name}: {model.scorer.name} scorer (final score)", split,
                          lambda p: model.score(p.question1, p.question2), train_seconds, pair_rate))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data")
    parser.add_argument("--model", help="model folder to score (default: the built-in model)")
    parser.add_argument("--baseline", help="another model folder to compare, e.g. the previous built-in")
    parser.add_argument("--train-default", metavar="DIR",
                        help="train the default recipe here first (timed), then score it as --model")
    args = parser.parse_args()
    split = qdup.reference_split(qdup.read_pairs(data_path(args.data)))
    seconds = 0.0
    if args.train_default:
        started = time.perf_counter()
        qdup.train(split, qdup.TrainConfig()).save(args.train_default, force=True)
        seconds, args.model = time.perf_counter() - started, args.train_default
    rows = [tfidf_system(split)]
    if args.baseline:
        rows += model_systems(split, qdup.load(args.baseline), f"baseline {args.baseline}", 0.0)
    rows += model_systems(split, qdup.load(args.model), args.model or "built-in model", seconds)
    print("| system | threshold (val) | test accuracy | precision | recall | test F1 | test ROC AUC | training s "
          "| questions/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['system']} | {r['threshold']:.3f} | {r['test_accuracy']:.3f} | {r['test_precision']:.3f} | "
              f"{r['test_recall']:.3f} | {r['test_f1']:.3f} | "
              f"{r['test_auc']:.3f} | {r['train_seconds']:.0f} | {r['questions_per_second']:,} |")
    write_results("quality", {"command": "python benchmarks/quality.py " + " ".join(sys.argv[1:]), "rows": rows,
                              "machine_state": machine()})


if __name__ == "__main__":
    main()
