"""Checks of what is handed to an index: ids, metadata, and the next generated ids."""

from __future__ import annotations

import json
from typing import Sequence

from ..errors import DataError
from .backends import Store


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
    return metadata if any(metadata) else None


def check_ids(ids: Sequence[str], questions: list[str], taken: set[str]) -> list[str]:
    ids = [str(i).strip() for i in ids]
    if len(ids) != len(questions):
        raise DataError(f"{len(ids)} ids for {len(questions)} questions")
    seen: set[str] = set()
    for i in ids:
        if not i:
            raise DataError("empty id")
        if i in taken:
            raise DataError(f"id {i!r} is already in the index")
        if i in seen:
            raise DataError(f"duplicate id {i!r}")
        seen.add(i)
    return ids


def auto_ids(manifest: dict, store: Store, n: int) -> list[str]:
    """The next ``n`` numbers not taken by a stored id (a user may have chosen "7")."""
    ids, next_id = [], int(manifest["next_auto_id"])
    while len(ids) < n:
        batch = [str(i) for i in range(next_id, next_id + n - len(ids))]
        taken = store.find(batch)
        ids += [i for i in batch if i not in taken]
        next_id += len(batch)
    manifest["next_auto_id"] = next_id
    return ids
