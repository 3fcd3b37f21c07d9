"""The first searches of a freshly opened index, with and without reading it in first.

    python benchmarks/warm_start.py --index FOLDER [--queries 300] [--rounds 2] [--data PATH] [--name NAME]

What ``qdup serve``'s first users wait for. Each run is a fresh process that opens the
index (``Index.load``), then either searches at once ("as opened") or first calls
``Index.warm`` ("warmed", what the service does on a thread of its own), and times its
first ``--queries`` searches one at a time on one thread (validation questions of the
qqp-partial protocol; any index works, the answers are not scored). Two page caches:
"cold", the index's files evicted first (``posix_fadvise(DONTNEED)`` on each, which drops
only their clean pages, so nothing else on the machine is disturbed: a reboot, or an index
the page cache let go), and "hot" (the files read recently, say just built). Rounds
alternate the two ways, so both meet the same machine. Writes benchmarks/results/NAME.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import ROOT, machine_line, write_results
from retrieval import reference_data


def evict(folder: Path) -> None:
    """Drop the index's files from the page cache (their clean, unmapped pages)."""
    for path in folder.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def child(folder: str, way: str, questions: list[str]) -> dict:
    """One fresh process's figures (this script run with --child)."""
    import qdup
    from qdup.search.index import Index
    from qdup.util.threads import use_threads

    use_threads(1)
    model = qdup.load()
    started = time.perf_counter()
    index = Index.load(folder)
    opened = time.perf_counter() - started
    started = time.perf_counter()
    read = index.warm() if way == "warmed" else 0
    warmed = time.perf_counter() - started
    times = []
    for question in questions:
        started = time.perf_counter()
        index.search(model, [question], k=10)
        times.append((time.perf_counter() - started) * 1000)
    return {"load_s": round(opened, 2), "warm_s": round(warmed, 2), "warm_gb": round(read / 1e9, 2),
            "first_p50_ms": round(float(np.median(times)), 2), "first_p99_ms": round(float(np.percentile(times, 99)), 2),
            "first_mean_ms": round(float(np.mean(times)), 2)}


def run_child(folder: Path, way: str, questions_file: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", way, "--index", str(folder), "--questions-file",
                          str(questions_file)], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")}).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True, help="index folder (say one search_scale.py built)")
    parser.add_argument("--queries", type=int, default=300, help="first searches timed per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    parser.add_argument("--name", default="warm_start", help="results file name (benchmarks/results/NAME.json)")
    parser.add_argument("--child", choices=["as opened", "warmed"], help=argparse.SUPPRESS)
    parser.add_argument("--questions-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        questions = Path(args.questions_file).read_text("utf-8").splitlines()
        print(json.dumps(child(args.index, args.child, questions)))
        return
    _, _, corpus, queries = reference_data(args.data)
    folder = Path(args.index)
    questions_file = folder.parent / f"{folder.name}.warm_start_queries.txt"
    questions_file.write_text("\n".join(corpus[a] for a, _ in queries["validation"][: args.queries]) + "\n", "utf-8")
    figures = {"command": "python benchmarks/warm_start.py " + " ".join(sys.argv[1:]),
               "machine_before": machine_line(), "runs": []}
    try:
        for round_ in range(args.rounds):
            for cache in ("cold", "hot"):
                for way in ("as opened", "warmed") if round_ % 2 == 0 else ("warmed", "as opened"):
                    if cache == "cold":
                        evict(folder)
                    else:
                        run_child(folder, "warmed", questions_file)  # reads every file: the cache is hot
                    figures["runs"].append({"round": round_, "cache": cache, "way": way,
                                            **run_child(folder, way, questions_file)})
                    print(json.dumps(figures["runs"][-1]), flush=True)
    finally:
        questions_file.unlink()
    figures["machine_after"] = machine_line()
    print(f"machine: {figures['machine_before']} (start), {figures['machine_after']} (end)")
    write_results(args.name, figures)


if __name__ == "__main__":
    main()
