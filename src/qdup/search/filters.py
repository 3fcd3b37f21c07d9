"""Filters on forum fields: ``--where status!=deleted``, the service's ``filter``.

One representation, parsed once (:func:`parse_filter`), then translated for each backend:
a boolean row mask over stored metadata for the local stores (:meth:`Filter.mask`), and a
Milvus filter expression on the ``metadata`` JSON field (:meth:`Filter.milvus`). Both
give the same rows, including for questions that lack a field:

- ``status`` and ``answers`` have defaults (open, 0: :data:`qdup.data.forum.DEFAULTS`), and
  so do ``tags`` (none);
- otherwise a missing field passes ``!=`` and fails every other comparison.

A condition is ``FIELD OP VALUE``, OP one of ``= != < <= > >=`` (the order ones for
``created`` and ``answers`` only); ``=`` and ``!=`` take alternatives, ``status=open|closed``.
For ``tags``, ``=`` means "has one of these tags". Conditions given together must all hold.

>>> f = parse_filter(["status!=deleted", "tags=python|rust", "created>=2024-01-01"])
>>> f.passes({"tags": ["rust"], "created": "2024-02-01T00:00:00Z"}), f.passes({"status": "deleted"})
(True, False)
>>> print(parse_filter("answers>0").milvus())
(exists metadata["answers"] and metadata["answers"] > 0)
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..data.forum import DEFAULTS, check_field, field
from ..errors import ConfigError, DataError

FILTERABLE = ("status", "category", "tags", "created", "answers", "duplicate_of")
ORDERED = ("created", "answers")  # fields that take < <= > >=
OPERATORS = ("!=", "<=", ">=", "=", "<", ">")  # longest first: "<=" before "<"
# Any name up to the operator ("stätus", "tag2"), so that a wrong one is named as unknown.
_CONDITION = re.compile(r"^\s*([^\s!=<>]+)\s*(!=|<=|>=|=|<|>)\s*(.*?)\s*$", re.S)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_COMPARE = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


@dataclass(frozen=True)
class Condition:
    """``field op value``; ``=`` / ``!=`` with several values: any of them / none of them."""

    field: str
    op: str
    values: tuple

    def passes(self, metadata: dict | None) -> bool:
        value = field(metadata, self.field)
        if value is None:
            return self.op == "!="
        if self.field == "tags":
            has = isinstance(value, list) and any(v in value for v in self.values)
            return has if self.op == "=" else not has
        if self.op in ("=", "!="):
            return (value in self.values) == (self.op == "=")
        try:
            return bool(_COMPARE[self.op](value, self.values[0]))
        except TypeError:  # a value of another type (an index older than these checks)
            return False

    def milvus(self, column: str) -> str:
        path = f"{column}[{milvus_literal(self.field)}]"
        if self.field == "tags":
            test = f"json_contains_any({path}, [{', '.join(milvus_literal(v) for v in self.values)}])"
            return test if self.op == "=" else f"not {test}"  # missing: no tags, as locally
        if self.op == "=":
            test = " or ".join(f"{path} == {milvus_literal(v)}" for v in self.values)
        elif self.op == "!=":
            test = " and ".join(f"{path} != {milvus_literal(v)}" for v in self.values)
        else:
            test = f"{path} {self.op} {milvus_literal(self.values[0])}"
        # Milvus compares a missing key as unknown (false, even under "not"): say what it means.
        default = DEFAULTS.get(self.field)
        if default is None and self.op != "!=" or default is not None and not self.passes({}):
            return f"(exists {path} and ({test}))" if self.op in ("=", "!=") else f"(exists {path} and {test})"
        return f"(not exists {path} or ({test}))"

    def __str__(self) -> str:
        return f"{self.field}{self.op}{'|'.join(str(v) for v in self.values)}"


@dataclass(frozen=True)
class Filter:
    """Conditions that must all hold."""

    conditions: tuple[Condition, ...]

    def passes(self, metadata: dict | None) -> bool:
        return all(c.passes(metadata) for c in self.conditions)

    def mask(self, metadata: Sequence[dict | None] | None, rows: int) -> np.ndarray:
        """``(rows,)`` bool: which of ``rows`` questions pass (``metadata`` None: none has any)."""
        if metadata is None:
            return np.full(rows, self.passes({}), bool)
        return np.fromiter((self.passes(m) for m in metadata), bool, count=rows)

    def milvus(self, column: str = "metadata") -> str:
        """The same conditions as a Milvus filter expression on the JSON field ``column``."""
        return " and ".join(c.milvus(column) for c in self.conditions)

    def __str__(self) -> str:
        return " and ".join(str(c) for c in self.conditions)


def parse_filter(where: str | Sequence[str] | None) -> Filter | None:
    """The :class:`Filter` of one condition or a list of them (None or empty: no filter);
    a :class:`ConfigError` naming the bad condition otherwise."""
    if where is None:
        return None
    given = [where] if isinstance(where, str) or not isinstance(where, Iterable) else list(where)  # 5: refused below
    conditions = tuple(_condition(text) for text in given)
    return Filter(conditions) if conditions else None


def combine(*filters: Filter | None) -> Filter | None:
    """One filter that passes what all of ``filters`` pass (None ones ignored)."""
    conditions = tuple(c for f in filters if f is not None for c in f.conditions)
    return Filter(conditions) if conditions else None


def as_filter(where: Filter | str | Sequence[str] | None) -> Filter | None:
    """``where`` as a :class:`Filter`: one already parsed, or conditions to parse."""
    return where if isinstance(where, Filter) or where is None else parse_filter(where)


def _condition(text) -> Condition:
    if not isinstance(text, str):
        raise ConfigError(f"a filter condition must be text like 'status=open', got {text!r}")
    match = _CONDITION.match(text)
    if not match or not match.group(3):
        raise ConfigError(f"filter {text!r}: expected FIELD OP VALUE, e.g. status!=deleted or created>=2024-01-01")
    name, op, raw = match.group(1).lower(), match.group(2), match.group(3)
    if name not in FILTERABLE:
        raise ConfigError(f"filter {text!r}: unknown field {name!r} (filterable: {', '.join(FILTERABLE)})")
    if op not in ("=", "!=") and name not in ORDERED:
        raise ConfigError(f"filter {text!r}: {name} takes = or != only ({op} is for {' and '.join(ORDERED)})")
    parts = [p.strip() for p in raw.split("|")] if op in ("=", "!=") else [raw]
    if not all(parts):
        raise ConfigError(f"filter {text!r}: empty value")
    for part in parts if name == "created" and op in ("=", "!=") else ():
        after = _next_day(part)
        if after:  # as a time it is midnight: it would match only threads posted at that second
            raise ConfigError(f"filter {text!r}: created{op} compares whole times, and {part} alone is its "
                              f"midnight; for the day, give two conditions: created>={part} and created<{after}")
    if name == "tags" and any("," in p for p in parts):  # tags are split on commas: no tag holds one
        tags = "|".join(t.strip() for p in parts for t in p.split(",") if t.strip())
        raise ConfigError(f"filter {text!r}: a tag never holds a comma"
                          + (f"; for any of several tags, write tags{op}{tags}" if tags else ""))
    try:
        return Condition(name, op, tuple(_value(name, p) for p in parts))
    except DataError as error:
        raise ConfigError(f"filter {text!r}: {error}") from None


def _next_day(text: str) -> str | None:
    """The day after ``text`` when it is a date alone (``2024-01-05``), else None."""
    try:
        return (dt.date.fromisoformat(text) + dt.timedelta(days=1)).isoformat() if _DAY.fullmatch(text) else None
    except ValueError:  # 2024-02-30: the date check that follows names it
        return None


def _value(name: str, text: str):
    # The ordered and closed fields compare as stored: checked and normalised as metadata is.
    return check_field(name, text, name) if name in ("status", "created", "answers") else text


def milvus_literal(value) -> str:
    """A literal of Milvus's filter language: numbers as they are, strings quoted with C-style escapes."""
    if isinstance(value, int):
        return str(value)
    for a, b in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        value = value.replace(a, b)
    return f'"{value}"'
