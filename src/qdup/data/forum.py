"""Forum fields: the metadata keys with a fixed meaning, checked and put in one form on input.

A question may carry any metadata (``url``, ...); these keys mean the same thing everywhere
(filters, mining's choice of canonical question, the page):

- ``title``, ``body``: text (the page shows the title; the question text is what is encoded);
- ``tags``: a list of strings (a CSV cell ``"python, pandas"`` is split on commas); ``category``: a string;
- ``status``: ``open``, ``closed`` or ``deleted`` (a question without one is open);
- ``created``: when it was asked, ISO 8601; stored as UTC ``YYYY-MM-DDTHH:MM:SSZ`` so that
  dates compare as strings in every backend (a date alone is midnight UTC);
- ``answers``: a count, a whole number from 0 to 2**63 - 1 (none: 0; every backend stores 64 bits);
- ``duplicate_of``: the id of the canonical question a closed duplicate points at.

CSV cells are strings, so ``answers`` ``"3"`` becomes 3. A bad value is an
:class:`InputError` naming the field and the value (the service answers 422).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ..errors import InputError

STATUSES = ("open", "closed", "deleted")
TEXT_FIELDS = ("title", "body", "category", "duplicate_of")
FORUM_FIELDS = ("title", "body", "tags", "category", "status", "created", "answers", "duplicate_of")
# What a missing field means, where it means something (filters and mining use these).
DEFAULTS: dict[str, Any] = {"status": "open", "answers": 0, "tags": []}
MAX_ANSWERS = 2**63 - 1  # an int64: numpy (mining's order) and Milvus hold no more


def check_forum_fields(metadata: dict, where: str = "metadata") -> dict:
    """``metadata`` with its forum fields checked and normalised (other keys untouched).

    >>> check_forum_fields({"url": "u", "answers": "3", "tags": "python, pandas", "created": "2024-01-05"})
    {'url': 'u', 'answers': 3, 'tags': ['python', 'pandas'], 'created': '2024-01-05T00:00:00Z'}
    >>> check_forum_fields({"status": "gone"})
    Traceback (most recent call last):
    ...
    qdup.errors.InputError: metadata: status must be open, closed or deleted, got 'gone'
    """
    if not any(name in metadata for name in FORUM_FIELDS):
        return metadata
    out = dict(metadata)
    for name in FORUM_FIELDS:
        if name in out and out[name] is not None:
            out[name] = check_field(name, out[name], f"{where}: {name}")
        elif name in out:
            del out[name]  # null: the field is absent
    return out


def _text(value, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"{where} must be text, got {value!r}")
    return str(value).strip()


def _tags(value, where: str) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise InputError(f"{where} must be a list of strings or a comma-separated string, got {value!r}")
    return [t.strip() for t in value if t.strip()]


def _status(value, where: str) -> str:
    status = value.strip().lower() if isinstance(value, str) else value
    if status not in STATUSES:
        raise InputError(f"{where} must be {', '.join(STATUSES[:-1])} or {STATUSES[-1]}, got {value!r}")
    return status


def _answers(value, where: str) -> int:
    try:
        count = int(value.strip()) if isinstance(value, str) else value
    except ValueError:
        count = None
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_ANSWERS:
        raise InputError(f"{where} must be a whole number from 0 to {MAX_ANSWERS}, got {value!r}")
    return count


def check_created(value, where: str = "created") -> str:
    """An ISO 8601 date or time as UTC ``YYYY-MM-DDTHH:MM:SSZ`` (no zone: UTC).

    >>> check_created("2024-03-01T10:30:00+02:00")
    '2024-03-01T08:30:00Z'
    """
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InputError(f"{where} must be an ISO 8601 date or time (2024-01-05 or 2024-01-05T10:00:00Z), got {value!r}")
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
            raise InputError(f"{where} must fall between the years 1 and 9999 in UTC, got {value!r}") from None
    # Four digits always: strftime("%Y") writes year 999 as "999", which sorts after "2024"
    return f"{parsed.year:04d}-{parsed:%m-%dT%H:%M:%S}Z"


_CHECKS = {"title": _text, "body": _text, "category": _text, "duplicate_of": _text, "tags": _tags,
           "status": _status, "created": check_created, "answers": _answers}


def check_field(name: str, value, where: str):
    """Forum field ``name``'s ``value`` checked and normalised (an :class:`InputError`
    naming ``where`` otherwise): what metadata and filter values both go through.

    >>> check_field("answers", " 3", "answers"), check_field("status", "Open", "status")
    (3, 'open')
    """
    return _CHECKS[name](value, where)


# How qdup wrote `created` before it kept four digits (strftime("%Y") writes year 999 as "999").
_UNPADDED = re.compile(r"(\d{1,3})(-\d\d-\d\dT\d\d:\d\d:\d\dZ)")


def as_stored_now(metadata: dict) -> dict:
    """Stored ``metadata`` in the form qdup stores today, for whoever reads it (filters, mining,
    answers): a ``created`` year before 1000 written without its leading zeros by an older qdup
    gets them, so it sorts and compares as the date it is (``999-01-01T00:00:00Z`` sorted after
    ``2024-...``). The index itself is not rewritten.

    >>> as_stored_now({"created": "999-01-01T00:00:00Z", "url": "u"})
    {'created': '0999-01-01T00:00:00Z', 'url': 'u'}
    """
    created = metadata.get("created") if isinstance(metadata, dict) else None
    if not isinstance(created, str) or created[4:5] == "-":  # four digits already: the common case
        return metadata
    old = _UNPADDED.fullmatch(created)
    return {**metadata, "created": f"{int(old[1]):04d}{old[2]}"} if old else metadata


def field(metadata: dict | None, name: str):
    """The value of forum field ``name`` in (normalised) ``metadata``, else its default (None: none)."""
    value = (metadata or {}).get(name)
    return DEFAULTS.get(name) if value is None else value
