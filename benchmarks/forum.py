"""Forum figures on the qqp-partial corpus: the search threshold and mining at several thresholds.

1. Calibrates the search threshold on validation queries (precision 0.9) and compares, on
   test queries, how many of the top 10 the page flags: before (every match above the
   pair threshold) and after (above the calibrated search threshold).
2. Mines the whole corpus (every distinct question) at several thresholds: pairs, groups
   (no chaining) and connected components (chaining), with output sizes and times.

    python benchmarks/forum.py [--model runs/default-model]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import data_path, write_results  # noqa: E402

import qdup  # noqa: E402
from qdup.mining.pairs import mine_vectors  # noqa: E402
from qdup.mining.groups import component_sizes, group_records, neighbours, top_k_records  # noqa: E402
from qdup.evaluation.search_calibration import SearchCalibration, calibrate_on_pairs, duplicate_classes  # noqa: E402
from qdup.scoring.thresholds import likely_duplicates  # noqa: E402


def flag_figures(model, index, pairs, test) -> dict:
    """Flagged share of the top 10 (query itself excluded) on test duplicate queries."""
    dup = test.duplicates()
    labelled = {}
    for a, b, d in zip(pairs.question1, pairs.question2, pairs.is_duplicate):
        if d:
            labelled.setdefault(a.strip(), set()).add(b.strip())
            labelled.setdefault(b.strip(), set()).add(a.strip())
    queries = sorted({a.strip() for a, b in zip(dup.question1, dup.question2) if a.strip() and a.strip() != b.strip()})
    results = index.search(model, queries, k=11)
    same = duplicate_classes(pairs)  # the calibration's notion of a true duplicate
    out = {"queries": len(queries)}
    pair_model = type("Uncalibrated", (), {"threshold": float("inf"), "search_threshold": model.threshold})()
    for name, judge in (("before_pair_threshold", pair_model), ("after_search_threshold", model)):
        flagged, all10, top_hits, top_same, top_flagged = [], 0, 0, 0, 0
        for q, r in zip(queries, results):
            keep = [(x, s) for x, s in zip(r.questions, r.scores) if x != q][:10]
            flags = likely_duplicates(judge, [s for _, s in keep])
            flagged.append(sum(flags))
            all10 += sum(flags) == 10
            if flags and flags[0]:
                top_flagged += 1
                top_hits += keep[0][0] in labelled.get(q, set())
                top_same += same(q, keep[0][0])
        out[name] = {"mean_flagged_of_10": float(np.mean(flagged)), "share_of_top10_flagged": float(np.mean(flagged)) / 10,
                     "queries_with_all_10_flagged": all10 / len(queries),
                     "queries_with_top_flagged": top_flagged / len(queries),
                     "precision_of_flagged_top": top_hits / max(top_flagged, 1),
                     "precision_of_flagged_top_transitive_or_same_text": top_same / max(top_flagged, 1)}
    return out


def mining_figures(index, vectors, threshold: float, tmp: Path) -> dict:
    row = {"threshold": threshold}
    started = time.perf_counter()
    found = neighbours(index, 19, threshold)
    row["neighbours_seconds"] = round(time.perf_counter() - started, 1)
    groups = group_records(found)
    path = tmp / "groups.jsonl"
    path.write_text("".join(json.dumps(g, ensure_ascii=False) + "\n" for g in groups))
    sizes = [g["size"] for g in groups]
    comps = component_sizes(found)
    top3 = top_k_records(type(found)(found.ids, found.questions, [r[:3] for r in found.rows], [s[:3] for s in found.scores]))
    row.update(groups=len(groups), grouped_questions=int(sum(sizes)), largest_group=max(sizes, default=0),
               groups_at_cap_20=sum(s == 20 for s in sizes), groups_jsonl_mb=round(path.stat().st_size / 1e6, 2),
               top3_records=len(top3),
               components=len(comps), largest_component=int(comps[0]) if len(comps) else 0,
               questions_in_components=int(comps.sum()))
    if threshold >= 0.8:
        started = time.perf_counter()
        try:
            i, _, _ = mine_vectors(vectors, threshold, max_pairs=3_000_000)
            row["pairs"] = len(i)
        except qdup.ConfigError:
            row["pairs"] = "> 3,000,000"
        row["pairs_seconds"] = round(time.perf_counter() - started, 1)
    print(row, flush=True)
    return row


def flags_only(args) -> None:
    pairs = qdup.read_pairs(data_path(args.data))
    model = qdup.load(args.model)
    corpus = sorted({q.strip() for q in pairs.question1 + pairs.question2 if q.strip()})
    with tempfile.TemporaryDirectory() as tmp:
        index = qdup.Index.build(model, None, corpus, Path(tmp) / "index")
        print(json.dumps(flag_figures(model, index, pairs, qdup.reference_split(pairs).test)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: the built-in model)")
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    parser.add_argument("--precision", type=float, help="calibrate anew at this precision "
                        "(default: use the model's stored search threshold, else calibrate at 0.8)")
    parser.add_argument("--flags-only", action="store_true", help="print the flag figures only (no mining)")
    args = parser.parse_args()
    if args.flags_only:
        return flags_only(args)
    pairs = qdup.read_pairs(data_path(args.data))
    model = qdup.load(args.model)
    figures = {"load_average_at_start": os.getloadavg()}
    started = time.perf_counter()
    if model.search_threshold is None or args.precision:  # else: the one stored by `qdup calibrate-search`
        model.info["search_threshold"] = calibrate_on_pairs(model, pairs, args.precision or 0.8).to_dict()
    calibration = SearchCalibration(**model.info["search_threshold"])
    figures["calibration"] = {**calibration.to_dict(), "seconds": round(time.perf_counter() - started, 1)}
    print(figures["calibration"], flush=True)
    corpus = sorted({q.strip() for q in pairs.question1 + pairs.question2 if q.strip()})
    with tempfile.TemporaryDirectory() as tmp:
        index = qdup.Index.build(model, None, corpus, Path(tmp) / "index")
        figures["flags_on_test_queries"] = flag_figures(model, index, pairs, qdup.reference_split(pairs).test)
        print(figures["flags_on_test_queries"], flush=True)
        vectors = index.live()[0]
        figures["corpus_questions"] = len(corpus)
        figures["mining"] = [mining_figures(index, vectors, t, Path(tmp))
                             for t in (model.threshold, 0.8, calibration.threshold, 0.85, 0.9, 0.95)]
    figures["load_average_at_end"] = os.getloadavg()
    write_results("forum", figures)


if __name__ == "__main__":
    main()
