"""Moderator decisions: verdicts on (question, match) pairs, kept in the index folder as data.

A moderator looks at a search's match and says "duplicate" or "not duplicate". Each
verdict is one line of ``decisions.jsonl`` in the index folder::

    {"time": "2024-05-01T10:00:00Z", "query": "...", "query_id": "17", "match": "...",
     "match_id": "42", "duplicate": true, "moderator": "alice"}

``query_id`` (a stored question) and ``moderator`` are optional. Both texts are kept, so
a decision stays valid when its questions are later edited or removed. The file is
append-only (:mod:`qdup.util.journal`: each line committed whole, fsynced, a torn last
line skipped), written under the index's write lock, kept by every index write (the
manifest's sweep, ``index build --force``), and never names a file the manifest names.
:func:`export_pairs` writes them in the Quora pairs layout that ``train``, ``evaluate``
and ``calibrate`` read; :mod:`qdup.training.refit` learns from them.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

from ..data.forum import check_created
from ..data.questions import check_question
from ..data.textfiles import csv_problem, csv_reader, read_text, text_lines
from ..errors import ConfigError, DataError, UnknownIdError
from ..util import atomic, journal
from .hybrid import same_question
from .manifest import DECISIONS, read_manifest, write_lock


@dataclass(frozen=True)
class Decision:
    """One verdict: is ``match`` a duplicate of ``query``?"""

    query: str
    match: str
    duplicate: bool
    time: str  # UTC, ISO 8601 (2024-05-01T10:00:00Z)
    query_id: str | None = None  # the stored question asked about, if it was one
    match_id: str | None = None
    moderator: str | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, record: dict, where: str) -> "Decision":
        try:
            decision = cls(**record)
        except TypeError:
            raise DataError(f"{where}: not a decision (fields: {', '.join(sorted(record))})") from None
        texts = (decision.query, decision.match, decision.time)
        if not all(isinstance(t, str) and t for t in texts) or not isinstance(decision.duplicate, bool):
            raise DataError(f"{where}: a decision needs query, match, time and a true/false duplicate")
        return decision


def decide(index, match_id: str, duplicate: bool, *, query: str | None = None, query_id: str | None = None,
           moderator: str | None = None, time: str | None = None) -> Decision:
    """A decision on stored question ``match_id`` as a match of ``query_id`` (a stored
    question) or of the text ``query``; texts are taken from ``index``. Not recorded yet:
    see :func:`record`. :class:`UnknownIdError` for an id the index does not hold."""
    if (query is None) == (query_id is None):
        raise ConfigError("a decision needs a query: a stored question's id or a text, not both")
    if match_id is None:
        raise ConfigError("a decision needs the match's id")
    if not isinstance(duplicate, bool):
        raise ConfigError(f"duplicate must be true or false, got {duplicate!r}")
    match = index.get(str(match_id))
    if query_id is not None:
        query_id, query = str(query_id), index.get(str(query_id)).question
    else:
        query = check_question(query)
    if query_id is not None and query_id == match.id:
        raise ConfigError(f"question {match.id!r} cannot be a duplicate of itself")
    # A text asked that is the match's own text (the page lists it first) is no pair to judge, and
    # "not a duplicate" would teach refit a falsehood. Two stored threads of one text are a pair.
    if query_id is None and same_question(query, match.question):
        raise ConfigError(f"the query is the text of question {match.id!r} itself: there is no pair to judge")
    moderator = moderator.strip() if isinstance(moderator, str) and moderator.strip() else None
    time = now() if time is None else check_created(time, "time")  # UTC, one form: latest() compares them as text
    return Decision(query, match.question, duplicate, time, query_id, match.id, moderator)


def read_decision_file(index, path) -> list[Decision]:
    """The decisions of a file, checked against ``index``: CSV/TSV with a header, or JSON
    Lines, with ``query_id`` or ``query``, ``match_id``, ``duplicate`` (1/0, true/false)
    and optionally ``moderator`` and ``time`` (ISO 8601; default: now); or a file that
    :func:`export_pairs` wrote (:data:`EXPORTED_COLUMNS`). All or nothing:
    the first bad row is a :class:`DataError` naming its line. The index's own journal is
    refused: its decisions are in the index already (an import would record each twice)."""
    path = Path(path)
    if _same_file(path, Path(index.path) / DECISIONS):
        raise ConfigError(f"{path} is the index's own decisions journal: its decisions are in the index already")
    if path.suffix.lower() in (".jsonl", ".ndjson"):  # lines end at LF, CRLF or a lone CR, as in question files
        lines = text_lines(path, "file of decisions")
        rows = [(n, _json_row(line, path, n)) for n, line in enumerate(lines, start=1) if line.strip()]
    else:
        rows = _table_rows(read_text(path, "file of decisions"), path)
    if not rows:
        raise DataError(f"{path} holds no decisions")
    # A row's ids are looked up to check it, then by decide(): once each (on Milvus, a query each).
    index = SimpleNamespace(get=functools.lru_cache(maxsize=4)(index.get))
    out = []
    for line, row in rows:
        try:
            verdict = _verdict(row.get("duplicate"))
            time = str(row["time"]) if row.get("time") else None  # decide() checks it and puts it in UTC
            query_id, query = _query(index, _text(row.get("query_id")), _text(row.get("query")))
            _check_match(index, _text(row.get("match_id")), _text(row.get("question2")))
            out.append(decide(index, _text(row.get("match_id")), verdict, query=query, query_id=query_id,
                              moderator=_text(row.get("moderator")), time=time))
        except (DataError, ConfigError) as error:
            raise type(error)(f"{path}, line {line}: {error}") from None
    return out


def _same_file(path: Path, other: Path) -> bool:
    try:
        return path.samefile(other)  # by another name too: a link, "idx/./decisions.jsonl"
    except OSError:  # either missing (an index without decisions yet): not the same
        return False


# The columns of `decisions export` (the Quora layout) under the names an import reads: a round trip.
EXPORTED_COLUMNS = {"qid1": "query_id", "qid2": "match_id", "question1": "query", "is_duplicate": "duplicate"}


def _query(index, query_id: str | None, query: str | None) -> tuple[str | None, str | None]:
    """A row's query as :func:`decide` takes it, the id or the text: a row with both (an exported
    file) names a stored thread of that text by its id, and else (removed since, or the id now
    another thread's, in an index rebuilt with ids numbered 1..n) by its text, the one judged."""
    if query_id is None or query is None:
        return query_id, query
    try:
        stored = index.get(query_id).question
    except UnknownIdError:
        return None, query
    return (query_id, None) if same_question(stored, query) else (None, query)


def _check_match(index, match_id: str | None, exported: str | None) -> None:
    """An exported row's match (``question2``) is the thread its id names now, or the row is refused:
    the verdict is on that text, not on whatever question holds the id since."""
    if match_id is None or exported is None:
        return
    stored = index.get(match_id).question
    if not same_question(stored, exported):
        raise DataError(f"question {match_id!r} is now {stored!r}, not the exported {exported!r}; "
                        "import into the index the decisions were made on, or drop the row")


def _table_rows(text: str, path: Path) -> list[tuple[int, dict]]:
    """(line, {column: cell}) of a CSV/TSV file of decisions, its header checked (any case; an
    exported file's columns read as their import names)."""
    # strict: a quote never closed is an error, not the rest of the file read into one cell
    reader = csv_reader(text, delimiter="\t" if path.suffix.lower() == ".tsv" else ",", strict=True)
    start = 1  # where the record being read starts: an error names it, not where the reader stopped
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        header = [EXPORTED_COLUMNS[name] if EXPORTED_COLUMNS.get(name, name) not in header else name
                  for name in header]  # a column under its import name too (query_id beside qid1) wins
        missing = [c for c in ("match_id", "duplicate") if c not in header]
        if missing or not {"query", "query_id"} & set(header):
            raise DataError(f"{path}: a file of decisions needs the columns match_id, duplicate and query or "
                            f"query_id; its header has {', '.join(map(repr, header)) or 'nothing'}")
        rows, start = [], reader.line_num + 1
        for row in reader:
            start = reader.line_num + 1  # the next record's first line
            if not row:  # a blank line (spreadsheets end files with them)
                continue
            if len(row) != len(header):
                raise DataError(f"{path}, line {reader.line_num}: {len(row)} fields, the header has {len(header)}")
            rows.append((reader.line_num, dict(zip(header, row))))
        return rows
    except csv.Error as error:
        raise DataError(f"{path}, line {start}: {csv_problem(error)}") from None


def _json_row(line: str, path: Path, number: int) -> dict:
    try:
        row = json.loads(line)
    except ValueError:
        row = None
    if not isinstance(row, dict):
        raise DataError(f"{path}, line {number}: expected a JSON object")
    return row


def _text(value) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value).strip()


