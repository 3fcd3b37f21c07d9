"""The files of one segment of a local index, written once and never changed::

    seg-000003.npy         float32 vectors (np.save, no pickles)
    seg-000003.jsonl       {"id": ..., "question": ..., "metadata": {...}} per row, same order
                           ("metadata" only on rows that have some: url, title, ...)
    seg-000003.faiss       optional HNSW graph over those vectors (FAISS binary format)
    seg-000003.lexical.npz optional sparse lexical rows (plain arrays, np.load without pickles)

Which segments make up the index is the manifest's business (:mod:`qdup.search.manifest`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ...data.vectors import write_vectors
from ...errors import DataError
from ...text.lexical import LexicalRows
from ...util import atomic

LEXICAL = ".lexical.npz"  # a segment's lexical rows, when the model's scorer uses them


def write_segment(folder: Path, name: str, vectors: np.ndarray, ids: list[str], questions: list[str],
                  metadata: list[dict] | None = None) -> None:
    write_vectors(folder / f"{name}.npy", vectors)
    metadata = metadata or [{}] * len(ids)
    lines = "".join(json.dumps({"id": i, "question": q, **({"metadata": m} if m else {})}, ensure_ascii=False) + "\n"
                    for i, q, m in zip(ids, questions, metadata))
    atomic.write_text(folder / f"{name}.jsonl", lines)


def read_segment(folder: Path, name: str, rows: int, dim: int) -> tuple[np.ndarray, list[str], list[str], list | None]:
    try:
        # Memory-mapped: segment files are immutable (a replaced one stays readable while
        # mapped), and rows an HNSW graph already holds are then never paged in twice.
        vectors = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        lines = (folder / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        records = json.loads(f"[{','.join(lines)}]")  # one parse: half the time of one per line
    except FileNotFoundError as error:
        raise DataError(f"{folder} is damaged: {Path(error.filename).name} is missing") from None
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"{folder} is damaged: segment {name} cannot be read") from None
    if vectors.dtype != np.float32 or vectors.shape != (rows, dim) or len(records) != rows:
        raise DataError(f"{folder} is damaged: segment {name} does not match the manifest")
    metadata = [r.get("metadata") or {} for r in records] if any("metadata" in r for r in records) else None
    return vectors, [r["id"] for r in records], [r["question"] for r in records], metadata


def write_lexical(folder: Path, name: str, rows: LexicalRows) -> None:
    buf = io.BytesIO()
    np.savez(buf, **rows.to_arrays())  # plain arrays; np.load(allow_pickle=False) reads them
    atomic.write_bytes(folder / f"{name}{LEXICAL}", buf.getvalue())


def read_lexical(folder: Path, name: str, rows: int) -> LexicalRows:
    try:
        with np.load(folder / f"{name}{LEXICAL}", allow_pickle=False) as arrays:
            lexical = LexicalRows.from_arrays({key: arrays[key] for key in arrays.files})
    except FileNotFoundError:
        raise DataError(f"{folder} is damaged: {name}{LEXICAL} is missing") from None
    except (ValueError, KeyError, OSError):
        raise DataError(f"{folder} is damaged: {name}{LEXICAL} cannot be read") from None
    if len(lexical) != rows:
        raise DataError(f"{folder} is damaged: {name}{LEXICAL} does not match the manifest")
    return lexical
