"""Give a model that never trained on the labelled pairs (a zero-shot pretrained encoder)
qdup's re-ranker: fitted on the training pool as ``qdup train`` fits it, calibrated on the
validation pairs, saved as a model folder that every command and benchmark opens.

No out-of-fold encoders are needed: the encoder has not seen the training pairs, so its
cosine on them is as honest as on new questions (one fold, the model itself).

    python benchmarks/fit_reranker.py --model DIR --out DIR [--data PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import data_path, machine_line  # noqa: E402

import qdup  # noqa: E402
from qdup.model import QdupModel  # noqa: E402
from qdup.training.scorer_fit import train_rerank_scorer  # noqa: E402
from qdup.training.steps import calibrate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a model folder whose encoder never saw the pairs")
    parser.add_argument("--out", required=True)
    parser.add_argument("--data")
    args = parser.parse_args()
    split = qdup.reference_split(qdup.read_pairs(data_path(args.data)))
    base = qdup.load(args.model)
    started = time.perf_counter()
    scorer = train_rerank_scorer(split, 1, lambda part: base, log=print)
    model = QdupModel(base.encoder, info={"base_encoder": args.model, "data": split.summary()}, scorer=scorer)
    calibrate(model, split.validation, store=True).save(args.out, force=True)
    print(f"saved {args.out} after {time.perf_counter() - started:.0f} s; {machine_line()}")


if __name__ == "__main__":
    main()
