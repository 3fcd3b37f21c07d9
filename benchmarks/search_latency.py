"""Latency of one-query ``Index.search`` (every stage: encode, both candidate lists, scoring)
over the qqp-partial corpus (51,369 questions), one thread as ``qdup search`` and ``serve``.

    python benchmarks/search_latency.py [--queries 300] [--rounds 3] [--baseline OLD_SRC] [--data PATH]

Each side builds its index once with its own built-in model (default backend: HNSW at this
size); each round loads it in a fresh process and times the first ``--queries`` test queries
of the protocol after 20 warm-up searches. With ``--baseline
OLD_SRC`` (a ``src`` folder of another checkout, e.g. ``git archive main src | tar -x -C
/tmp/base``) rounds of the old and the current code alternate, so their ratio is measured
under the same load. Writes benchmarks/results/search_latency.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import ROOT, data_path, machine_line, run_child, write_results


def queries(data: str | None) -> tuple[list[str], list[str]]:
    """(corpus, test queries) as benchmarks/retrieval.py builds them."""
    import qdup
    from retrieval import corpus_and_queries

    pairs = qdup.read_pairs(data_path(data))
    corpus, rows = corpus_and_queries(pairs, qdup.reference_split(pairs))
    return corpus, [corpus[r] for r in rows["test"][:, 0]]


def child(index_path: str, data: str | None, count: int) -> None:
    import qdup  # first: it sets the OpenMP wait policy before torch loads
    from qdup.search.index import Index
    from qdup.util.threads import use_threads

    corpus, asked = queries(data)
    model = qdup.load()  # each side's own built-in model, so each side builds its own index once
    if not Path(index_path).exists():
        Index.build(model, None, corpus, index_path)
    use_threads(1)
    index, asked = Index.load(index_path), asked[:count]
    for question in asked[:20]:  # warm-up: caches, lazy imports
        index.search(model, [question], 10)
    times = np.empty(len(asked))
    for i, question in enumerate(asked):
        started = time.perf_counter()
        index.search(model, [question], 10)
        times[i] = time.perf_counter() - started
    print(json.dumps({"p50_ms": float(np.percentile(times, 50) * 1e3),
                      "p99_ms": float(np.percentile(times, 99) * 1e3)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="src folder of the code to compare against")
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.index, args.data, args.queries)
    sides = {"current": str(ROOT / "src")} | ({"baseline": args.baseline} if args.baseline else {})
    rounds: dict[str, list] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory() as tmp:
        flags = [f"--queries={args.queries}"] + ([f"--data={args.data}"] if args.data else [])
        for name, src in sides.items():  # build each side's index before any timing
            run_child(__file__, [f"--index={Path(tmp) / name}", "--queries=1", *flags[1:]], src)
        before = machine_line()
        for _ in range(args.rounds):
            for name, src in sides.items():
                rounds[name].append(run_child(__file__, [f"--index={Path(tmp) / name}", *flags], src))
        after = machine_line()
    figures = {"command": "python " + " ".join(["benchmarks/search_latency.py", *sys.argv[1:]]), "threads": 1, "machine_before": before, "machine_after": after}
    for name, results in rounds.items():
        # The median round: one unlucky round on a shared box should not decide the figure.
        figures[name] = {key: round(float(np.median([r[key] for r in results])), 3) for key in ("p50_ms", "p99_ms")}
        print(f"{name:>8}: p50 {figures[name]['p50_ms']:.2f} ms  p99 {figures[name]['p99_ms']:.2f} ms")
    if args.baseline:
        figures["speedup_p50"] = round(figures["baseline"]["p50_ms"] / figures["current"]["p50_ms"], 2)
        print(f" speedup: p50 {figures['speedup_p50']}x")
    print(f"machine: {before} (start), {after} (end)")
    write_results("search_latency", figures)


if __name__ == "__main__":
    main()