def _verdict(value) -> bool:
    text = str(value).strip().lower()
    if value is True or text in ("1", "true", "yes", "duplicate"):
        return True
    if value is False or text in ("0", "false", "no", "not-duplicate"):
        return False
    raise DataError(f"duplicate must be 1/0 or true/false, got {value!r}")


def record(folder, decisions: Sequence[Decision]) -> int:
    """Append ``decisions`` to the index folder's file, all or none, durably (under the
    index's write lock); returns how many decisions the folder holds now."""
    folder = Path(folder)
    read_manifest(folder)  # an index folder, not any folder
    with write_lock(folder):
        return journal.append(folder / DECISIONS, [d.to_json() for d in decisions])


def read_decisions(folder) -> list[Decision]:
    """Every committed decision of the index folder, oldest first."""
    path = Path(folder) / DECISIONS
    return [Decision.from_json(r, f"{path}, decision {n}") for n, r in enumerate(journal.read(path), start=1)]


def latest(decisions: Sequence[Decision]) -> list[Decision]:
    """One decision per pair of texts (either order), the latest by its time (the later in
    the file at the same time): a moderator may change their mind, and an import of old
    verdicts must not undo a newer one."""
    last: dict[frozenset, Decision] = {}
    for d in sorted(decisions, key=lambda d: d.time):  # stable: file order within a time
        key = frozenset((d.query.strip(), d.match.strip()))
        last.pop(key, None)  # keep the order of the latest verdicts
        last[key] = d
    return list(last.values())


def export_pairs(decisions: Sequence[Decision], path, force: bool = False) -> int:
    """Write the latest verdict on each pair in the Quora layout (``id, qid1, qid2,
    question1, question2, is_duplicate``, then ``moderator, time``): TSV, or CSV for a
    ``.csv`` path. Returns the number of pairs written."""
    atomic.check_new_file(path, force)
    rows = latest(decisions)
    if not rows:
        raise DataError("no decisions to export")
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="," if str(path).lower().endswith(".csv") else "\t", lineterminator="\n")
    writer.writerow(["id", "qid1", "qid2", "question1", "question2", "is_duplicate", "moderator", "time"])
    for n, d in enumerate(rows):
        writer.writerow([n, d.query_id or "", d.match_id or "", d.query, d.match, int(d.duplicate),
                         d.moderator or "", d.time])
    atomic.write_text(path, buf.getvalue())
    return len(rows)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
