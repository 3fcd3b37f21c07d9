"""Train many recipe variants in parallel processes and print one JSON line per run.

    python benchmarks/sweep.py CONFIGS.json [--data PATH] [--workers 4] [--threads 1]
        [--device cpu|cuda] [--out results.jsonl]

CONFIGS.json maps a run name to TrainConfig overrides, e.g.
``{"default": {}, "no-ngrams": {"ngram_buckets": 0}}`` (recipe "default" unless given).
Each run reports the validation-chosen threshold, test accuracy at it, validation and test
ROC AUC, epochs, training seconds and questions embedded per second. Timings are only
comparable within one sweep (the runs share the machine).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

import qdup
from qdup.evaluation import metrics
from common import data_path


def retrieval(model, pairs, split) -> dict:
    """recall@1/@10 ranking question2 for question1 over every distinct question (exact),
    for the test duplicates and (prefixed ``validation_``) the validation duplicates."""
    corpus = sorted({q for q in pairs.question1 + pairs.question2 if q.strip()})
    vectors = torch.from_numpy(model.encode(corpus))
    return {**_recall(model, corpus, vectors, split.test, ""),
            **_recall(model, corpus, vectors, split.validation, "validation_")}


def _recall(model, corpus, vectors, labelled, prefix: str) -> dict:
    position = {q: i for i, q in enumerate(corpus)}
    test = [(a, b) for a, b, y in zip(labelled.question1, labelled.question2, labelled.is_duplicate)
            if y == 1 and a != b and a.strip() and b.strip()]
    queries = torch.from_numpy(model.encode([a for a, _ in test]))
    scores = queries @ vectors.T
    scores[torch.arange(len(test)), torch.tensor([position[a] for a, _ in test])] = -2  # not itself
    top = scores.topk(10, dim=1).indices
    targets = torch.tensor([position[b] for _, b in test])[:, None]
    return {f"{prefix}recall@1": round(float((top[:, :1] == targets).any(1).float().mean()), 4),
            f"{prefix}recall@10": round(float((top == targets).any(1).float().mean()), 4)}


def run(name: str, overrides: dict, data: str, threads: int, device: str) -> dict:
    torch.set_num_threads(threads)
    pairs = qdup.read_pairs(data)
    split = qdup.reference_split(pairs)
    overrides = dict(overrides)
    config = qdup.TrainConfig.from_recipe(overrides.pop("recipe", "default"), calibrate=True, **overrides)
    started = time.perf_counter()
    model = qdup.train(split, config, device=device)
    seconds = time.perf_counter() - started
    test = split.test
    scores = model.similarity(test.question1, test.question2)
    threshold = model.info["calibration"]["accuracy_threshold"]
    questions = test.question1 + test.question2
    encode_started = time.perf_counter()
    model.encode(questions)
    return {
        "name": name, "overrides": overrides, "threshold": round(threshold, 4),
        "validation_auc": round(model.info["calibration"]["validation_auc"], 4),
        "validation_accuracy": round(model.info["calibration"]["validation_accuracy"], 4),
        "test_accuracy": round(float(((scores > threshold) == test.is_duplicate).mean()), 4),
        "test_f1": round(qdup.evaluation.pairs.evaluate_scores(test.is_duplicate, scores, threshold).f1, 4),
        "test_auc": round(metrics.roc_auc(test.is_duplicate, scores), 4),
        "best_epoch": model.info["best_epoch"], "epochs_run": len(model.info["history"]),
        "train_seconds": round(seconds, 1),
        "questions_per_second": round(len(questions) / (time.perf_counter() - encode_started)),
        "parameters": sum(t.numel() for t in model.encoder.network.state_dict().values()),
        "vocabulary": len(model.encoder.vocabulary),
        **retrieval(model, pairs, split),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs")
    parser.add_argument("--data")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out")
    args = parser.parse_args()
    configs = json.loads(Path(args.configs).read_text())
    data = str(data_path(args.data))
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run, name, o, data, args.threads, args.device) for name, o in configs.items()]
        for future in as_completed(futures):
            line = json.dumps(future.result())
            print(line, flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as out:
                    out.write(line + "\n")


if __name__ == "__main__":
    main()
