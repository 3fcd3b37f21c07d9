"""Encoders side by side on the qqp-partial protocol: pairs, retrieval and speed, in one run.

For each model folder: test accuracy at the accuracy-maximising threshold on the
validation pairs, and test ROC AUC, of its cosine and (when it has one) of its final
score (as benchmarks/quality.py); recall@1, recall@10 and MRR of the cosine over every
distinct question of the file (test duplicate pairs as queries, as benchmarks/retrieval.py);
questions/s encoding test questions on 2 threads (best of 2).

    python benchmarks/encoders.py --model "built-in=" --model "MiniLM zero-shot=DIR" ... [--data PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import data_path, machine, machine_line, questions_per_second, write_results  # noqa: E402
from retrieval import corpus_and_queries, cosine_top, figures, ranks  # noqa: E402

import qdup  # noqa: E402
from qdup.evaluation import metrics  # noqa: E402
from qdup.evaluation.pairs import evaluate_scores  # noqa: E402
from qdup.util.threads import use_threads  # noqa: E402

SPEED_QUESTIONS = 2000
THREADS = [2]  # --threads


def pair_figures(split, score) -> dict:
    valid = split.validation
    threshold, _ = metrics.threshold_sweep(valid.is_duplicate, score(valid)).best("accuracy")
    report = evaluate_scores(split.test.is_duplicate, score(split.test), threshold)
    return {"threshold": round(threshold, 4), "test_accuracy": round(report.accuracy, 4),
            "test_auc": round(report.roc_auc, 4)}


def measure(name: str, path: str | None, split, questions, queries, quality: bool = True,
            retrieval: bool = True) -> dict:
    model = qdup.load(path or None)
    row = {"system": name, "path": path or "built-in", "encoder": model.encoder.name}
    if quality:
        row.update(quality_figures(model, split, questions if retrieval else [], queries))
    speed_texts = (split.test.question1 + split.test.question2)[:SPEED_QUESTIONS]
    restore = use_threads(THREADS[0])
    try:
        model.encode(speed_texts[:64])  # warm-up
        row["questions_per_second_2_threads" if THREADS[0] == 2 else f"questions_per_second_{THREADS[0]}_threads"] = \
            round(questions_per_second(model, speed_texts, repeats=2))
    finally:
        restore()
    row["machine_at_speed"] = machine_line()
    print(row, flush=True)
    return row


def quality_figures(model, split, questions, queries) -> dict:
    texts = sorted(set(questions) | {q for p in (split.validation, split.test) for q in p.question1 + p.question2})
    started = time.perf_counter()
    vectors = dict(zip(texts, model.encode(texts)))
    encode_seconds = time.perf_counter() - started

    def cosine(pairs):
        return np.einsum("nd,nd->n", np.stack([vectors[q] for q in pairs.question1]),
                         np.stack([vectors[q] for q in pairs.question2]))

    row = {"cosine": pair_figures(split, cosine)}
    if model.scorer.name != "cosine":
        row[f"{model.scorer.name} scorer"] = pair_figures(split, lambda p: model.score(p.question1, p.question2))
    if questions:  # empty: pairs only (no 51k-question corpus to encode)
        corpus = np.stack([vectors[q] for q in questions])
        row["retrieval_cosine"] = figures(ranks(cosine_top(corpus, queries[:, 0]), queries))
    row["encode_all_seconds"] = round(encode_seconds, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, metavar="NAME=DIR",
                        help="a model to measure (DIR empty: the built-in model); repeat")
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    parser.add_argument("--name", default="encoders", help="results file name")
    parser.add_argument("--speed-only", action="store_true", help="questions/s only (side by side, one run)")
    parser.add_argument("--pairs-only", action="store_true", help="no retrieval figures (saves encoding the corpus)")
    parser.add_argument("--threads", type=int, default=2, help="threads for the speed figure")
    args = parser.parse_args()
    THREADS[0] = args.threads
    pairs = qdup.read_pairs(data_path(args.data))
    split = qdup.reference_split(pairs)
    questions, queries = corpus_and_queries(pairs, split)
    rows = [measure(*spec.split("=", 1), split, questions, queries["test"], not args.speed_only,
                    not args.pairs_only) for spec in args.model]
    write_results(args.name, {"command": "python benchmarks/encoders.py " +
                              " ".join(f"--model '{m}'" for m in args.model) + (" --speed-only" if args.speed_only else "") + (" --pairs-only" if args.pairs_only else ""),
                              "corpus": len(questions), "test_queries": len(queries["test"]),
                              "speed_questions": SPEED_QUESTIONS, "machine_now": machine(), "systems": rows})
    print("| system | test accuracy | test ROC AUC | recall@1 | recall@10 | MRR | questions/s (2 threads) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        if args.speed_only:
            print(f"| {row['system']} | | | | | | {[v for k, v in row.items() if k.startswith('questions_per')][0]:,} |")
            continue
        final = row.get("rerank scorer", row["cosine"])
        r = row.get("retrieval_cosine", {"recall@1": float("nan"), "recall@10": float("nan"), "mrr": float("nan")})
        print(f"| {row['system']} | {final['test_accuracy']:.3f} | {final['test_auc']:.3f} | {r['recall@1']:.3f} | "
              f"{r['recall@10']:.3f} | {r['mrr']:.3f} | {row['questions_per_second_2_threads']:,} |")


if __name__ == "__main__":
    main()
