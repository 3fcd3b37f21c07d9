"""The unlabelled question files of the distillation benchmarks (docs/benchmarks.md, issue 8).

- ``train_questions.txt``: the distinct questions of the training pool (training duplicates
  and the non-duplicates before the first validation pair), none from validation or test.
- ``archive_questions.txt``: those and every other question of the file except the
  validation and test queries (question1 of their pairs): what a forum distils on is the
  archive it searches, while the questions users ask next are new.

    python benchmarks/distill_questions.py --out runs/ [--data PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import data_path  # noqa: E402

import qdup  # noqa: E402
from qdup.data.questions import is_empty  # noqa: E402
from qdup.util import atomic  # noqa: E402


def storable(question: str) -> bool:
    """One line with words: `qdup distill` refuses a question with none ("????")."""
    return not is_empty(question) and "\n" not in question


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the two question files")
    parser.add_argument("--data", help="pairs file (default: ../shared/data/qqp-partial/pairs.tsv)")
    args = parser.parse_args()
    pairs = qdup.read_pairs(data_path(args.data))
    split = qdup.reference_split(pairs)
    train = sorted({q.strip() for part in (split.train, split.negatives) for q in part.question1 + part.question2
                    if storable(q)})
    asked = {q.strip() for part in (split.validation, split.test) for q in part.question1}
    archive = sorted(set(train) | {q for q in pairs.question1 + pairs.question2
                                   if storable(q) and q.strip() not in asked})
    args.out.mkdir(parents=True, exist_ok=True)
    for name, questions in (("train_questions.txt", train), ("archive_questions.txt", archive)):
        atomic.write_text(args.out / name, "\n".join(questions) + "\n")
        print(f"{args.out / name}: {len(questions)} questions")


if __name__ == "__main__":
    main()
