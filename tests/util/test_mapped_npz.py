"""Memory-mapped .npz arrays: the very arrays np.load gives, aligned when qdup wrote them, and
every damage np.load would refuse refused (a ValueError the caller words)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from qdup.util.mapped_npz import ALIGN, load_mapped, save_aligned

ARRAYS = {
    "first": np.arange(7, dtype=np.int64) * 3,
    "weights": np.linspace(0, 1, 1001, dtype=np.float32),
    "empty": np.zeros(0, np.int32),
    "grid": np.arange(15, dtype=np.float64).reshape(3, 5),
    "one": np.array([42], dtype=np.int64),
    "scalar": np.array(2.5),
}


def saved(path, arrays=ARRAYS):
    with open(path, "wb") as f:
        save_aligned(f, arrays)
    return path


def assert_same(got, expected):
    assert list(got) == list(expected)
    for name, array in expected.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
        assert np.array_equal(got[name], array), name


def test_aligned_arrays_are_what_np_load_reads_and_start_at_a_multiple_of_64(tmp_path):
    path = saved(tmp_path / "a.npz")
    with np.load(path, allow_pickle=False) as stored:
        assert_same({name: stored[name] for name in stored.files}, ARRAYS)
    mapped = load_mapped(path)
    assert_same(mapped, ARRAYS)
    whole = np.memmap(path, np.uint8, mode="r")
    for name, array in mapped.items():
        assert not array.flags.writeable, name
        if array.size:
            assert (array.ctypes.data - whole.ctypes.data) % ALIGN == 0, name
            assert array.flags.aligned, name


def test_the_same_arrays_give_the_same_bytes(tmp_path):
    assert saved(tmp_path / "a.npz").read_bytes() == saved(tmp_path / "b.npz").read_bytes()


def test_np_savez_files_are_mapped_too_unaligned(tmp_path):
    """Indexes written before save_aligned: np.savez leaves arrays at odd offsets."""
    path = tmp_path / "old.npz"
    np.savez(path, **ARRAYS)
    mapped = load_mapped(path)
    assert_same(mapped, ARRAYS)
    assert not all(a.flags.aligned for a in mapped.values() if a.size)  # the case this test is for


def test_a_flipped_bit_in_an_array_fails_its_crc(tmp_path):
    path = saved(tmp_path / "a.npz")
    data = bytearray(path.read_bytes())
    data[data.index(ARRAYS["weights"][500].tobytes())] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="weights.npy fails its CRC-32"):
        load_mapped(path)


@pytest.mark.parametrize("damage", ["compressed", "object array", "fortran order", "not a zip", "empty",
                                    "cut short", "header not a dict", "shape too long", "shape overflows",
                                    "another key", "header too long", "bad descr"])
def test_what_np_load_would_refuse_or_a_view_cannot_hold_is_refused(tmp_path, damage):
    path = tmp_path / "bad.npz"
    if damage == "compressed":
        np.savez_compressed(path, **ARRAYS)
    elif damage == "object array":
        np.savez(path, things=np.array([{"a": 1}, None], dtype=object))
    elif damage == "fortran order":
        np.savez(path, grid=np.asfortranarray(ARRAYS["grid"]))
    elif damage == "not a zip":
        path.write_bytes(b"PK\x03\x04 not really a zip" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "cut short":
        whole = saved(path).read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    else:
        header = {"header not a dict": "[1, 2]",
                  "shape too long": "{'descr': '<i8', 'fortran_order': False, 'shape': (9,), }",
                  "shape overflows": "{'descr': '<i8', 'fortran_order': False, 'shape': (%d,), }" % 10**30,
                  "another key": "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), 'x': 1}",
                  "header too long": "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }" + " " * 20_000,
                  "bad descr": "{'descr': ('<i4',), 'fortran_order': False, 'shape': (3,), }"}[damage].encode("latin1")
        handmade(path, header)
    with pytest.raises(ValueError):
        load_mapped(path)


def handmade(path, header: bytes):
    """A zip holding one version 2.0 .npy of ``header`` followed by np.arange(3)'s bytes."""
    header += b" " * (-(12 + len(header) + 1) % 64) + b"\n"
    npy = b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header + np.arange(3, dtype="<i8").tobytes()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", npy)
    return path


def test_a_handmade_npy_of_the_right_shape_is_read(tmp_path):
    """The control for the handmade damage above: the same bytes with a true header load."""
    path = handmade(tmp_path / "ok.npz", b"{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }")
    assert load_mapped(path)["x"].tolist() == [0, 1, 2]
    with np.load(path) as stored:
        assert stored["x"].tolist() == [0, 1, 2]


def test_a_missing_file_is_file_not_found(tmp_path):
    """read_lexical tells "swept by a writer meanwhile" (retried) from damage by it."""
    with pytest.raises(FileNotFoundError):
        load_mapped(tmp_path / "gone.npz")
