import re
from dataclasses import replace

import numpy as np
import pytest

import qdup
from qdup.errors import DataError
from helpers import TOY_PAIRS


def test_split_by_id_on_toy(fixture_pairs):
    split = qdup.reference_split(fixture_pairs)
    assert split.method == "id"
    pool_duplicates = fixture_pairs.is_duplicate[fixture_pairs.ids < 300000].sum()
    assert len(split.train) == int(pool_duplicates * 0.8)
    assert (split.train.is_duplicate == 1).all()
    cut = split.validation.ids[0]
    assert split.validation.is_duplicate[0] == 1
    assert (split.train.ids < cut).all() and (split.negatives.ids < cut).all()
    assert (split.negatives.is_duplicate == 0).all()
    assert (split.test.ids >= 300000).all() and len(split.test) == 160


def test_split_by_position_uses_row_order():
    n = 310_240 + 5
    labels = np.tile([1, 0, 1, 1], n // 4 + 1)[:n]
    pairs = qdup.Pairs(np.arange(n)[::-1].copy(), ["q"] * n, ["p"] * n, labels.astype(np.int8))
    split = qdup.reference_split(pairs)
    assert split.method == "position"
    assert len(split.test) == 10_240
    assert split.test.ids[0] == pairs.ids[300_000]
    assert len(split.train) == int(labels[:300_000].sum() * 0.8)


def test_too_few_duplicates():
    pairs = qdup.pairs_from_lists(["a", "b"], ["c", "d"], [1, 0])
    with pytest.raises(DataError, match="too few duplicate pairs"):
        qdup.reference_split(pairs)


def test_qqp_partial_protocol(qqp_partial):
    split = qdup.reference_split(qdup.read_pairs(qqp_partial))
    assert split.summary() == {
        "method": "id", "train_duplicates": 9299, "validation_pairs": 4593,
        "validation_duplicates": 2325, "negatives": 11641, "test_pairs": 2713,
        "first_validation_id": 213182, "pairs_sha256": split.digest(),
    }


def test_the_digest_tells_apart_pairs_of_the_same_counts(fixture_pairs):
    split = qdup.reference_split(fixture_pairs)
    assert re.fullmatch("[0-9a-f]{16}", split.digest())
    assert qdup.reference_split(qdup.read_pairs(TOY_PAIRS)).digest() == split.digest()  # read again: the same
    flipped = fixture_pairs.is_duplicate.copy()
    at = int(np.flatnonzero(fixture_pairs.ids == split.test.ids[0])[0])
    flipped[at] = 1 - flipped[at]  # a test label: no count changes
    edited = fixture_pairs.question2[:]
    edited[0] = edited[0].rstrip("?") + " really?"  # one text edited
    for other in (replace(fixture_pairs, is_duplicate=flipped), replace(fixture_pairs, question2=edited)):
        assert qdup.reference_split(other).summary().items() - split.summary().items() == \
            {("pairs_sha256", qdup.reference_split(other).digest())}
