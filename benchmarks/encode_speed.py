"""Questions embedded per second: the built-in model against a reference-recipe model.

    python benchmarks/encode_speed.py [--data PATH] [--rounds 7]
    python benchmarks/encode_speed.py --baseline OLD_SRC [--rounds 5]

Both models encode the 5,426 test questions of the qqp-partial protocol in alternating
rounds in one process (this machine is noisy); the best round of each counts. Writes
benchmarks/results/encode_speed.json. With ``--baseline OLD_SRC`` (the ``src`` folder of
another checkout) the built-in model is timed instead under the old and the current code,
in alternating fresh processes, and encode_speed_vs_baseline.json is written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from common import ROOT, data_path, machine_line, questions_per_second, run_child, write_results


def child(path: str, threads: int, rounds: int) -> None:
    import qdup  # first: it sets the OpenMP wait policy before torch loads
    import torch

    torch.set_num_threads(threads)
    split = qdup.reference_split(qdup.read_pairs(path))
    print(json.dumps({"rate": questions_per_second(qdup.load(), split.test.question1 + split.test.question2, rounds)}))


def compare(args) -> None:
    path = str(data_path(args.data))
    figures = {"command": "python " + " ".join(["benchmarks/encode_speed.py", *sys.argv[1:]]),
               "model": "built-in", "machine_before": machine_line()}
    for threads in (1, 2):
        rates = {"current": [], "baseline": []}
        for _ in range(2):
            for name, src in (("current", str(ROOT / "src")), ("baseline", args.baseline)):
                rates[name].append(run_child(__file__, [f"--data={path}", f"--threads={threads}",
                                                        f"--rounds={args.rounds}"], src)["rate"])
        best = {name: round(max(found)) for name, found in rates.items()}
        figures[f"{threads}_threads"] = {**best, "speedup": round(best["current"] / best["baseline"], 2)}
        print(f"{threads} thread(s): current {best['current']:,} questions/s, baseline {best['baseline']:,} "
              f"questions/s, {best['current'] / best['baseline']:.2f}x", flush=True)
    figures["machine_after"] = machine_line()
    print(f"machine: {figures['machine_before']} (start), {figures['machine_after']} (end)")
    write_results("encode_speed_vs_baseline", figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--baseline", help="src folder of the code to compare against (built-in model)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.data, args.threads, args.rounds)
    if args.baseline:
        return compare(args)
    import qdup
    import torch

    split = qdup.reference_split(qdup.read_pairs(data_path(args.data)))
    questions = split.test.question1 + split.test.question2
    models = {"reference recipe (2 epochs)": qdup.train(split, qdup.TrainConfig.from_recipe("reference")),
              "built-in (default recipe)": qdup.load()}
    figures = {"command": "python benchmarks/encode_speed.py", "questions": len(questions),
               "machine_before": machine_line()}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        best = dict.fromkeys(models, float("inf"))
        for _ in range(args.rounds):
            for name, model in models.items():
                started = time.perf_counter()
                model.encode(questions)
                best[name] = min(best[name], time.perf_counter() - started)
        rates = {name: round(len(questions) / seconds) for name, seconds in best.items()}
        ratio = best["reference recipe (2 epochs)"] / best["built-in (default recipe)"]
        for name, rate in rates.items():
            print(f"{threads} thread(s) {name:>28}: {rate:,} questions/s")
        print(f"{threads} thread(s) {'built-in / reference':>28}: {ratio:.2f}x")
        figures[f"{threads}_threads"] = {"questions_per_second": rates, "ratio_builtin_to_reference": round(ratio, 3)}
    figures["machine_after"] = machine_line()
    print(f"machine: {figures['machine_before']} (start), {figures['machine_after']} (end)")
    write_results("encode_speed", figures)


if __name__ == "__main__":
    main()
