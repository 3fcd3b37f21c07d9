"""The reference train / validation / test split (SPEC §1, qqp-partial README).

For the complete file the split is by row position: rows [0, 300000) are the training
pool and rows [300000, 310240) the test set. For partial copies, which keep the original
pair ids, the same split is taken by id. The pool's duplicates train (first 80%) and
validate (last 20%); ``c`` is the id of the first validation duplicate, every pool pair
from ``c`` on is a validation pair, and the pool's non-duplicates before ``c`` may be used
by recipes that learn from negatives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .pairs import Pairs
from ..errors import DataError

TRAIN_ROWS = 300_000
TEST_ROWS = 10_240
TRAIN_FRACTION = 0.8


@dataclass(frozen=True)
class Split:
    train: Pairs  # duplicate pairs that train
    validation: Pairs  # every labelled pool pair from the first validation duplicate on
    negatives: Pairs  # pool non-duplicates before the first validation duplicate
    test: Pairs
    method: str  # "position" or "id"

    @property
    def validation_duplicates(self) -> Pairs:
        return self.validation.duplicates()

    def pool_questions(self) -> list[str]:
        """The training pool's distinct questions (``train`` and ``negatives``), stripped and
        sorted: what encoders mine negatives from and re-rankers search over."""
        return sorted({q.strip() for p in (self.train, self.negatives) for q in p.question1 + p.question2} - {""})

    def summary(self) -> dict:
        return {
            "method": self.method,
            "train_duplicates": len(self.train),
            "validation_pairs": len(self.validation),
            "validation_duplicates": int(self.validation.is_duplicate.sum()),
            "negatives": len(self.negatives),
            "test_pairs": len(self.test),
            "first_validation_id": int(self.validation.ids[0]) if len(self.validation) else None,
            "pairs_sha256": self.digest(),
        }

    def digest(self) -> str:
        """The first 16 hex digits of a sha256 over every pair of each part (id, label, both
        texts, in order): two files of the same counts tell apart (``qdup refit`` checks it)."""
        digest = hashlib.sha256()
        for part in (self.train, self.validation, self.negatives, self.test):
            digest.update(np.asarray(part.ids, dtype="<i8").tobytes())
            digest.update(np.asarray(part.is_duplicate, dtype="i1").tobytes())
            for text in part.question1 + part.question2:
                digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
            digest.update(b"\1")  # where a part ends
        return digest.hexdigest()[:16]


def reference_split(pairs: Pairs, by: str = "auto") -> Split:
    """Split pairs the way the reference does.

    ``by="position"`` uses row order (the complete 404k-row file); ``by="id"`` uses pair
    ids (partial copies); ``"auto"`` picks position when the file has at least
    310,240 rows.

    >>> split = reference_split(read_pairs("pairs.tsv"))   # doctest: +SKIP
    >>> len(split.train), len(split.validation), len(split.test)  # doctest: +SKIP
    (9299, 4593, 2713)
    """
    if by == "auto":
        by = "position" if len(pairs) >= TRAIN_ROWS + TEST_ROWS else "id"
    if by == "position":
        order = np.arange(len(pairs))
        pool, test = order[:TRAIN_ROWS], order[TRAIN_ROWS:TRAIN_ROWS + TEST_ROWS]
    elif by == "id":
        order = np.argsort(pairs.ids, kind="stable")
        in_pool = pairs.ids[order] < TRAIN_ROWS
        pool, test = order[in_pool], order[~in_pool]
    else:
        raise DataError(f"unknown split method {by!r} (use auto, position or id)")
    duplicates = pool[pairs.is_duplicate[pool] == 1]
    n_train = int(len(duplicates) * TRAIN_FRACTION)
    if n_train < 2 or n_train == len(duplicates):
        raise DataError(
            f"too few duplicate pairs to split: {len(duplicates)} in the training pool "
            "(need at least 3)"
        )
    # Position in the pool of the first validation duplicate.
    cut = int(np.flatnonzero(pool == duplicates[n_train])[0])
    before = pool[:cut]
    return Split(
        train=pairs.subset(duplicates[:n_train]),
        validation=pairs.subset(pool[cut:]),
        negatives=pairs.subset(before[pairs.is_duplicate[before] == 0]),
        test=pairs.subset(test),
        method=by,
    )
