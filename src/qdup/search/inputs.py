"""Checks of what is handed to an index: questions, ids and metadata of a chunk, the next
generated ids, and the search arguments.

Every write prepares its chunks with :func:`prepare_chunk` (``add`` in two steps, so that
the slow encoding happens between them and outside the folder's lock).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Callable, Container, Sequence

from ..data.corpus import Corpus
from ..data.forum import check_forum_fields
from ..data.questions import check_questions
from ..errors import ConfigError, DataError
from ..scoring.thresholds import check_threshold
from .filters import Filter, as_filter

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
    free numbers (``manifest["next_auto_id"]`` moves past them)."""
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
        if not isinstance(m, dict):
            raise DataError(f"metadata of question {n + 1} must be a JSON object, got {type(m).__name__}")
        try:
            json.dumps(m, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise DataError(f"metadata of question {n + 1} is not JSON ({error})") from None
    metadata = [check_forum_fields(m, f"metadata of question {n + 1}") for n, m in enumerate(metadata)]
    return metadata if any(metadata) else None


def check_ids(ids: Sequence[str], questions: list[str]) -> list[str]:
    ids = [str(i).strip() for i in ids]
    if len(ids) != len(questions):
        raise DataError(f"{len(ids)} ids for {len(questions)} questions")
    seen: set[str] = set()
    for i in ids:
        if not i:
            raise DataError("empty id")
        if i in seen:
            raise DataError(f"duplicate id {i!r}")
        seen.add(i)
    return ids


def auto_ids(manifest: dict, taken: Taken | None, n: int) -> list[str]:
    """The next ``n`` numbers not ``taken`` by a stored id (a user may have chosen "7")."""
    ids, next_id = [], int(manifest["next_auto_id"])
    while len(ids) < n:
        batch = [str(i) for i in range(next_id, next_id + n - len(ids))]
        stored = taken(batch) if taken is not None else ()
        ids += [i for i in batch if i not in stored]
        next_id += len(batch)
    manifest["next_auto_id"] = next_id
    return ids


def check_search_args(k, threshold, where=None, min_score=None) -> tuple[int, float | None, Filter | None, float | None]:
    """``k``, ``threshold``, the filter ``where`` (parsed, :mod:`qdup.search.filters`) and
    ``min_score`` of a search, checked before any encoding."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return (k, None if threshold is None else check_threshold(threshold), as_filter(where),
            None if min_score is None else check_threshold(min_score))
