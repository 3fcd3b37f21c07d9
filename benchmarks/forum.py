"""Forum figures on the qqp-partial corpus: the search threshold and mining at several thresholds.

1. Calibrates the search threshold on validation queries (unless the model stores one) and
   compares, on test queries, how many of the top 10 the page flags: before (every match
   above the pair threshold) and now (above the search threshold and judged a duplicate by
   the pair scorer, as ``qdup search`` flags them).
2. Mines the whole corpus (every distinct question) at several thresholds as ``qdup mine``
   does (the model's search scores and, unless told not to, its pair verdicts): pairs among
   the neighbours, groups (no chaining) and connected components (chaining), with output
   sizes and times; at the search threshold once more without the pair verdicts.

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
from qdup.mining.groups import component_sizes, group_records, neighbours, top_k_records  # noqa: E402
from qdup.evaluation.search_calibration import SearchCalibration, calibrate_on_pairs, duplicate_classes  # noqa: E402
from qdup.scoring.thresholds import likely_duplicates  # noqa: E402
from qdup.text.vocabulary import tokenize  # noqa: E402


def indexable(pairs) -> list[str]:
    """Every distinct question of the file that an index takes (at least one word)."""
    return sorted({q.strip() for q in pairs.question1 + pairs.question2 if tokenize(q)})


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
    for name, judge in (("before_pair_threshold", pair_model), ("search_threshold_and_pair_verdict", model)):
        flagged, all10, top_hits, top_same, top_flagged = [], 0, 0, 0, 0
        for q, r in zip(queries, results):
            agree = r.verdicts if judge is model else [True] * len(r.ids)
            keep = [(x, s, a) for x, s, a in zip(r.questions, r.scores, agree) if x != q][:10]
            flags = likely_duplicates(judge, [s for _, s, _ in keep], [a for _, _, a in keep])
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


def mining_figures(index, model, threshold: float, tmp: Path, verdict: bool = True) -> dict:
    row = {"threshold": threshold, "pair_verdict": verdict}
    started = time.perf_counter()
    found = neighbours(index, 19, threshold, model=model, verdict=verdict)
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
               questions_in_components=int(comps.sum()),
               pairs_among_neighbours=len({(min(n, int(r)), max(n, int(r)))
                                           for n, rows in enumerate(found.rows) for r in rows}))
    print(row, flush=True)
    return row


def flags_only(args) -> None:
    pairs = qdup.read_pairs(data_path(args.data))
    model = qdup.load(args.model)
    corpus = indexable(pairs)
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
    corpus = indexable(pairs)
    with tempfile.TemporaryDirectory() as tmp:
        index = qdup.Index.build(model, None, corpus, Path(tmp) / "index")
        figures["flags_on_test_queries"] = flag_figures(model, index, pairs, qdup.reference_split(pairs).test)
        print(figures["flags_on_test_queries"], flush=True)
        figures["corpus_questions"] = len(corpus)
        figures["mining"] = [mining_figures(index, model, t, Path(tmp)) for t in (0.5, 0.8, 0.9, calibration.threshold)]
        figures["mining"].append(mining_figures(index, model, calibration.threshold, Path(tmp), verdict=False))
    figures["load_average_at_end"] = os.getloadavg()
    write_results("forum", figures)


if __name__ == "__main__":
    main()
