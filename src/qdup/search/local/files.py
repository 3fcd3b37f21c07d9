"""The files of one segment of a local index, written once and never changed::

    seg-000003.npy         float32 vectors (np.save, no pickles)
    seg-000003.jsonl       {"id": ..., "question": ..., "metadata": {...}} per row, same order
                           ("metadata" only on rows that have some: url, title, ...)
    seg-000003.faiss       optional HNSW graph over those vectors (FAISS binary format)
    seg-000003.lexical.npz optional sparse lexical rows and their rare n-gram postings
                           (plain arrays, aligned; np.load reads them without pickles)

Which segments make up the index is the manifest's business (:mod:`qdup.search.manifest`);
it records each file's size and sha256 (:func:`digest`), as a model's ``config.json`` does
for its files. Loading checks them cheaply: every file's size, the checksum of the ids and
questions, and the CRC-32 the ``.npz`` format keeps of each array of the lexical rows
(:mod:`qdup.util.mapped_npz` maps them and checks it: hashing those 74 MB per 51k questions
again cost every ``qdup search`` a tenth of a second). The vectors, the graph's vectors and
the lexical arrays are memory-mapped, not copied into fresh memory: at a million questions
opening reads 1.2 GB for the CRC-32s (0.5 s) instead of copying 2 GB (5 s), and the
mapped pages are shared with other processes. ``qdup index check`` (:func:`verify`) reads every byte
against the sha256s. Any problem is one line: ``... is damaged: ...``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from ...data.forum import as_stored_now
from ...data.vectors import write_vectors
from ...errors import DataError
from ...text.lexical import BUCKETS, LexicalRows
from ...util import atomic
from ...util.mapped_npz import load_mapped, save_aligned
from ..postings import ARRAYS as POSTINGS, RarePostings, rare_postings, remember
from ..topk import HnswSearch

LEXICAL = ".lexical.npz"  # a segment's lexical rows, when the model's scorer uses them
RECORDS_PER_WRITE = 65_536  # a segment's records are written in parts of this many
BLOCK = 1 << 20  # bytes hashed at a time


def digest(path: Path) -> dict:
    """``{"bytes": size, "sha256": hex}`` of a file, read in blocks."""
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            sha.update(block)
            size += len(block)
    return {"bytes": size, "sha256": sha.hexdigest()}


def damaged(folder: Path, what: str) -> DataError:
    return DataError(f"{folder} is damaged: {what}")


def check_size(folder: Path, name: str, recorded: dict | None) -> None:
    """The file exists and (when the manifest recorded it) has its recorded size: one ``stat``."""
    try:
        size = (folder / name).stat().st_size
    except FileNotFoundError:
        raise damaged(folder, f"{name} is missing") from None
    if recorded is not None and size != recorded.get("bytes"):
        raise damaged(folder, f"{name} has {size} bytes, the manifest says {recorded.get('bytes')}")


def read_checked(folder: Path, name: str, recorded: dict | None) -> bytes:
    """The file's bytes, refused when they do not match the recorded checksum."""
    check_size(folder, name, recorded)
    try:
        data = (folder / name).read_bytes()
    except FileNotFoundError:  # swept by a writer after the size check
        raise damaged(folder, f"{name} is missing") from None
    if recorded is not None and hashlib.sha256(data).hexdigest() != recorded.get("sha256"):
        raise damaged(folder, f"{name} does not match its checksum in the manifest")
    return data


def verify(folder: Path, names: list[str], recorded: dict | None) -> int:
    """Every byte of ``names`` against the checksums (``qdup index check``); how many were checked."""
    for name in names:
        check_size(folder, name, None if recorded is None else recorded.get(name))
        if recorded is not None and digest(folder / name) != recorded.get(name):
            raise damaged(folder, f"{name} does not match its checksum in the manifest")
    return 0 if recorded is None else len(names)


def write_segment(folder: Path, name: str, vectors: np.ndarray, ids: list[str], questions: list[str],
                  metadata: list[dict] | None = None) -> None:
    write_vectors(folder / f"{name}.npy", vectors)
    metadata = metadata or [{}] * len(ids)

    def write(f) -> None:  # streamed: a million records are ~100 MB of text, held twice as str and bytes
        for start in range(0, len(ids), RECORDS_PER_WRITE):
            part = slice(start, start + RECORDS_PER_WRITE)
            f.write("".join(json.dumps({"id": i, "question": q, **({"metadata": m} if m else {})},
                                       ensure_ascii=False) + "\n"
                            for i, q, m in zip(ids[part], questions[part], metadata[part])).encode("utf-8"))

    atomic.write_with(folder / f"{name}.jsonl", write)


