"""What a stored question's metadata may be: a JSON object (url, title, tags...), bounded.

Metadata comes back with every search result and ``GET /questions/{id}``, so what is
stored must always be readable again: finite numbers, valid Unicode (no lone surrogates,
which JSON's ``"\\udc80"`` escape can carry), at most :data:`MAX_DEPTH` levels of nesting
(a JSON encoder refuses deeper values, and the service answered 500 to every search that
found one) and :data:`MAX_BYTES` of JSON. Files and requests are checked before anything
is written; a row stored before these bounds that breaks them is returned without its
metadata (:func:`readable`), never as an error.
"""

from __future__ import annotations

import json

MAX_DEPTH = 32       # url, title, a list of tags: 2 or 3 levels
MAX_BYTES = 65_536   # as JSON, UTF-8; the service's whole request body is as large


def metadata_problem(metadata) -> str | None:
    """Why ``metadata`` cannot be stored (one phrase), or None when it can.

    >>> metadata_problem({"url": "https://forum.example/t/1", "tags": ["python"]}) is None
    True
    >>> metadata_problem({"\\udc80": "x"})
    'is not valid Unicode (a lone surrogate, say "\\\\udc80")'
    """
    if not isinstance(metadata, dict):
        return f"must be a JSON object, got {type(metadata).__name__}"
    if _depth(metadata) > MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} levels deep"
    try:
        size = len(json.dumps(metadata, allow_nan=False, ensure_ascii=False).encode("utf-8"))
    except UnicodeEncodeError:
        return 'is not valid Unicode (a lone surrogate, say "\\udc80")'
    except (TypeError, ValueError) as error:
        return f"is not JSON ({error})"
    if size > MAX_BYTES:
        return f"is {size} bytes as JSON, more than {MAX_BYTES}"
    return None


def merge_patch(stored: dict, sent: dict | None, checked: dict | None) -> dict:
    """An edit's metadata as JSON Merge Patch (RFC 7396) makes it, at the top level: the
    fields ``sent`` replace the stored ones, a field sent as null is removed, and the fields
    left out are kept (an edit that sends only the question loses nothing). ``checked``: the
    sent metadata as checked and normalised (its forum fields; their nulls already dropped).

    >>> merge_patch({"url": "u", "status": "deleted"}, {"status": "open", "url": None}, {"status": "open"})
    {'status': 'open'}
    >>> merge_patch({"url": "u"}, None, None)
    {'url': 'u'}
    """
    merged = {**stored, **(checked or {})}
    for name, value in (sent or {}).items():
        if value is None:
            merged.pop(name, None)
    return merged


def readable(metadata: dict) -> dict:
    """``metadata`` as stored, or {} when it breaks the bounds (stored before they existed)."""
    if not isinstance(metadata, dict):
        return {}
    # Most rows have none: an empty one needs no JSON round trip per match.
    return metadata if not metadata or metadata_problem(metadata) is None else {}


def _depth(value) -> int:
    """Levels of nesting, counted without recursion (a value may be thousands deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items)
    return deepest
