"""Train many recipe variants in parallel processes and print one JSON line per run.

    python benchmarks/sweep.py CONFIGS.json [--data PATH] [--workers 4] [--threads 1]
        [--device cpu|cuda] [--out results.jsonl] [--seeds 0,1,2]

CONFIGS.json maps a run name to TrainConfig overrides, e.g.
``{"default": {}, "no-ngrams": {"ngram_buckets": 0}}`` (recipe "default" unless given).
Each run reports the validation-chosen threshold, test accuracy at it, validation and test
ROC AUC, epochs, training seconds and questions embedded per second. Timings are only
comparable within one sweep (the runs share the machine).

``--seeds``: every config once per seed, then per config the mean, min and max of its
validation figures over the seeds. A seed alone moves the default encoder's validation
recall@1 by 0.02 (0.4757, 0.4525, 0.4598 for seeds 0-2) and its AUC by 0.002
(docs/benchmarks.md): one run per variant cannot tell variants that close apart.
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


SPREAD = ("validation_auc", "validation_recall@1", "validation_recall@10")  # summarised over seeds


def with_seeds(configs: dict, seeds: list[int]) -> dict:
    """Each config once per seed, named ``NAME@seed=S`` (no seeds: the configs as given)."""
    if not seeds:
        return configs
    return {f"{name}@seed={seed}": {**overrides, "seed": seed} for name, overrides in configs.items() for seed in seeds}


def seed_summary(rows: list[dict]) -> list[dict]:
    """Per config of a ``--seeds`` sweep: how many seeds ran, and the mean, min and max of
    each :data:`SPREAD` figure over them."""
    runs: dict[str, list[dict]] = {}
    for row in rows:
        name, marker, _ = row["name"].rpartition("@seed=")
        if marker:
            runs.setdefault(name, []).append(row)
    return [{"name": name, "seeds": len(group), **{key: {
        "mean": round(sum(r[key] for r in group) / len(group), 4),
        "min": min(r[key] for r in group), "max": max(r[key] for r in group)} for key in SPREAD}}
        for name, group in runs.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs")
    parser.add_argument("--data")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out")
    parser.add_argument("--seeds", type=lambda text: [int(s) for s in text.split(",")], default=[],
                        help="comma-separated seeds: each config once per seed, then their spread")
    args = parser.parse_args()
    configs = with_seeds(json.loads(Path(args.configs).read_text()), args.seeds)
    data = str(data_path(args.data))
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run, name, o, data, args.threads, args.device) for name, o in configs.items()]
        for future in as_completed(futures):
            rows.append(future.result())
            emit(rows[-1], args.out)
    for summary in seed_summary(rows):
        emit({"summary": summary}, args.out)


def emit(record: dict, out: str | None) -> None:
    """Print one JSON line (and append it to ``out``)."""
    line = json.dumps(record)
    print(line, flush=True)
    if out:
        with open(out, "a", encoding="utf-8") as file:
            file.write(line + "\n")


if __name__ == "__main__":
    main()
