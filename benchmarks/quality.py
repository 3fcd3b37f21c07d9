"""Side-by-side quality on the qqp-partial protocol: reference recipe, default recipe, TF-IDF.

    python benchmarks/quality.py [--data PATH] [--save-default DIR]

Each system picks its accuracy-maximising threshold on the validation pairs and is then
scored once on the test pairs: accuracy and F1 at that threshold, ROC AUC, training time and
questions embedded per second (one process, so the ratios are comparable). Writes
benchmarks/results/quality.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

import qdup
from qdup import metrics
from qdup.evaluation import evaluate_scores
from common import data_path, questions_per_second, write_results


def score(name: str, split, similarity, train_seconds: float, qps: float) -> dict:
    valid = split.validation
    threshold, _ = metrics.threshold_sweep(valid.is_duplicate, similarity(valid)).best("accuracy")
    report = evaluate_scores(split.test.is_duplicate, similarity(split.test), threshold)
    return {"system": name, "threshold": round(threshold, 4), "test_accuracy": round(report.accuracy, 4),
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


def model_system(split, recipe: str, save: str | None) -> dict:
    config = qdup.TrainConfig.from_recipe(recipe, calibrate=True)
    started = time.perf_counter()
    model = qdup.train(split, config)
    seconds = time.perf_counter() - started
    if save:
        model.save(save, force=True)
    qps = questions_per_second(model, split.test.question1 + split.test.question2)
    return score(f"qdup --recipe {recipe}", split,
                 lambda pairs: model.similarity(pairs.question1, pairs.question2), seconds, qps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data")
    parser.add_argument("--save-default", help="also save the default-recipe model here")
    args = parser.parse_args()
    split = qdup.reference_split(qdup.read_pairs(data_path(args.data)))
    rows = [tfidf_system(split), model_system(split, "reference", None),
            model_system(split, "default", args.save_default)]
    print("| system | threshold (val) | test accuracy | test F1 | test ROC AUC | training s | questions/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['system']} | {r['threshold']:.3f} | {r['test_accuracy']:.3f} | {r['test_f1']:.3f} | "
              f"{r['test_auc']:.3f} | {r['train_seconds']:.0f} | {r['questions_per_second']:,} |")
    write_results("quality", {"command": "python benchmarks/quality.py", "rows": rows})


if __name__ == "__main__":
    main()
