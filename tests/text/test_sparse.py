"""qdup's own sparse rows take, stack and check rows as scipy's CSR matrices would."""

import numpy as np
import pytest
import scipy.sparse as sp

from qdup.text.sparse import SparseRows


def random_rows(rows: int, width: int, seed: int) -> SparseRows:
    matrix = sp.random(rows, width, density=0.3, format="csr", dtype=np.float32, random_state=seed)
    matrix.sort_indices()
    return SparseRows(matrix.data, matrix.indices.astype(np.int32), matrix.indptr, width)


def same(ours: SparseRows, theirs) -> None:
    theirs = theirs.tocsr()
    theirs.sort_indices()
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_array_equal(ours.data, theirs.data)


def test_take_equals_scipy_fancy_indexing():
    rows = random_rows(12, 9, seed=0)
    for picked in ([3, 0, 3, 11], [], [5], list(range(12))[::-1]):
        same(rows.take(np.array(picked, dtype=np.int64)), rows.to_scipy()[picked])


def test_stack_equals_scipy_vstack_including_taken_and_empty_parts():
    parts = [random_rows(4, 7, seed=1), random_rows(0, 7, seed=2), random_rows(5, 7, seed=3).take(np.array([4, 1]))]
    same(SparseRows.stack(parts), sp.vstack([p.to_scipy() for p in parts]))
    with pytest.raises(ValueError, match="widths"):
        SparseRows.stack([random_rows(2, 7, seed=4), random_rows(2, 8, seed=5)])


def test_stack_can_drop_each_part_once_copied():
    parts = [random_rows(3, 5, seed=6), random_rows(2, 5, seed=7)]
    expected = sp.vstack([p.to_scipy() for p in parts])
    same(SparseRows.stack(parts, consume=True), expected)
    assert parts == [None, None]


def test_stack_of_kept_rows_equals_stacking_the_rows_taken():
    whole = random_rows(9, 7, seed=8)
    tail = SparseRows(whole.data, whole.indices, whole.indptr[3:], 7)  # rows 3..8, entries not from 0
    parts = [random_rows(5, 7, seed=9), tail, random_rows(0, 7, seed=10), random_rows(4, 7, seed=11)]
    keep = [np.array([True, False, True, True, False]), np.array([False, True, True, False, False, True]),
            None, np.zeros(4, bool)]
    taken = [p if k is None else p.take(np.flatnonzero(k)) for p, k in zip(parts, keep)]
    same(SparseRows.stack(parts, keep=keep), sp.vstack([p.to_scipy() for p in taken]))


def test_owners_and_row_lengths():
    rows = SparseRows(np.ones(3, np.float32), np.array([0, 2, 1], np.int32), np.array([0, 2, 2, 3]), 3)
    assert rows.owners.tolist() == [0, 0, 2] and rows.row_lengths.tolist() == [2, 0, 1] and rows.nnz == 3


@pytest.mark.parametrize("damage", ["column too large", "negative column", "rows out of order", "wrong count",
                                    "float positions", "unsigned row starts out of order", "values not numbers"])
def test_checked_refuses_rows_outside_the_matrix(damage):
    data, indices, indptr = np.ones(3, np.float32), np.array([0, 2, 1], np.int32), np.array([0, 2, 2, 3])
    if damage == "column too large":
        indices[1] = 3
    elif damage == "negative column":
        indices[0] = -1
    elif damage == "rows out of order":
        indptr = np.array([0, 2, 1, 3])
    elif damage == "wrong count":
        indptr = np.array([0, 2, 2, 4])
    elif damage == "unsigned row starts out of order":
        indptr = np.array([0, 2, 1, 3], dtype=np.uint64)  # a difference that wraps round is never negative
    elif damage == "values not numbers":
        data = np.array(["a", "b", "c"])
    else:
        indices = indices.astype(np.float32)
    SparseRows.checked(np.ones(3, np.float32), np.array([0, 2, 1], np.int32), np.array([0, 2, 2, 3]), 3, 3)
    with pytest.raises(ValueError):
        SparseRows.checked(data, indices, indptr, 3, 3)
