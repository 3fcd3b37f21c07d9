"""Filters on forum fields: one parse, the same ids on every backend, k matches when k pass, min_score."""

import numpy as np
import pytest

from fake_model import FakeModel
from qdup.errors import ConfigError, DataError
from qdup.search.filters import combine, parse_filter
from qdup.search.index import Index
from qdup.search.local import segments

WORDS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape"]
COLOURS = ["red", "green", "blue", "black"]
QUESTIONS = [f"Question about topic {w} and {c}?" for w in WORDS for c in COLOURS]  # distinct scores: no ties


def forum_metadata(n: int) -> list[dict]:
    """Every seventh question has no forum fields at all: missing fields must mean the same everywhere."""
    return [{} if i % 7 == 0 else {
        "status": ["open", "closed", "deleted"][i % 3], "created": f"2024-01-{i % 28 + 1:02d}", "answers": i % 5,
        "tags": ["python", "pandas"] if i % 2 else ["rust"], "category": 'say "hi"' if i % 4 == 0 else "plain"}
        for i in range(n)]


FILTERS = [["status!=deleted", "tags=python"], "answers>=4", 'category=say "hi"', "status=open", "tags!=rust",
           "created<2024-01-05", "answers<1", ["status=closed|deleted", "category!=plain"], "duplicate_of!=3"]


def expected_ids(model, metadata, where, query, k):
    """Brute force: score every question, keep those passing the filter, best k (``metadata``
    as stored: dates in one form)."""
    scores = model.encode(QUESTIONS) @ model.encode([query])[0]
    passing = [n for n in range(len(QUESTIONS)) if where.passes(metadata[n])]
    best = sorted(passing, key=lambda n: -scores[n])[:k]
    return [str(n + 1) for n in best]


def test_filters_give_the_same_ids_on_every_backend(tmp_path, backend):
    name, options = backend
    model, metadata = FakeModel(), forum_metadata(len(QUESTIONS))
    index = Index.build(model, None, QUESTIONS, tmp_path / "idx", metadata=metadata, backend=name, options=options)
    stored = [index.get(str(n + 1)).metadata for n in range(len(QUESTIONS))]
    for where in FILTERS:
        parsed = parse_filter(where)
        [result] = index.search(model, ["Question about apple red"], k=5, where=where)
        assert result.ids == expected_ids(model, stored, parsed, "Question about apple red", 5), where
        assert all(parsed.passes(m) for m in result.metadata)