def read_segment(folder: Path, name: str, rows: int, dim: int,
                 recorded: dict) -> tuple[np.ndarray, list[str], list[str], list | None]:
    """Vectors (memory-mapped), ids, questions and metadata of a segment; ``recorded``: the
    manifest's digests of its files (empty for indexes written before they were kept)."""
    vectors_file, records_file = f"{name}.npy", f"{name}.jsonl"
    check_size(folder, vectors_file, recorded.get(vectors_file))
    text = read_checked(folder, records_file, recorded.get(records_file))
    try:
        # Memory-mapped: segment files are immutable (a replaced one stays readable while
        # mapped), and rows an HNSW graph already holds are then never paged in twice.
        vectors = np.load(folder / vectors_file, mmap_mode="r", allow_pickle=False)
        # One parse of the records as one JSON array (half the time of one per line), made in
        # bytes: a newline byte only ever ends a record (JSON escapes it inside strings, and
        # no byte of a multi-byte UTF-8 character is 0x0A), so no million line strings are
        # made to be joined again. Strict UTF-8, as written (json.loads would pass surrogates).
        body = (text[:-1] if text.endswith(b"\n") else text).replace(b"\n", b",")
        records = json.loads((b"[" + body + b"]").decode("utf-8"))
    except FileNotFoundError as error:  # swept by a writer after the size check: the loader retries
        raise damaged(folder, f"{Path(error.filename).name} is missing") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise damaged(folder, f"segment {name} cannot be read") from None
    if vectors.dtype != np.float32 or vectors.shape != (rows, dim) or len(records) != rows:
        raise damaged(folder, f"segment {name} does not match the manifest")
    try:  # each check a pass in C over the column (a generator per record cost 15 ms per 51k)
        ids, questions = [r["id"] for r in records], [r["question"] for r in records]
        stored = [r.get("metadata", {}) for r in records] if any("metadata" in r for r in records) else None
    except (TypeError, KeyError):  # a line that is not an object, or lacks a key
        ids = stored = None
    if ids is None or not set(map(type, ids + questions)) <= {str} or not set(map(type, stored or [])) <= {dict}:
        raise damaged(folder, f"{records_file} holds a line without an id, a question or object metadata")
    return vectors, ids, questions, None if stored is None else [as_stored_now(m) for m in stored]


def write_graph(folder: Path, name: str, graph: HnswSearch) -> None:
    """FAISS writes the file itself; flushed to disk before the commit, as the other files are."""
    path = folder / f"{name}{HnswSearch.suffix}"
    graph.write(str(path))
    atomic.fsync_path(path)


def read_graph(folder: Path, name: str, rows: int, dim: int, recorded: dict) -> HnswSearch:
    """A segment's HNSW graph; FAISS's own errors (a truncated or garbage file) become one line."""
    graph_file = f"{name}{HnswSearch.suffix}"
    check_size(folder, graph_file, recorded.get(graph_file))
    try:  # mapped only when the file is known whole (its recorded size checked)
        graph = HnswSearch.read(str(folder / graph_file), mapped=recorded.get(graph_file) is not None)
    except RuntimeError:
        raise damaged(folder, f"{graph_file} cannot be read") from None
    if graph.graph.ntotal != rows or graph.graph.d != dim:
        raise damaged(folder, f"{graph_file} does not match the manifest")
    return graph


def write_lexical(folder: Path, name: str, rows: LexicalRows) -> None:
    # Plain arrays, aligned to be mapped (np.load reads them too). The postings are not kept: a
    # million questions' are ~0.3 GB, which a build would hold next to its graph. Those read
    # with rows written under another cut are made anew: a merge adopts today's cut.
    postings = rare_postings(rows, keep=False)
    if not postings.made_with_todays_cut():
        postings = RarePostings.of(rows.chars)
    arrays = {**rows.to_arrays(), **postings.to_arrays()}
    atomic.write_with(folder / f"{name}{LEXICAL}", lambda f: save_aligned(f, arrays))


def read_lexical(folder: Path, name: str, rows: int, recorded: dict) -> LexicalRows:
    """A segment's lexical rows, and their stored postings (a file written before they were
    stored has them made on the first search). Stored postings are used as written, even of
    another cut than today's (``max_rows``, or the rows a long bucket keeps): making
    them again would cost every process that opens a million questions ~4 s; a merge or a
    rebuild writes them anew."""
    file = f"{name}{LEXICAL}"
    check_size(folder, file, recorded.get(file))
    try:
        stored = load_mapped(folder / file)  # each array's CRC-32 checked
        lexical = LexicalRows.from_arrays(stored)
        postings = RarePostings.from_arrays(stored, len(lexical), BUCKETS) if set(POSTINGS) <= stored.keys() else None
    except FileNotFoundError:  # swept by a writer after the size check: the loader retries
        raise damaged(folder, f"{file} is missing") from None
    # Loading hashes none of this file: a flipped bit in the zip's own records can make zipfile
    # see an encrypted or compressed member (RuntimeError, NotImplementedError), a header an
    # absurd shape (MemoryError).
    except (ValueError, KeyError, TypeError, IndexError, OSError, EOFError, zipfile.BadZipFile, RuntimeError,
            NotImplementedError, MemoryError, OverflowError):
        raise damaged(folder, f"{file} cannot be read") from None
    if len(lexical) != rows:
        raise damaged(folder, f"{file} does not match the manifest")
    if postings is not None:
        remember(lexical, postings)
    return lexical
