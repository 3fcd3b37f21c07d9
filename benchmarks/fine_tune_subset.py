"""Fine-tune a pretrained encoder on a seeded subset of the qqp-partial training pool, as
`qdup train PAIRS --encoder DIR` does (same library call, recipe transformer), within a CPU budget.

    python benchmarks/fine_tune_subset.py --encoder DIR --out DIR [--train-pairs 1600] [--validation-pairs 800]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import data_path, machine_line  # noqa: E402

import qdup  # noqa: E402
from qdup.split import Split  # noqa: E402


def subset(pairs, n: int, rng) -> qdup.Pairs:
    return pairs if n >= len(pairs) else pairs.subset(np.sort(rng.choice(len(pairs), n, replace=False)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--data")
    parser.add_argument("--train-pairs", type=int, default=1600, help="training duplicates (and as many negatives)")
    parser.add_argument("--validation-pairs", type=int, default=800)
    args = parser.parse_args()
    full = qdup.reference_split(qdup.read_pairs(data_path(args.data)))
    rng = np.random.default_rng(0)
    split = Split(subset(full.train, args.train_pairs, rng), subset(full.validation, args.validation_pairs, rng),
                  subset(full.negatives, args.train_pairs, rng), full.test, full.method)
    started = time.perf_counter()
    model = qdup.train(split, qdup.TrainConfig.from_recipe("transformer"), progress=True, encoder=args.encoder)
    model.save(args.out, force=True)
    print(f"saved {args.out} after {time.perf_counter() - started:.0f} s; {split.summary()}; {machine_line()}")


if __name__ == "__main__":
    main()
