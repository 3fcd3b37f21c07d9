"""Questions embedded per second: the built-in model against a reference-recipe model.

    python benchmarks/encode_speed.py [--data PATH] [--rounds 7]

Both models encode the 5,426 test questions of the qqp-partial protocol in alternating
rounds in one process (this machine is noisy); the best round of each counts. Writes
benchmarks/results/encode_speed.json.
"""

from __future__ import annotations

import argparse
import time

import torch

import qdup
from common import data_path, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    split = qdup.reference_split(qdup.read_pairs(data_path(args.data)))
    questions = split.test.question1 + split.test.question2
    models = {"reference recipe (2 epochs)": qdup.train(split, qdup.TrainConfig.from_recipe("reference")),
              "built-in (default recipe)": qdup.load()}
    figures = {"command": "python benchmarks/encode_speed.py", "questions": len(questions)}
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
    write_results("encode_speed", figures)


if __name__ == "__main__":
    main()
