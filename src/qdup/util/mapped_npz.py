"""Arrays in an uncompressed ``.npz`` (``np.savez``'s format), memory-mapped in place, not copied.

``np.load`` copies every array into fresh memory: a million questions' lexical rows are
1.2 GB, 4.5 s of every ``qdup search`` before the first query. Mapped, the file's pages
are the page cache's own, shared by every process that opens the index. Each member's
CRC-32, which ``np.load`` checks as it reads, is still checked over the mapped bytes (by
ISA-L, ~5x zlib's speed; every page is read once), so a flipped bit is refused all the same.

The format is the one ``np.savez`` writes: a zip of ``.npy`` files, stored, not deflated.
Anything else (a deflated, encrypted or truncated member, an object array, a header that
does not fit its member) raises ``ValueError``; the caller words it. :func:`save_aligned`
writes that format with each array's bytes at a multiple of 64 in the file (a padding
record in each member's zip header, as Android's zipalign does), so mapped arrays are
aligned; ``np.savez``'s are not, which numpy reads correctly but ~4% slower per search.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
from isal.isal_zlib import crc32  # zlib's CRC-32 at ~5x the speed (ISA-L): ~0.45 s of opening a million questions

LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature ... name length, extra length: 30 bytes
ZIP64_EXTRA = 20  # the sizes record zipfile adds to a local header when told to (force_zip64)
PADDING = struct.Struct("<HHH")  # a zip extra record: its id, its length, then the alignment
PADDING_ID = 0xD935  # zipalign's id: readers skip records they do not know
ALIGN = 64  # np.lib.format pads each .npy header to a multiple of this too
MAX_HEADER = 10_000  # bytes of an .npy header; np.load refuses longer ones too (literal_eval is slow)
CRC_BLOCK = 1 << 24  # bytes a call checks at a time (zlib's length argument was 32-bit)


def load_mapped(path: Path) -> dict[str, np.ndarray]:
    """``{name: read-only array}`` for each ``name.npy`` member of the ``.npz`` at ``path``."""
    raw = np.asarray(np.memmap(path, dtype=np.uint8, mode="r"))  # a plain array view; the map lives as its base
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as error:
        raise ValueError(str(error)) from None
    arrays = {}
    for member in members:
        if member.compress_type != zipfile.ZIP_STORED or member.flag_bits & 0x1 or not member.filename.endswith(".npy"):
            raise ValueError(f"{member.filename} is not a stored .npy member")
        start = _data_start(raw, member.header_offset)
        body = raw[start : start + member.file_size]
        if len(body) != member.file_size or _crc32(body) != member.CRC:
            raise ValueError(f"{member.filename} fails its CRC-32")
        arrays[member.filename[: -len(".npy")]] = _npy_view(body)
    return arrays


def save_aligned(f: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to the seekable file ``f`` as an ``.npz`` that ``np.load`` reads, each
    array's data starting at a multiple of :data:`ALIGN`."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))  # no clock: same bytes
            header = LOCAL_HEADER.size + len(member.filename.encode("utf-8")) + ZIP64_EXTRA + PADDING.size
            pad = -(f.tell() + header) % ALIGN
            member.extra = PADDING.pack(PADDING_ID, 2 + pad, ALIGN) + bytes(pad)
            with archive.open(member, "w", force_zip64=True) as out:  # zip64: sizes are not known yet
                array = np.asarray(array)  # C order: the reader maps nothing else (0-d arrays stay 0-d)
                np.lib.format.write_array(out, array if array.flags.c_contiguous else np.ascontiguousarray(array),
                                          allow_pickle=False)


def _data_start(raw: np.ndarray, offset: int) -> int:
    header = bytes(raw[offset : offset + LOCAL_HEADER.size])
    if len(header) != LOCAL_HEADER.size:
        raise ValueError("a member's header is cut short")
    signature, name_length, extra_length = LOCAL_HEADER.unpack(header)
    if signature != b"PK\x03\x04":
        raise ValueError("a member's header is not where the directory says")
    return offset + LOCAL_HEADER.size + name_length + extra_length


def _npy_view(body: np.ndarray) -> np.ndarray:
    """The array of one ``.npy`` file's bytes, as a view of them. Its header is read by numpy's
    own readers (format versions 1.0 and 2.0, which np.save writes for plain arrays)."""
    head = io.BytesIO(bytes(body[: 12 + MAX_HEADER]))  # magic, version, length, the header itself
    try:
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        shape, fortran, dtype = readers[np.lib.format.read_magic(head)](head, max_header_size=MAX_HEADER)
        if dtype.hasobject or not dtype.itemsize or fortran or not all(type(n) is int and n >= 0 for n in shape):
            raise ValueError
        fits = head.tell() + int(np.prod(shape, dtype=object)) * dtype.itemsize == len(body)  # exact: no overflow
    except (SyntaxError, ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError,
            MemoryError, UnicodeDecodeError):
        raise ValueError("an .npy member that is not a plain array np.save wrote") from None
    if not fits:
        raise ValueError("an .npy member whose shape does not fit its bytes")
    # np.savez does not align members: a view may be unaligned, which numpy reads correctly.
    return body[head.tell() :].view(dtype).reshape(shape)


def _crc32(body: np.ndarray) -> int:
    crc = 0
    for at in range(0, len(body), CRC_BLOCK):
        crc = crc32(body[at : at + CRC_BLOCK], crc)
    return crc