def test_a_filtered_hnsw_search_still_returns_k(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    questions = [f"question {n} " + " ".join(rng.choice(WORDS + COLOURS, 4)) for n in range(600)]
    metadata = [{"category": "rare" if n % 50 == 0 else "common"} for n in range(600)]  # 12 rare ones
    model = FakeModel()
    exact = Index.build(model, None, questions, tmp_path / "exact", metadata=metadata, backend="exact")
    graph = Index.build(model, None, questions, tmp_path / "hnsw", metadata=metadata, backend="hnsw")
    for query in ["question 3 apple red", "fig grape"]:  # few rows pass: they are scanned exactly
        [want] = exact.search(model, [query], k=10, where="category=rare")
        [got] = graph.search(model, [query], k=10, where="category=rare")
        assert got.ids == want.ids and len(got.ids) == 10
    monkeypatch.setattr(segments, "EXACT_FILTERED_ROWS", 0)  # walk the graph even for a dozen rows
    for query in ["question 3 apple red", "fig grape"]:
        [got] = graph.search(model, [query], k=10, where="category=rare")
        assert len(got.ids) == 10 and {m["category"] for m in got.metadata} == {"rare"}
    [few] = graph.search(model, ["fig"], k=20, where="category=rare")
    assert len(few.ids) == 12  # all that pass, when fewer than k do


def test_filter_and_removed_rows_together(tmp_path):
    model, metadata = FakeModel(), forum_metadata(len(QUESTIONS))
    index = Index.build(model, None, QUESTIONS, tmp_path / "idx", metadata=metadata, backend="hnsw")
    [before] = index.search(model, ["Question about apple red"], k=3, where="status!=deleted")
    index.remove([before.ids[0]])
    [after] = index.search(model, ["Question about apple red"], k=3, where="status!=deleted")
    assert before.ids[0] not in after.ids and after.ids[:2] == before.ids[1:]


def test_min_score_hides_weak_matches(tmp_path):
    model = FakeModel()
    index = Index.build(model, None, QUESTIONS, tmp_path / "idx")
    [everything] = index.search(model, ["Question about apple red"], k=10)
    floor = everything.scores[2]
    [kept] = index.search(model, ["Question about apple red"], k=10, min_score=floor)
    assert kept.ids == everything.ids[:3] and min(kept.scores) >= floor
    [none] = index.search(model, ["zzz qqq"], k=10, min_score=0.99)
    assert none.ids == []
    with pytest.raises(ConfigError, match="threshold must be in"):
        index.search(model, ["x"], min_score=2)


@pytest.mark.parametrize("where, message", [
    ("staus=open", "filter 'staus=open': unknown field 'staus' (filterable: status, category, tags, created, "
                   "answers, duplicate_of)"),
    # A name beyond ASCII letters said "expected FIELD OP VALUE", as if the condition had no field.
    ("stätus=open", "filter 'stätus=open': unknown field 'stätus' (filterable: status, category, tags, created, "
                    "answers, duplicate_of)"),
    ("tag2!=a", "filter 'tag2!=a': unknown field 'tag2' (filterable: status, category, tags, created, "
                "answers, duplicate_of)"),
    ("status=gone", "filter 'status=gone': status must be open, closed or deleted, got 'gone'"),
    ("category>a", "filter 'category>a': category takes = or != only (> is for created and answers)"),
    ("created>=yesterday", "filter 'created>=yesterday': created must be an ISO 8601 date or time "
                           "(2024-01-05 or 2024-01-05T10:00:00Z), got 'yesterday'"),
    ("answers>-1", "filter 'answers>-1': answers must be a whole number from 0 to 9223372036854775807, got '-1'"),
    ("answers<9223372036854775808", "filter 'answers<9223372036854775808': answers must be a whole number from 0 "
                                    "to 9223372036854775807, got '9223372036854775808'"),
    ("created<=9999-12-31T23:00:00-05:00", "filter 'created<=9999-12-31T23:00:00-05:00': created must fall between "
                                           "the years 1 and 9999 in UTC, got '9999-12-31T23:00:00-05:00'"),
    ("status", "filter 'status': expected FIELD OP VALUE, e.g. status!=deleted or created>=2024-01-01"),
    ("tags=a|", "filter 'tags=a|': empty value"),
    ("tags=python,pandas", "filter 'tags=python,pandas': a tag never holds a comma; for any of several tags, "
                           "write tags=python|pandas"),
    ("tags!=python, pandas", "filter 'tags!=python, pandas': a tag never holds a comma; for any of several tags, "
                             "write tags!=python|pandas"),
    ("tags=,", "filter 'tags=,': a tag never holds a comma"),
    # A date alone is midnight: = would match only threads posted in that second, not the day.
    ("created=2023-12-31", "filter 'created=2023-12-31': created= compares whole times, and 2023-12-31 alone is its "
                           "midnight; for the day, give two conditions: created>=2023-12-31 and created<2024-01-01"),
    ("created!=2023-02-30", "filter 'created!=2023-02-30': created must be an ISO 8601 date or time "
                            "(2024-01-05 or 2024-01-05T10:00:00Z), got '2023-02-30'"),
])
def test_bad_filters_are_one_line_errors(where, message):
    with pytest.raises(ConfigError) as error:
        parse_filter(where)
    assert str(error.value) == message


def test_missing_fields_mean_their_defaults():
    assert parse_filter("status=open").passes({}) and not parse_filter("status!=open").passes({})
    assert parse_filter("answers<1").passes({}) and not parse_filter("answers>0").passes({})
    assert parse_filter("tags!=python").passes({}) and not parse_filter("tags=python").passes({})
    assert parse_filter("category!=x").passes({}) and not parse_filter("category=x").passes({})
    assert not parse_filter("created>=2020-01-01").passes({}) and not parse_filter("created<2020-01-01").passes({})


def test_milvus_expressions_escape_values_and_say_what_missing_means():
    assert parse_filter('category=a"b\\c').milvus() == \
        '(exists metadata["category"] and (metadata["category"] == "a\\"b\\\\c"))'
    assert parse_filter("status!=deleted").milvus() == \
        '(not exists metadata["status"] or (metadata["status"] != "deleted"))'
    assert parse_filter("tags=a|b").milvus() == 'json_contains_any(metadata["tags"], ["a", "b"])'
    assert parse_filter("created>=2024-01-01T02:00:00+02:00").milvus() == \
        '(exists metadata["created"] and metadata["created"] >= "2024-01-01T00:00:00Z")'
    both = combine(parse_filter("status=open"), None, parse_filter("answers>0"))
    assert str(both) == "status=open and answers>0" and combine(None, None) is None


def test_bad_forum_fields_are_refused_on_input(tmp_path):
    with pytest.raises(DataError, match="metadata of question 2: status must be open, closed or deleted, got 'gone'"):
        Index.build(FakeModel(), None, ["a question?", "another?"], tmp_path / "idx",
                    metadata=[{}, {"status": "gone"}])
    index = Index.build(FakeModel(), None, ["a question?"], tmp_path / "ok",
                        metadata=[{"answers": "3", "created": "2024-02-01", "tags": "a, b", "status": "Closed"}])
    assert index.get("1").metadata == {"answers": 3, "created": "2024-02-01T00:00:00Z", "tags": ["a", "b"],
                                       "status": "closed"}
    with pytest.raises(DataError, match="answers must be a whole number from 0 to 9223372036854775807"):
        index.add(FakeModel(), ["big?"], metadata=[{"answers": 10**20}])  # mining orders answers as int64
    with pytest.raises(DataError, match="created must fall between the years 1 and 9999 in UTC"):
        index.add(FakeModel(), ["early?"], metadata=[{"created": "0001-01-01T00:00:00+01:00"}])


def test_early_years_keep_four_digits_so_dates_still_compare_as_text(tmp_path):
    index = Index.build(FakeModel(), None, ["a typo's year?", "this year?"], tmp_path / "idx",
                        metadata=[{"created": "0999-01-01"}, {"created": "2024-05-01"}])
    assert index.get("1").metadata == {"created": "0999-01-01T00:00:00Z"}
    [old] = index.search(FakeModel(), ["year?"], k=2, where="created<2000-01-01")
    assert old.ids == ["1"]


def test_a_filter_that_passes_no_row_of_a_graph_segment_finds_the_others(tmp_path):
    model = FakeModel()
    index = Index.build(model, ["a", "b"], ["How do I learn Python?", "What is an LSTM?"], tmp_path / "idx",
                        backend="hnsw", metadata=[{"status": "deleted"}, {}])
    index.add(model, ["How do I learn Rust?"], ids=["c"], metadata=[{"status": "closed"}])
    [closed] = index.search(model, ["learn"], k=2, where="status=closed")  # none in the graph's segment
    assert closed.ids == ["c"]
    [none] = index.search(model, ["learn"], k=2, where="category=x")
    assert none.ids == []


class ShortWalk:
    """An HNSW graph whose walk finds nothing that passes the filter (it can happen when few rows pass)."""

    def topk(self, queries, k, dead, ef=None):
        from qdup.search.topk import empty_topk

        return empty_topk(len(queries), k)


def test_a_graph_walk_that_stops_short_falls_back_to_an_exact_scan(monkeypatch):
    vectors = FakeModel().encode(QUESTIONS)
    blocked = np.arange(len(QUESTIONS)) % 3 != 0  # a third pass
    seg = segments.Segment("seg", vectors, [str(n) for n in range(len(QUESTIONS))], QUESTIONS,
                           np.zeros(len(QUESTIONS), bool), ann=ShortWalk())
    monkeypatch.setattr(segments, "EXACT_FILTERED_ROWS", 0)
    scores, rows = segments.filtered_topk(seg, vectors[:2], 4, blocked)
    for query, found in zip(vectors[:2], rows):
        allowed = np.flatnonzero(~blocked)
        assert found.tolist() == allowed[np.argsort(-(vectors[allowed] @ query), kind="stable")[:4]].tolist()


@pytest.fixture
def old_writer(monkeypatch):
    """qdup before years kept four digits: `created` went through strftime("%Y"), year 999 as "999-...".
    (Its values come back padded by the reader, so a re-check of them is given the padded form.)"""
    from qdup.data import forum

    padded = forum._CHECKS["created"]
    unpad = lambda value, where: padded("0" + value if value[3:4] == "-" else value, where).lstrip("0")  # noqa: E731
    monkeypatch.setitem(forum._CHECKS, "created", unpad)
    return monkeypatch


@pytest.mark.parametrize("backend", ["exact", "milvus-file"])
def test_dates_an_older_qdup_stored_unpadded_read_and_compare_as_dates(tmp_path, old_writer, backend, request):
    from qdup.mining.canonical import leader_order
    from qdup.mining.incremental import created_since

    model, options = FakeModel(), None
    if backend != "exact":
        from milvus_server import collection_name

        options = {"uri": request.getfixturevalue("milvus_file"), "collection": collection_name()}
    Index.build(model, ["old", "new"], ["How do I learn Python?", "How can I learn Python?"], tmp_path / "idx",
                metadata=[{"created": "0999-01-01"}, {"created": "2024-01-01"}], backend=backend.split("-")[0],
                options=options)
    old_writer.undo()  # the index is read by today's qdup, unchanged on disk
    index = Index.load(tmp_path / "idx")
    assert [m["created"] for m in index.live_metadata()] == ["0999-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]
    assert index.get("old").metadata == {"created": "0999-01-01T00:00:00Z"}
    assert created_since(index, "2024-01-01") == ["new"]  # (was ["old", "new"]: "999-" sorted after "2024-")
    assert leader_order(index.live_metadata(), np.array([1, 1]))[0].tolist() == [0, 1]  # the oldest leads
    if backend == "exact":  # Milvus compares the stored strings itself: see docs/forum.md
        assert index.search(model, ["learn python"], k=2, where="created>=2024-01-01")[0].ids == ["new"]
        assert index.search(model, ["learn python"], k=2, where="created<2024-01-01")[0].ids == ["old"]
