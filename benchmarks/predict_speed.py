"""Latency of one-pair ``qdup.predict`` in-process: p50 and p99 over many calls.

    python benchmarks/predict_speed.py [--calls 2000] [--rounds 3] [--threads 1]
                                       [--baseline OLD_SRC] [--busy]

Each round runs in a fresh process with the built-in model loaded and warmed up. With
``--baseline OLD_SRC`` (a ``src`` folder of another checkout, e.g. from
``git archive main src | tar -x -C /tmp/base``) rounds of the old and the current code
alternate, so their ratio is measured under the same load. ``--busy`` keeps a busy-looping
process running throughout (another tenant on the machine). Writes
benchmarks/results/predict_speed[_busy]_{threads}t.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext

import numpy as np

from common import ROOT, Burner, machine_line, run_child, write_results

PAIR = ("How do I learn Python?", "What is the best way to learn Python?")


def child(calls: int, threads: int) -> None:
    import qdup  # first: it sets the OpenMP wait policy before torch loads
    import torch

    torch.set_num_threads(threads)

    model = qdup.load()
    for _ in range(50):  # builds the fused table, warms caches
        qdup.predict(model, *PAIR)
    times = np.empty(calls)
    for i in range(calls):
        started = time.perf_counter()
        qdup.predict(model, *PAIR)
        times[i] = time.perf_counter() - started
    print(json.dumps({"p50_ms": float(np.percentile(times, 50) * 1e3),
                      "p99_ms": float(np.percentile(times, 99) * 1e3)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", help="src folder of the code to compare against")
    parser.add_argument("--busy", action="store_true", help="run a CPU burner alongside")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.calls, args.threads)
    sides = {"current": str(ROOT / "src")} | ({"baseline": args.baseline} if args.baseline else {})
    rounds: dict[str, list] = {name: [] for name in sides}
    with Burner() if args.busy else nullcontext():
        before = machine_line()
        for _ in range(args.rounds):
            for name, src in sides.items():
                rounds[name].append(run_child(__file__, [f"--calls={args.calls}", f"--threads={args.threads}"], src))
        after = machine_line()
    figures = {"command": "python " + " ".join(["benchmarks/predict_speed.py", *sys.argv[1:]]),
               "threads": args.threads, "busy": args.busy, "machine_before": before, "machine_after": after}
    for name, results in rounds.items():
        # The median round: one unlucky round on a shared box should not decide the figure.
        figures[name] = {key: round(float(np.median([r[key] for r in results])), 3) for key in ("p50_ms", "p99_ms")}
        print(f"{name:>8}: p50 {figures[name]['p50_ms']:.3f} ms  p99 {figures[name]['p99_ms']:.3f} ms")
    if args.baseline:
        figures["speedup_p50"] = round(figures["baseline"]["p50_ms"] / figures["current"]["p50_ms"], 2)
        figures["speedup_p99"] = round(figures["baseline"]["p99_ms"] / figures["current"]["p99_ms"], 2)
        print(f" speedup: p50 {figures['speedup_p50']}x  p99 {figures['speedup_p99']}x")
    print(f"machine: {before} (start), {after} (end)")
    write_results("predict_speed" + ("_busy" if args.busy else "") + f"_{args.threads}t", figures)


if __name__ == "__main__":
    main()
