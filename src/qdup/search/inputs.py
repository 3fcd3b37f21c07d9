"""Checks of what is handed to an index: questions, ids and metadata of a chunk, the next
generated ids, and the search arguments.

Every write prepares its chunks with :func:`prepare_chunk` (``add`` in two steps, so that
the slow encoding happens between them and outside the folder's lock).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Container, Sequence

import numpy as np

from ..data.corpus import Corpus
from ..data.forum import check_forum_fields
from ..data.metadata import metadata_problem
from ..data.questions import check_questions
from ..errors import ConfigError, DataError, InputError
from ..scoring.thresholds import check_threshold
from .filters import Filter, as_filter

MAX_ID_BYTES = 65_535  # what Milvus holds: every backend takes the same ids (a 2 MB one was stored locally)
AUTO_ID_PREFIX = "qdup-"  # generated ids of an index whose ids are the user's
AUTO_ID_PREFIX_KEY = "auto_id_prefix"  # in the manifest
# Which of these ids the index holds (say ``Store.find``); None: nothing is stored yet (a build).
Taken = Callable[[list[str]], Container[str]]


def prepare_chunk(chunk: Corpus, manifest: dict, taken: Taken | None) -> Corpus:
    """``chunk`` ready to store: :func:`check_chunk`, then :func:`assign_ids`."""
    return assign_ids(check_chunk(chunk), manifest, taken)


def check_chunk(chunk: Corpus) -> Corpus:
    """The chunk's questions stripped and checked, its ids (when given) and its metadata
    checked: everything that needs no look-up in the index."""
    questions = check_questions(chunk.questions)
    ids = None if chunk.ids is None else check_ids(chunk.ids, questions)
    return Corpus(questions, ids, check_metadata(chunk.metadata, questions))


def assign_ids(chunk: Corpus, manifest: dict, taken: Taken | None) -> Corpus:
    """A checked chunk with its ids: the given ones when none is ``taken``, else the next
    free numbers (``manifest["next_auto_id"]`` moves past them). The first chunk of a build
    (``taken`` None) decides whose ids the index holds (:func:`auto_id_prefix`)."""
    if taken is None and AUTO_ID_PREFIX_KEY not in manifest:
        manifest[AUTO_ID_PREFIX_KEY] = "" if chunk.ids is None else AUTO_ID_PREFIX
    if chunk.ids is None:
        return replace(chunk, ids=auto_ids(manifest, taken, len(chunk)))
    stored = taken(chunk.ids) if taken is not None else ()
    for i in chunk.ids:
        if i in stored:
            raise DataError(f"id {i!r} is already in the index")
    return chunk


def check_metadata(metadata: Sequence[dict] | None, questions: list[str]) -> list[dict] | None:
    if metadata is None:
        return None
    metadata = list(metadata)
    if len(metadata) != len(questions):
        raise DataError(f"{len(metadata)} metadata objects for {len(questions)} questions")
    for n, m in enumerate(metadata):
        problem = metadata_problem(m)
        if problem:
            raise InputError(f"metadata of question {n + 1} {problem}")
    metadata = [check_forum_fields(m, f"metadata of question {n + 1}") for n, m in enumerate(metadata)]
    return metadata if any(metadata) else None


def id_list(ids: Sequence[str]) -> list[str]:
    """``ids`` as strings; one string is refused, not read as one id per character ("12" as "1", "2")."""
    if isinstance(ids, (str, bytes)):
        raise ConfigError(f"ids must be a list of ids, not one string (got {ids!r})")
    return [str(i) for i in ids]


def check_ids(ids: Sequence[str], questions: list[str]) -> list[str]:
    ids = [i.strip() for i in id_list(ids)]
    if len(ids) != len(questions):
        raise DataError(f"{len(ids)} ids for {len(questions)} questions")
    seen: set[str] = set()
    for i in ids:
        if not i:
            raise InputError("empty id")
        if not _is_unicode(i):
            raise InputError(f"id {i!r} is not valid Unicode text (undecodable bytes?); use UTF-8")
        if len(i.encode("utf-8")) > MAX_ID_BYTES:
            raise InputError(f"id {i[:40]!r}... is longer than {MAX_ID_BYTES} bytes, the most an id may be")
        if i in seen:
            raise DataError(f"duplicate id {i!r}")
        seen.add(i)
    return ids


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def auto_id_prefix(manifest: dict) -> str:
    """What generated ids start with: nothing for an index built without ids (qdup numbers
    every question: 1, 2, ...), :data:`AUTO_ID_PREFIX` for an index of the user's own ids,
    so that an id qdup hands out ("qdup-1") is never one of theirs (say a forum thread left
    out of the export, added later with its own id)."""
    if AUTO_ID_PREFIX_KEY in manifest:
        return str(manifest[AUTO_ID_PREFIX_KEY])
    # Indexes made before the prefix: the user chose every id if qdup never numbered one.
    return AUTO_ID_PREFIX if int(manifest["next_auto_id"]) == 1 and int(manifest["count"]) > 0 else ""


def auto_ids(manifest: dict, taken: Taken | None, n: int) -> list[str]:
    """The next ``n`` generated ids not ``taken`` by a stored id (a user may have chosen "7")."""
    ids, next_id, prefix = [], int(manifest["next_auto_id"]), auto_id_prefix(manifest)
    while len(ids) < n:
        batch = [f"{prefix}{i}" for i in range(next_id, next_id + n - len(ids))]
        stored = taken(batch) if taken is not None else ()
        ids += [i for i in batch if i not in stored]
        next_id += len(batch)
    manifest["next_auto_id"] = next_id
    return ids


def check_search_args(k, threshold, where=None, min_score=None,
                      verdicts_above=None) -> tuple[int, float | None, Filter | None, float | None, float | None]:
    """``k``, ``threshold``, the filter ``where`` (parsed, :mod:`qdup.search.filters`),
    ``min_score`` and ``verdicts_above`` of a search, checked before any encoding (the last
    three are thresholds alike, whatever the model's scorer)."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    threshold, min_score, verdicts_above = (None if t is None else check_threshold(t)
                                            for t in (threshold, min_score, verdicts_above))
    return k, threshold, as_filter(where), min_score, verdicts_above


def check_vectors(queries, dim: int) -> np.ndarray:
    """Query vectors as a contiguous ``(q, dim)`` float32 array, from one ``(dim,)`` vector or a
    ``(q, dim)`` matrix, else a one-line :class:`ConfigError` (a reshape failed in numpy on a
    wrong size, or searched a ``(2 * dim,)`` vector as two queries), or one holding NaN or
    infinity (it matched nothing)."""
    try:
        with np.errstate(over="ignore"):  # a value beyond float32 is infinity: refused below, in words
            queries = np.asarray(queries, dtype=np.float32)
    except (TypeError, ValueError):
        raise ConfigError(f"query vectors must be an array of numbers, got {type(queries).__name__}") from None
    queries = queries[None] if queries.ndim == 1 else queries
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ConfigError(f"query vectors must be of shape ({dim},) or (n, {dim}), got {queries.shape}")
    bad = np.flatnonzero(~np.isfinite(queries).all(axis=1))
    if len(bad):  # NaN compares false with every score: the query found nothing, silently
        raise ConfigError(f"query vector {bad[0] + 1} of {len(queries)} holds NaN or infinity")
    return np.ascontiguousarray(queries)
