"""The moderation loop end to end: decisions through the API, refits, flags on test queries.

Every distinct question of the file is indexed with the base model (the built-in one by
default) and served by the HTTP app with a token. A simulated moderator asks the
questions of the validation pairs (both sides, in pair-id order), looks at the top 3
matches the served model shows (the query itself aside) and judges each whose pair the
file labels: verdict = the file's label; pairs the file does not label are skipped, and
so are pairs judged before (asked from their other side).
Verdicts go in through ``POST /decisions``. After 500, 1,000 and 2,000 decisions the
base model is refit on the training pool plus all decisions so far (`qdup refit`:
:func:`qdup.training.refit.refit`, 20% of decision queries held out for the
thresholds), and the app then serves the refit model.

Each model is scored on the **test** queries (question1 of each test duplicate, over the
whole index, as benchmarks/retrieval.py): `qdup search` recall@1 and recall@10, and its
flags: the share of queries whose top match is flagged "likely duplicate" (above the search
threshold and judged a duplicate by the pair scorer, as a search shows it) and the precision of those flags (top match a true duplicate by the file's
labels, transitively, or the same text up to case and punctuation, as calibrate-search
counts it). Goal: every refit at least as good as the last, and after 2,000 decisions
flag precision +0.05 at the same or higher coverage.

    python benchmarks/moderation.py [--data PATH] [--model DIR] [--runs DIR] [--steps 500 1000 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT, add_threads_option, machine, machine_line, write_results  # noqa: E402
from retrieval import figures, ranks, reference_data  # noqa: E402

import qdup  # noqa: E402
from qdup.util.threads import use_threads  # noqa: E402
from qdup.evaluation.search_calibration import duplicate_classes  # noqa: E402
from qdup.scoring.thresholds import likely_duplicates  # noqa: E402
from qdup.search.decisions import read_decisions  # noqa: E402
from qdup.search.index import Index  # noqa: E402
from qdup.service.access import Access  # noqa: E402
from qdup.service.app import create_app  # noqa: E402
from qdup.training.refit import refit  # noqa: E402

TOKEN = "moderation-benchmark"
SHOWN = 3  # matches a moderator looks at per query


def moderator_queries(split: qdup.Split) -> list[str]:
    """Both questions of every validation pair, in pair-id order, each once."""
    seen: dict[str, None] = {}
    for a, b in zip(split.validation.question1, split.validation.question2):
        for q in (a.strip(), b.strip()):
            if q:
                seen.setdefault(q, None)
    return list(seen)


def labels_of(pairs: qdup.Pairs) -> dict[frozenset, int]:
    """The file's label of each pair of texts (either order)."""
    return {frozenset((a.strip(), b.strip())): int(y) for a, b, y in zip(pairs.question1, pairs.question2,
                                                                          pairs.is_duplicate)}


def moderate(client: TestClient, queries: list[str], labels: dict, judged: set, start: int,
             wanted: int) -> tuple[int, int]:
    """Judge the shown matches of ``queries[start:]`` until ``wanted`` decisions were posted,
    never the same pair twice (``judged``, updated); returns (next query, decisions posted)."""
    posted, auth = 0, {"Authorization": f"Bearer {TOKEN}"}
    n = start
    while posted < wanted and n < len(queries):
        query = queries[n]
        n += 1
        answer = client.post("/search", json={"question": query, "k": SHOWN + 1, "min_score": None})
        if answer.status_code != 200:  # a question the service refuses (Quora's '????'): nothing shown to judge
            continue
        shown = answer.json()["matches"]
        for match in [m for m in shown if m["question"] != query][:SHOWN]:
            pair = frozenset((query, match["question"]))
            label = labels.get(pair)
            if label is None or pair in judged or posted >= wanted:
                continue  # the file does not label this pair (no verdict), or it was judged already
            judged.add(pair)
            answer = client.post("/decisions", headers=auth, json={"query": query, "match_id": match["id"],
                                                                   "duplicate": bool(label), "moderator": "sim"})
            assert answer.status_code == 201, answer.json()
            posted += 1
    return n, posted


def scored(model, index: Index, questions: list[str], queries: np.ndarray, same) -> dict:
    """recall@1/@10 and the flags of ``model`` on the test queries."""
    results = index.search(model, [questions[r] for r in queries[:, 0]], k=11)
    found = figures(ranks([[int(i) - 1 for i in r.ids] for r in results], queries))
    flagged = hits = 0
    for (query, _), result in zip(queries, results):
        # The flag as a search shows it (the search threshold and the pair scorer's verdict),
        # on the top match once the query's own stored copy is left out.
        top = [(q, s, a) for q, s, a in zip(result.questions, result.scores, result.verdicts)
               if q != questions[query]][:1]
        if top and likely_duplicates(model, [top[0][1]], [top[0][2]])[0]:
            flagged += 1
            hits += same(questions[query], top[0][0])
    return {"recall@1": found["recall@1"], "recall@10": found["recall@10"],
            "flag_precision": round(hits / flagged, 4) if flagged else None,
            "flagged_share": round(flagged / len(queries), 4), "search_threshold": model.search_threshold}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    parser.add_argument("--model", help="base model folder (default: the built-in model)")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "moderation"), help="out-of-fold vector cache")
    parser.add_argument("--steps", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--name", default="moderation")
    add_threads_option(parser)
    args = parser.parse_args()
    use_threads(args.threads)
    pairs, split, questions, queries = reference_data(args.data)
    test, same, labels = queries["test"], duplicate_classes(pairs), labels_of(pairs)
    base = qdup.load(args.model)
    asked = moderator_queries(split)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        index = Index.build(base, None, questions, Path(tmp) / "index")
        rows.append({"decisions": 0, **scored(base, index, questions, test, same)})
        print(f"base model: {rows[-1]}", flush=True)
        served, next_query, total, judged = base, 0, 0, set()
        for step in sorted(args.steps):
            with TestClient(create_app(served, index, access=Access("token", TOKEN))) as client:
                next_query, posted = moderate(client, asked, labels, judged, next_query, step - total)
            total += posted
            decisions = read_decisions(index.path)
            started = time.perf_counter()
            served = refit(base, pairs, decisions, cache=Path(args.runs) / "fold-cache", progress=True)
            seconds = time.perf_counter() - started
            done = served.info["refit"]
            rows.append({"decisions": total, "duplicates": sum(d.duplicate for d in decisions),
                         "queries_asked": next_query, "fitted": done["fitted"], "held_out": done["held_out"],
                         "refit_seconds": round(seconds), **scored(served, index, questions, test, same)})
            print(f"after {total} decisions ({next_query} queries asked): {rows[-1]}", flush=True)
    print(f"\n{machine_line()}")
    print("| decisions (duplicate) | queries asked | refit s | recall@1 | recall@10 | flag precision | flagged share |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['decisions']} ({r.get('duplicates', '–')}) | {r.get('queries_asked', '–')} | "
              f"{r.get('refit_seconds', '–')} | {r['recall@1']:.3f} | {r['recall@10']:.3f} | "
              f"{r['flag_precision']} | {r['flagged_share']:.3f} |")
    write_results(args.name, {"command": "python benchmarks/moderation.py " + " ".join(sys.argv[1:]),
                              "rows": rows, "test_queries": len(test), "questions_indexed": len(questions),
                              "base_model": base.fingerprint[:12], "machine_state": machine()})


if __name__ == "__main__":
    main()
