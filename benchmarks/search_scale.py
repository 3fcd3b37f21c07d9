"""How ``qdup search`` grows with the corpus: 51k real questions, then 200k and 1M with synthetic ones.

    python benchmarks/search_scale.py [--sizes 51369,200000,1000000] [--queries 300] [--data PATH] [--name NAME]

The corpus at each size is every distinct question of qqp-partial (51,369, which holds every
query's known duplicate) plus synthetic questions built from real ones: the first words of
one real question (at least two) spliced to the last words of another, with a seeded random
number generator, taking neither from a validation or test pair (a synthetic question never
copies half of a query). They have real questions' words, n-grams and lengths, and can be
anybody's neighbours, so they make the search harder as real new questions would. Queries are the
validation questions of the protocol (benchmarks/retrieval.py): recall@1 and recall@10 of
the known duplicate, the query itself excluded, at each size.

Each size is built by ``qdup index build`` in a child process (default backend: HNSW;
wall time, CPU time and peak memory of the build), or, with ``--keep DIR``, kept in
``DIR/SIZE`` and reused by the next run whose questions are the same; one ``qdup search`` in
a fresh process (CPU and wall seconds from start to exit, against ``python -c "import
torch"``) gives the start-up at that size; then the index is opened and read in
(``Index.warm``, as ``qdup serve`` does before its first users) and searched here on one
thread as ``qdup search`` does: each query's whole search first (as a new question meets the
index), then each stage of it alone: encode, lexical rows, dense candidates (HNSW walked at
``hybrid.CANDIDATE_EF_SEARCH``; recall is also given at the default breadth, 256), lexical
candidates (rare n-gram postings, with a pool rescored on every n-gram above
``postings.RESCORE_FROM_ROWS``), and the scoring of the candidates; then, in a pass of its
own, the exact scan the postings replaced (the n-grams of over 10% of the rows dropped).
Recall is also given with the rare n-grams alone (no pool). Writes benchmarks/results/NAME.json.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

from common import CLI, child_seconds, data_path, machine_line, write_results

import qdup  # noqa: E402  (after common: sets the OpenMP wait policy before torch loads)
from qdup.search import hybrid, postings  # noqa: E402
from qdup.search.index import Index  # noqa: E402
from qdup.util.threads import use_threads  # noqa: E402
from retrieval import corpus_and_queries  # noqa: E402

SRC = str(Path(qdup.__file__).resolve().parents[1])  # the children run the qdup this script runs (PYTHONPATH)
LEGACY_COMMON_SHARE = 0.10  # the exact scan's cut before issue 20: n-grams of over 10% of the rows


def synthetic_questions(real: list[str], count: int, avoid: set[int], seed: int = 0) -> list[str]:
    """``count`` distinct questions, each the head of one real question and the tail of
    another, none of them from the rows ``avoid`` (the queries and their duplicates)."""
    rng, seen, out = random.Random(seed), set(real), []
    split = [q.split() for n, q in enumerate(real) if len(q.split()) >= 3 and n not in avoid]
    while len(out) < count:
        a, b = rng.choice(split), rng.choice(split)
        question = " ".join(a[: rng.randint(2, len(a) - 1)] + b[rng.randint(1, len(b) - 1):])
        if question not in seen:
            seen.add(question)
            out.append(question)
    return out


STARTUP_ROUNDS = 3


def startup(index: Path, query: str) -> dict:
    """One ``qdup search`` in a fresh process (open the index, load the model, one query),
    against ``python -c "import torch"`` in alternate rounds: medians and their ratio."""
    runs = {"search": [], "torch": []}
    for _ in range(STARTUP_ROUNDS):
        runs["search"].append(child_seconds(["-c", CLI, "search", str(index), query], SRC))
        runs["torch"].append(child_seconds(["-c", "import torch"]))
    cpu, wall = ({k: float(np.median([r[i] for r in v])) for k, v in runs.items()} for i in (0, 1))
    return {"cpu_s": round(cpu["search"], 2), "wall_s": round(wall["search"], 2),
            "import_torch_cpu_s": round(cpu["torch"], 2), "vs_import_torch": round(cpu["search"] / cpu["torch"], 2)}


def build(questions: list[str], folder: Path) -> dict:
    """``qdup index build`` in a child process: wall and CPU seconds, peak memory; or
    ``{"reused": ...}`` when ``folder`` already holds an index of exactly ``questions``."""
    text, lines = folder / "questions.txt", "\n".join(questions) + "\n"
    if (folder / "index").is_dir() and text.is_file() and text.read_text(encoding="utf-8") == lines:
        return {"reused": str(folder / "index")}
    folder.mkdir(parents=True, exist_ok=True)
    text.write_text(lines, encoding="utf-8")
    cpu, wall = child_seconds(["-c", CLI, "index", "build", str(text), "--out", str(folder / "index"), "--force"],
                              SRC, quiet=False)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far (Linux: KiB)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_rss_gb": round(peak / 2**20, 2)}


class LegacyScan:
    """The lexical candidate stage before issue 20: every n-gram under 10% of the rows, exactly."""

    def __init__(self, rows) -> None:
        matrix = rows.chars.to_scipy().T.tocsr()
        lengths = np.diff(matrix.indptr)
        matrix.data[np.repeat(lengths > max(LEGACY_COMMON_SHARE * matrix.shape[1], 1000), lengths)] = 0
        matrix.eliminate_zeros()
        self.matrix = matrix

    def topk(self, queries, k: int, dead, stored=None) -> tuple[np.ndarray, np.ndarray]:
        return hybrid.lexical_topk(queries, self.matrix, k, dead)  # every n-gram scored already: no pool


WARM_UP_QUERIES = 20  # searched before the timed ones, and not timed


def stage_times(index: Index, model, queries: list[str]) -> dict:
    """Per-query milliseconds (p50, p99) of each stage, one query at a time (after the first
    :data:`WARM_UP_QUERIES` of ``queries``, searched untimed), in an index read
    in first as the service reads its own: else each stage pays its first touches of the
    freshly mapped files (at a million questions, milliseconds a query: docs/benchmarks.md)."""
    started = time.perf_counter()
    index.warm()
    warm_s = time.perf_counter() - started
    store = index._state[1]
    times: dict[str, list[float]] = {}

    def timed(name, call):
        started = time.perf_counter()
        out = call()
        times.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return out

    warm_up, queries = queries[:WARM_UP_QUERIES], queries[WARM_UP_QUERIES:]
    for question in warm_up:
        index.search(model, [question], k=10)  # caches, postings
    for question in queries:
        # The whole search first, as a user's new question meets the index; then its stages.
        timed("search_total", lambda: index.search(model, [question], k=10))
        vectors = timed("encode", lambda: model.encode([question]))
        rows = timed("lexical_rows", lambda: model.scorer.lexical.rows([question]))
        timed("dense_candidates", lambda: store.dense_topk(vectors, hybrid.DEPTH, ef=hybrid.CANDIDATE_EF_SEARCH))
        lexical = timed("lexical_candidates", lambda: store.lexical_topk(rows, hybrid.DEPTH))
        _, dense = store.dense_topk(vectors, hybrid.DEPTH, ef=hybrid.CANDIDATE_EF_SEARCH)
        found = hybrid.candidate_union(dense, lexical)
        timed("scoring", lambda: hybrid.rerank(vectors, rows, found, lambda p: store.gather(p, model.scorer.lexical),
                                               model.scorer, 10))
    # A pass of its own, after the others: its transposed copy of the rows (GBs at a million)
    # and each scan streaming a GB of postings left the other stages a colder cache (encoding
    # one question 1.1 ms at a million, 0.7 at 51k).
    [segment] = store.segments if len(store.segments) == 1 else [None]
    legacy = LegacyScan(segment.lexical) if segment is not None else None
    for question in queries if legacy is not None else []:
        rows = model.scorer.lexical.rows([question])
        timed("lexical_candidates_legacy_exact", lambda: legacy.topk(rows, hybrid.DEPTH, None))
    del legacy
    return {"warm_s": round(warm_s, 2), **{
        name: {"p50_ms": round(float(np.median(t)), 3), "p99_ms": round(float(np.percentile(t, 99)), 3)}
        for name, t in times.items()}}


def recall(index: Index, model, questions: list[str], pairs: np.ndarray) -> dict:
    """Recall@1 and @10 of each query's known duplicate (the query itself excluded)."""
    row_of = {q: n for n, q in enumerate(questions)}
    results = index.search(model, [questions[a] for a, _ in pairs], k=11)
    ranks = []
    for result, (query, answer) in zip(results, pairs):
        found = [row_of[q] for q in result.questions if row_of[q] != query][:10]
        ranks.append(found.index(answer) + 1 if answer in found else 0)
    ranks = np.array(ranks)
    return {"recall@1": round(float(np.mean(ranks == 1)), 4),
            "recall@10": round(float(np.mean((ranks >= 1) & (ranks <= 10))), 4), "queries": len(pairs)}


