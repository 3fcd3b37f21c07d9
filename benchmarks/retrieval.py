"""Retrieval quality on the qqp-partial protocol: every ranker side by side, and search latency.

Index every distinct question of the data (51,371); for each duplicate pair of a split,
search with question1 and find question2 among the results (question1 itself excluded).
Validation queries are for choosing; test queries report. Recall@1, recall@10 and MRR
(reciprocal rank, 0 beyond rank 100; for ``qdup search``, beyond the default 10 results).

Rankers: TF-IDF char 2-4-grams (scikit-learn) and BM25 (bm25s) fitted on the corpus; a
baseline model's cosine (``--baseline``, e.g. the previous built-in model); the model's
encoder cosine alone; hybrid candidates (cosine + char TF-IDF) fused by reciprocal rank,
no re-ranker; the re-ranker over cosine candidates only; and ``qdup search`` as shipped
(``Index.search``: hybrid candidates + the model's scorer), with its per-query latency.

    python benchmarks/retrieval.py [--model DIR] [--baseline DIR] [--data PATH] [--name NAME]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import data_path, machine, write_results  # noqa: E402

import qdup  # noqa: E402
from qdup.search import hybrid  # noqa: E402
from qdup.search.topk import exact_topk  # noqa: E402
from qdup.search.index import Index  # noqa: E402
from qdup.text.vocabulary import tokenize  # noqa: E402

DEPTH = 100  # ranks searched per query: MRR counts 0 beyond this


def corpus_and_queries(pairs, split):
    """Distinct questions of the whole file (with at least one word: what an index accepts);
    (query row, answer row) per duplicate pair."""
    questions = sorted({q.strip() for q in pairs.question1 + pairs.question2 if tokenize(q)})
    row = {q: n for n, q in enumerate(questions)}

    def queries(subset):
        dup = subset.duplicates()
        return np.array([(row[a.strip()], row[b.strip()]) for a, b in zip(dup.question1, dup.question2)
                         if a.strip() in row and b.strip() in row and a.strip() != b.strip()], dtype=np.int64)

    return questions, {"validation": queries(split.validation), "test": queries(split.test)}


def reference_data(data: str | None):
    """The pairs file (``--data``, default: qqp-partial), its reference split, and
    :func:`corpus_and_queries` of them: ``pairs, split, questions, queries``."""
    pairs = qdup.read_pairs(data_path(data))
    split = qdup.reference_split(pairs)
    return (pairs, split, *corpus_and_queries(pairs, split))


def ranks(top_rows, queries: np.ndarray) -> np.ndarray:
    """1-based rank of each answer among the results with the query itself removed (0: not found)."""
    out = np.zeros(len(queries), dtype=np.int64)
    for n, (rows, (query, answer)) in enumerate(zip(top_rows, queries)):
        rows = [r for r in rows if r != query and r >= 0][:DEPTH]
        if answer in rows:
            out[n] = rows.index(answer) + 1
    return out


def figures(found: np.ndarray) -> dict:
    hit = found > 0
    return {"recall@1": round(float(np.mean(found == 1)), 4),
            "recall@10": round(float(np.mean(hit & (found <= 10))), 4),
            "mrr": round(float(np.mean(np.where(hit, 1.0 / np.maximum(found, 1), 0.0))), 4)}


def sorted_top(scores: np.ndarray, depth: int) -> np.ndarray:
    part = np.argpartition(-scores, depth, axis=1)[:, :depth]
    order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


def tfidf_top(questions, rows):
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit_transform(questions)
    return np.concatenate([sorted_top((matrix[rows[s : s + 256]] @ matrix.T).toarray(), DEPTH + 1)
                           for s in range(0, len(rows), 256)])


def bm25_top(questions, rows):
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(questions, show_progress=False), show_progress=False)
    found, _ = retriever.retrieve(bm25s.tokenize([questions[r] for r in rows], show_progress=False),
                                  k=DEPTH + 1, show_progress=False, n_threads=1)
    return found


def cosine_top(vectors, rows):
    return exact_topk(vectors[rows], vectors, DEPTH + 1)[1]


def fused_top(vectors, lexical, inverted, rows):
    """Hybrid candidates ordered by reciprocal rank fusion of the two lists (no re-ranker)."""
    depth = hybrid.DEPTH + 1
    dense = exact_topk(vectors[rows], vectors, depth)[1]
    words = hybrid.lexical_topk(lexical.take(rows), inverted, depth, None)[1]
    out = []
    for a, b in zip(dense, words):
        fused: dict[int, float] = {}
        for ranked in (a, b):
            for place, r in enumerate(ranked[ranked >= 0]):
                fused[int(r)] = fused.get(int(r), 0.0) + 1.0 / (60 + place)
        out.append(sorted(fused, key=lambda r: (-fused[r], r)))
    return out


def reranked_dense_top(model, vectors, lexical, rows):
    """The re-ranker over the cosine's candidates only (as many as the hybrid search scores)."""
    dense = exact_topk(vectors[rows], vectors, 2 * hybrid.DEPTH + 1)[1]
    candidates = [c[c >= 0] for c in dense]
    gather = lambda picked: (vectors[picked], lexical.take(picked))  # noqa: E731
    return hybrid.rerank(vectors[rows], lexical.take(rows), candidates, gather, model.scorer,
                         2 * hybrid.DEPTH + 1)[1]


