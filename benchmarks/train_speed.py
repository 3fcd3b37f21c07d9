"""Training throughput: training pairs per second of one epoch, per recipe.

    python benchmarks/train_speed.py [--recipes reference default] [--epochs 1] [--rounds 1]
                                     [--threads N] [--baseline OLD_SRC] [--busy] [--data PATH]

Each run is ``qdup.train`` on the qqp-partial protocol in a fresh process; an epoch's time
(training steps plus validation, as ``history[...]["seconds"]``) counts. With
``--baseline OLD_SRC`` (the ``src`` folder of another checkout) old and current code
alternate so that their ratio is measured under the same load; ``--busy`` keeps a
busy-looping process running throughout. Writes benchmarks/results/train_speed[_busy].json.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext

import numpy as np

from common import ROOT, Burner, data_path, machine_line, run_child, write_results


def child(recipe: str, epochs: int, threads: int | None, path: str) -> None:
    import qdup  # first: it sets the OpenMP wait policy before torch loads
    import torch

    if threads:
        torch.set_num_threads(threads)

    split = qdup.reference_split(qdup.read_pairs(path))
    model = qdup.train(split, qdup.TrainConfig.from_recipe(recipe, epochs=epochs, patience=0))
    seconds = [h["seconds"] for h in model.info["history"]]
    print(json.dumps({"epoch_seconds": min(seconds), "train_pairs": len(split.train),
                      "validation_auc": model.info["history"][-1]["validation_auc"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=["reference", "default"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--baseline", help="src folder of the code to compare against")
    parser.add_argument("--busy", action="store_true", help="run a CPU burner alongside")
    parser.add_argument("--data")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--recipe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.recipe, args.epochs, args.threads, args.data)
    path = str(data_path(args.data))
    sides = {"current": str(ROOT / "src")} | ({"baseline": args.baseline} if args.baseline else {})
    figures = {"command": "python " + " ".join(["benchmarks/train_speed.py", *sys.argv[1:]]),
               "busy": args.busy, "threads": args.threads or "torch default"}
    with Burner() if args.busy else nullcontext():
        figures["machine_before"] = machine_line()
        for recipe in args.recipes:
            runs: dict[str, list] = {name: [] for name in sides}
            for _ in range(args.rounds):
                for name, src in sides.items():
                    runs[name].append(run_child(__file__, [f"--recipe={recipe}", f"--epochs={args.epochs}",
                                                           f"--threads={args.threads}", f"--data={path}"], src))
            result = {}
            for name, found in runs.items():
                seconds = float(np.min([r["epoch_seconds"] for r in found]))
                result[name] = {"epoch_seconds": round(seconds, 2),
                                "train_pairs_per_second": round(found[0]["train_pairs"] / seconds),
                                "validation_auc": round(found[0]["validation_auc"], 4)}
                print(f"{recipe:>9} {name:>8}: {seconds:.2f} s/epoch, "
                      f"{result[name]['train_pairs_per_second']:,} training pairs/s, "
                      f"validation AUC {result[name]['validation_auc']:.4f}", flush=True)
            if args.baseline:
                result["speedup"] = round(result["baseline"]["epoch_seconds"] / result["current"]["epoch_seconds"], 2)
                print(f"{recipe:>9} speedup: {result['speedup']}x", flush=True)
            figures[recipe] = result
        figures["machine_after"] = machine_line()
    print(f"machine: {figures['machine_before']} (start), {figures['machine_after']} (end)")
    write_results("train_speed" + ("_busy" if args.busy else ""), figures)


if __name__ == "__main__":
    main()
