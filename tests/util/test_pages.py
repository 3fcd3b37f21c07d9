"""Reading mapped arrays in ahead: every page of each array is read, mapped or not, and a
mapped array's file is found through any view of it."""

from __future__ import annotations

import resource

import numpy as np
import pytest

from qdup.util.mapped_npz import load_mapped, save_aligned
from qdup.util.pages import PAGE, _mapping_of, touch, will_need


def mapped(tmp_path, length=2 * 1024 * 1024):
    np.save(tmp_path / "a.npy", np.arange(length, dtype=np.float32))
    return np.load(tmp_path / "a.npy", mmap_mode="r")


def test_touch_counts_the_bytes_of_every_array(tmp_path):
    arrays = [mapped(tmp_path, 1000), np.zeros((3, 5), np.int64), np.zeros(0, np.int32), np.array(2.5)]
    assert touch(arrays) == 4000 + 120 + 0 + 8


def test_the_map_is_found_through_views_and_npz_members(tmp_path):
    vectors = mapped(tmp_path, 1000)
    with open(tmp_path / "b.npz", "wb") as f:
        save_aligned(f, {"rows": np.arange(5000), "grid": np.ones((30, 7), np.float32)})
    members = load_mapped(tmp_path / "b.npz")
    for array in [vectors, vectors[10:20], np.asarray(vectors)[5:], *members.values()]:
        assert _mapping_of(array) is not None
    assert _mapping_of(np.arange(10)) is None and _mapping_of(np.arange(10)[2:]) is None
    will_need([vectors, *members.values(), np.arange(10)])  # in-memory arrays are left alone
    assert touch([vectors[10:20]]) == 40


@pytest.mark.skipif(not hasattr(resource, "RUSAGE_THREAD"), reason="per-thread page faults are Linux's")
def test_a_touched_array_is_read_without_page_faults(tmp_path):
    def faults_reading(array) -> int:
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        np.asarray(array).view(np.uint8)[::PAGE].sum()
        return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before

    cold = mapped(tmp_path)  # 8 MiB freshly mapped: each page faults in on its first read
    first = faults_reading(cold)
    warm = np.load(tmp_path / "a.npy", mmap_mode="r")  # another fresh map of the same file
    assert touch([warm]) == warm.nbytes
    assert first > 0 and faults_reading(warm) * 4 < first