def search_top(index, model, questions, rows):
    """``qdup search`` as a user runs it: the default k=10 (+1: the query finds itself), so
    its candidates are the default 30 + 30 and its MRR counts 0 beyond rank 10."""
    results = index.search(model, [questions[r] for r in rows], k=11)
    return [[int(i) - 1 for i in r.ids] for r in results]


def latency(index, model, questions, rows, k: int = 10) -> dict:
    """Per-query wall time of ``Index.search`` (encode, both candidate lists, scoring), on one
    thread as ``qdup search`` and ``qdup serve`` run it."""
    from qdup.util.threads import use_threads

    restore = use_threads(1)
    try:
        index.search(model, [questions[rows[0]]], k)  # warm-up
        times = []
        for r in rows:
            started = time.perf_counter()
            index.search(model, [questions[r]], k)
            times.append(time.perf_counter() - started)
    finally:
        restore()
    return {"p50_ms": round(1000 * float(np.median(times)), 2),
            "p99_ms": round(1000 * float(np.percentile(times, 99)), 2), "queries": len(rows), "threads": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: the built-in model)")
    parser.add_argument("--baseline", help="another model folder to compare (e.g. the previous built-in)")
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    parser.add_argument("--latency-queries", type=int, default=300)
    parser.add_argument("--name", default="retrieval", help="results file name (benchmarks/results/NAME.json)")
    args = parser.parse_args()
    pairs = qdup.read_pairs(data_path(args.data))
    questions, queries = corpus_and_queries(pairs, qdup.reference_split(pairs))
    model = qdup.load(args.model)
    print(f"{len(questions)} questions indexed; queries: "
          f"{', '.join(f'{len(q)} {name}' for name, q in queries.items())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        index = Index.build(model, None, questions, Path(tmp) / "index")  # default backend: HNSW at 51k
        build_rate = len(questions) / (time.perf_counter() - started)
        vectors = model.encode(questions)
        systems = {"tfidf_char_2_4": lambda rows: tfidf_top(questions, rows),
                   "bm25_words": lambda rows: bm25_top(questions, rows)}
        if args.baseline:
            base_vectors = qdup.load(args.baseline).encode(questions)
            systems["baseline_cosine"] = lambda rows: cosine_top(base_vectors, rows)
        systems["encoder_cosine"] = lambda rows: cosine_top(vectors, rows)
        if model.scorer.lexical is not None:
            lexical = model.scorer.lexical.rows(questions)
            inverted = lexical.chars.to_scipy().T.tocsr()
            systems["hybrid_candidates_rrf"] = lambda rows: fused_top(vectors, lexical, inverted, rows)
            systems["reranker_on_cosine_candidates"] = lambda rows: reranked_dense_top(model, vectors, lexical, rows)
        systems["qdup_search"] = lambda rows: search_top(index, model, questions, rows)
        results = {}
        for name, top in systems.items():
            results[name] = {split: figures(ranks(top(q[:, 0]), q)) for split, q in queries.items()}
            t = results[name]["test"]
            print(f"{name:32s} test recall@1 {t['recall@1']:.3f}  recall@10 {t['recall@10']:.3f}  "
                  f"MRR {t['mrr']:.3f}   (validation MRR {results[name]['validation']['mrr']:.3f})", flush=True)
        timing = latency(index, model, questions, queries["test"][: args.latency_queries, 0])
    print(f"qdup search latency over {len(questions):,} questions: p50 {timing['p50_ms']} ms, "
          f"p99 {timing['p99_ms']} ms; index build {build_rate:,.0f} questions/s")
    write_results(args.name, {
        "command": "python benchmarks/retrieval.py " + " ".join(sys.argv[1:]), "questions_indexed": len(questions),
        "queries": {name: len(q) for name, q in queries.items()}, "model": args.model or "built-in",
        "model_fingerprint": model.fingerprint[:12], "systems": results, "search_latency": timing,
        "index_build_questions_per_s": round(build_rate), "machine_state": machine()})


if __name__ == "__main__":
    main()