def default_breadth_recall(index: Index, model, questions: list[str], pairs: np.ndarray) -> dict:
    """:func:`recall` with the dense candidates walked at the graph's default breadth (efSearch
    256) instead of hybrid.CANDIDATE_EF_SEARCH: what the narrower walk costs in recall."""
    from qdup.search import topk

    with mock.patch.object(hybrid, "CANDIDATE_EF_SEARCH", topk.HNSW_EF_SEARCH):
        return recall(index, model, questions, pairs)


def rare_only_recall(index: Index, model, questions: list[str], pairs: np.ndarray) -> dict:
    """:func:`recall` with the lexical candidates of the rare n-grams alone, at every size
    (no pool rescored on every n-gram above postings.RESCORE_FROM_ROWS): what the pool wins."""
    with mock.patch.object(postings, "RESCORE_FROM_ROWS", sys.maxsize):
        return recall(index, model, questions, pairs)


def legacy_recall(index: Index, model, questions: list[str], pairs: np.ndarray) -> dict | None:
    """:func:`recall` with the lexical candidates of the exact scan (one-segment indexes)."""
    segments = index._state[1].segments
    if len(segments) != 1:
        return None
    lexical = segments[0].lexical
    stored = postings.rare_postings(lexical)
    postings.remember(lexical, LegacyScan(lexical))
    try:
        return recall(index, model, questions, pairs)
    finally:
        postings.remember(lexical, stored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="51369,200000,1000000")
    parser.add_argument("--queries", type=int, default=300, help="validation queries timed per size")
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    parser.add_argument("--name", default="search_scale", help="results file name (benchmarks/results/NAME.json)")
    parser.add_argument("--keep", type=Path, help="keep each size's index in KEEP/SIZE and reuse it when its "
                        "questions are the same (default: built in a temporary folder, then deleted)")
    args = parser.parse_args()
    pairs = qdup.read_pairs(data_path(args.data))
    real, queries = corpus_and_queries(pairs, qdup.reference_split(pairs))
    validation = queries["validation"]
    sizes = [int(s) for s in args.sizes.split(",")]
    avoid = {int(r) for pairs in queries.values() for r in pairs.ravel()}
    extra = synthetic_questions(real, max(sizes) - len(real), avoid)
    model = qdup.load()
    figures = {"command": "python benchmarks/search_scale.py " + " ".join(sys.argv[1:]),
               "machine_before": machine_line(), "sizes": {}}
    restore = use_threads(1)
    try:
        for size in sizes:
            questions = real + extra[: size - len(real)]
            with tempfile.TemporaryDirectory() as scratch:
                folder = args.keep / str(size) if args.keep else Path(scratch)
                built = build(questions, folder)
                started = startup(folder / "index", questions[validation[0][0]])
                index = Index.load(folder / "index")
                entry = {"build": built, "startup": started, "backend": index.backend,
                         "stages": stage_times(index, model, [questions[a] for a, _ in
                                                                       validation[: WARM_UP_QUERIES + args.queries]]),
                         "validation": recall(index, model, questions, validation),
                         "validation_default_breadth": default_breadth_recall(index, model, questions, validation),
                         "validation_rare_ngrams_alone": rare_only_recall(index, model, questions, validation),
                         "validation_legacy_exact_lexical": legacy_recall(index, model, questions, validation)}
                del index
            figures["sizes"][str(size)] = entry
            stages = "  ".join(f"{k} {v['p50_ms']:.2f}" for k, v in entry["stages"].items() if k != "warm_s")
            print(f"{size:>9,} questions: build {built}  start-up {started}  recall {entry['validation']} (graph walk at efSearch "
                  f"256: {entry['validation_default_breadth']}; rare n-grams alone: "
                  f"{entry['validation_rare_ngrams_alone']}; exact lexical scan: "
                  f"{entry['validation_legacy_exact_lexical']})\n"
                  f"    read in {entry['stages']['warm_s']} s; p50 ms: {stages}", flush=True)
    finally:
        restore()
    figures["machine_after"] = machine_line()
    print(f"machine: {figures['machine_before']} (start), {figures['machine_after']} (end)")
    write_results(args.name, figures)


if __name__ == "__main__":
    main()
