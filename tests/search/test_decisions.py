"""Moderator decisions: recorded with both texts, kept by every index write, survive a kill mid-write."""

import re
import signal
import subprocess
import sys
import textwrap

import pytest

from fake_model import FakeModel
from helpers import TESTS, kill_at_random_moments
from qdup.data.pairs import read_pairs
from qdup.errors import ConfigError, DataError, OutputExistsError, UnknownIdError
from qdup.search.decisions import (decide, export_pairs, latest, read_decision_file, read_decisions, record)
from qdup.search.index import Index
from qdup.search.manifest import DECISIONS

QUESTIONS = ["How do I learn Python?", "How can I learn Python fast?", "What is an LSTM?", "How do I cook rice?"]


@pytest.fixture
def index(tmp_path):
    return Index.build(FakeModel(), None, QUESTIONS, tmp_path / "idx")


def test_decisions_keep_both_texts_time_and_moderator(index):
    first = decide(index, "2", True, query_id="1", moderator=" alice ", time="2024-05-01T10:00:00Z")
    second = decide(index, "3", False, query="  learn python quickly  ")
    assert record(index.path, [first]) == 1 and record(index.path, [second]) == 2
    index.remove(["1", "2"])  # a decision outlives its questions
    assert read_decisions(index.path) == [first, second]
    assert first.to_json() == {"query": "How do I learn Python?", "query_id": "1", "match": QUESTIONS[1],
                               "match_id": "2", "duplicate": True, "time": "2024-05-01T10:00:00Z",
                               "moderator": "alice"}
    assert second.query == "learn python quickly" and second.query_id is None and second.moderator is None
    assert second.time.endswith("Z") and len(second.time) == 20


@pytest.mark.parametrize("kwargs, error, message", [
    ({"match_id": "9", "query": "x?"}, UnknownIdError, "id '9' is not in the index"),
    ({"match_id": "2", "query_id": "9"}, UnknownIdError, "id '9' is not in the index"),
    ({"match_id": "2"}, ConfigError, "a decision needs a query: a stored question's id or a text, not both"),
    ({"match_id": "2", "query": "x?", "query_id": "1"}, ConfigError, "a decision needs a query"),
    ({"match_id": "1", "query_id": "1"}, ConfigError, "question '1' cannot be a duplicate of itself"),
    ({"match_id": "2", "query": " how can i LEARN  python fast? "}, ConfigError,
     "the query is the text of question '2' itself: there is no pair to judge"),
    ({"match_id": "2", "query": "???"}, DataError, "^the question is empty"),
])
def test_bad_decisions_are_refused(index, kwargs, error, message):
    match_id = kwargs.pop("match_id")
    with pytest.raises(error, match=message):
        decide(index, match_id, True, **kwargs)


def test_index_writes_and_rebuilds_keep_the_decisions(index, tmp_path):
    record(index.path, [decide(index, "2", True, query_id="1")])
    index.add(FakeModel(), ["A new question?"])  # each commit sweeps files the manifest does not name
    index.remove(["4"])
    assert (index.path / DECISIONS).is_file() and len(read_decisions(index.path)) == 1
    (index.path / "seg-999999.npy").write_bytes(b"a killed writer's leftover")
    Index.load(index.path)  # a load sweeps what no manifest names: the leftover, never the decisions
    assert not (index.path / "seg-999999.npy").exists() and len(read_decisions(index.path)) == 1
    Index.build(FakeModel(), None, ["Rebuilt?"], index.path, force=True)
    assert len(read_decisions(index.path)) == 1


def test_export_is_the_quora_layout_with_the_latest_verdicts(index, tmp_path):
    record(index.path, [decide(index, "2", True, query_id="1", moderator="al"),
                        decide(index, "3", False, query="What's an LSTM network?"),
                        decide(index, "1", False, query_id="2")])  # a change of mind on the same pair
    decisions = read_decisions(index.path)
    assert len(latest(decisions)) == 2
    assert export_pairs(decisions, tmp_path / "d.tsv") == 2
    pairs = read_pairs(tmp_path / "d.tsv")
    assert pairs.question1 == ["What's an LSTM network?", QUESTIONS[1]]
    assert pairs.question2 == [QUESTIONS[2], QUESTIONS[0]] and pairs.is_duplicate.tolist() == [0, 0]
    header = (tmp_path / "d.tsv").read_text().splitlines()[0]
    assert header == "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\tmoderator\ttime"
    with pytest.raises(OutputExistsError, match="already exists"):
        export_pairs(decisions, tmp_path / "d.tsv")
    assert export_pairs(decisions, tmp_path / "d.csv") == 2 and len(read_pairs(tmp_path / "d.csv")) == 2


def test_bulk_import_is_all_or_nothing(index, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("query_id,query,match_id,duplicate,moderator,time\n1,,2,1,bo,2023-03-01\n"
                    ",What is a neural net?,3,false,,\n")
    found = read_decision_file(index, good)
    assert [(d.query_id, d.match_id, d.duplicate, d.time) for d in found] == [
        ("1", "2", True, "2023-03-01T00:00:00Z"), (None, "3", False, found[1].time)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query_id": "1", "match_id": "2", "duplicate": true}\n{"query_id": "1", "match_id": "7", '
                   '"duplicate": true}\n')
    with pytest.raises(UnknownIdError, match=f"{bad}, line 2: id '7' is not in the index"):
        read_decision_file(index, bad)
    maybe = tmp_path / "maybe.tsv"
    maybe.write_text("query_id\tmatch_id\tduplicate\n1\t2\tmaybe\n")
    with pytest.raises(DataError, match="line 2: duplicate must be 1/0 or true/false, got 'maybe'"):
        read_decision_file(index, maybe)


@pytest.mark.parametrize("end", ["\r", "\r\n", "\r\r\n"])
def test_a_json_lines_file_of_any_line_end_is_read_as_question_files_are(index, tmp_path, end):
    # Lone CRs (classic Mac exports) made one line of the file: "line 1: expected a JSON object".
    rows = ['{"query_id": "1", "match_id": "2", "duplicate": true}', '{"query": "Rice?", "match_id": "4", '
            '"duplicate": 0}', '{"query_id": "1", "match_id": "9", "duplicate": 1}']
    path = tmp_path / "d.jsonl"
    path.write_bytes(end.join(rows[:2]).encode() + end.encode())
    found = read_decision_file(index, path)
    assert [(d.query_id, d.query, d.match_id, d.duplicate) for d in found] == [
        ("1", QUESTIONS[0], "2", True), (None, "Rice?", "4", False)]
    path.write_bytes(end.join(rows).encode())
    with pytest.raises(UnknownIdError, match=f"^{re.escape(str(path))}, line 3: id '9' is not in the index$"):
        read_decision_file(index, path)


def test_two_stored_threads_of_one_text_may_be_judged(tmp_path):
    copies = Index.build(FakeModel(), None, ["How do I learn Python?", "how do I learn  python?"], tmp_path / "idx")
    assert decide(copies, "2", True, query_id="1").duplicate  # a thread posted twice: a moderator closes one
    with pytest.raises(ConfigError, match="the query is the text of question '2' itself"):
        decide(copies, "2", True, query="How do I learn Python?")


def test_the_latest_verdict_is_the_latest_in_time_not_in_the_file(index, tmp_path):
    record(index.path, [decide(index, "2", False, query_id="1", moderator="alice", time="2025-03-01T09:00:00Z")])
    old = tmp_path / "history.csv"  # imported after alice's verdict, but from 2019
    old.write_text("query_id,match_id,duplicate,moderator,time\n1,2,1,bot,2019-01-01\n")
    record(index.path, read_decision_file(index, old))
    [kept] = latest(read_decisions(index.path))
    assert (kept.moderator, kept.duplicate) == ("alice", False)


def test_a_file_of_decisions_without_the_columns_says_which_it_needs(index, tmp_path):
    tabs = tmp_path / "tabs.csv"  # tab-separated under a .csv name: one column, as a CSV reads it
    tabs.write_text("query_id\tmatch_id\tduplicate\n1\t2\t1\n")
    with pytest.raises(DataError) as refused:
        read_decision_file(index, tabs)
    assert str(refused.value) == (f"{tabs}: a file of decisions needs the columns match_id, duplicate and query or "
                                  r"query_id; its header has 'query_id\tmatch_id\tduplicate'")  # the tabs shown
    no_query = tmp_path / "no-query.csv"
    no_query.write_text("match_id,duplicate\n2,1\n")
    with pytest.raises(DataError, match="its header has 'match_id', 'duplicate'$"):
        read_decision_file(index, no_query)


def test_blank_lines_are_skipped_and_a_short_row_is_named(index, tmp_path):
    exported = tmp_path / "sheet.csv"  # a spreadsheet's export: CRLF, blank lines inside and at the end
    exported.write_bytes(b"query_id,match_id,duplicate\r\n1,2,1\r\n\r\n2,3,0\r\n\r\n")
    assert [(d.query_id, d.match_id, d.duplicate) for d in read_decision_file(index, exported)] == [
        ("1", "2", True), ("2", "3", False)]
    short = tmp_path / "short.csv"
    short.write_text("query_id,match_id,duplicate\n1,2,1\n2,3\n")
    with pytest.raises(DataError, match="short.csv, line 3: 2 fields, the header has 3$"):
        read_decision_file(index, short)


def test_a_time_given_in_another_zone_is_stored_in_utc(index):
    tokyo = decide(index, "2", True, query_id="1", time="2024-06-01T12:00:00+09:00")  # 03:00 UTC
    london = decide(index, "2", False, query_id="1", time="2024-06-01T05:00:00Z")
    assert tokyo.time == "2024-06-01T03:00:00Z" and latest([london, tokyo]) == [london]
    with pytest.raises(DataError, match="time must be an ISO 8601 date or time"):
        decide(index, "2", True, query_id="1", time="yesterday")


def test_a_long_query_imports_as_index_build_reads_it(index, tmp_path):
    long = "How do I learn Python " + "and more " * 20_000 + "?"  # over csv's default field limit of 131,072
    big = tmp_path / "big.csv"
    big.write_text(f'query,match_id,duplicate\n"{long}",1,0\n')
    [decision] = read_decision_file(index, big)
    assert decision.query == long.strip() and decision.match_id == "1"


WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from qdup.search.decisions import decide, record
    from qdup.search.index import Index
    from qdup.util import journal

    if {pause}:
        written = journal.write
        def half(fd, data):
            written(fd, data[: len(data) // 2])  # half a line is on disk, the rest is not
            print("ready", flush=True)
            time.sleep(60)
        journal.write = half
    index = Index.load({path!r})
    print("loaded", flush=True)
    for n in range({rounds}):
        record(index.path, [decide(index, "2", n % 2 == 0, query=f"question number {{n}}?", moderator="m" * 50)])
    """
)


def start_writer(path, pause, rounds=1):
    script = WRITER.format(tests=str(TESTS), path=str(path), pause=pause, rounds=rounds)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)


def test_a_decision_killed_mid_write_is_not_recorded_and_harms_nothing(index):
    record(index.path, [decide(index, "2", True, query_id="1")])
    before = read_decisions(index.path)
    writer = start_writer(index.path, pause=True)
    assert writer.stdout.readline() == "loaded\n"
    assert writer.stdout.readline() == "ready\n"
    assert not (index.path / DECISIONS).read_bytes().endswith(b"\n")  # the torn half line really is there
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=30) != 0
    assert read_decisions(index.path) == before
    later = decide(index, "3", False, query_id="1")
    assert record(index.path, [later]) == 2  # the torn line is cut off, not glued to
    assert read_decisions(index.path) == [*before, later]
    assert (index.path / DECISIONS).read_bytes().count(b"\n") == 2


def test_decisions_killed_at_random_moments(index):
    for _ in kill_at_random_moments(lambda: start_writer(index.path, pause=False, rounds=10_000), seed=7):
        recorded = read_decisions(index.path)  # never a damaged line, whatever the moment
        assert all(d.match_id == "2" and d.query.startswith("question number") for d in recorded)
    count = len(read_decisions(index.path))
    assert record(index.path, [decide(index, "2", True, query_id="1")]) == count + 1


@pytest.mark.parametrize("name", ["d.tsv", "d.csv"])
def test_an_exported_file_imports_as_it_is(index, tmp_path, name):
    # It was refused: "needs the columns match_id, duplicate and query or query_id" (the export has qid1...).
    record(index.path, [decide(index, "2", True, query_id="1", moderator="al", time="2024-05-01T10:00:00Z"),
                        decide(index, "4", False, query="What's an LSTM network?", time="2024-05-02T10:00:00Z"),
                        decide(index, "4", False, query_id="3", time="2024-05-03T10:00:00Z")])
    export_pairs(read_decisions(index.path), tmp_path / name)
    rebuilt = Index.build(FakeModel(), None, QUESTIONS, tmp_path / "rebuilt")
    rebuilt.remove(["3"])  # a query thread deleted since: its text still holds the decision
    imported = read_decision_file(rebuilt, tmp_path / name)
    assert [(d.query_id, d.query, d.match_id, d.duplicate, d.moderator, d.time) for d in imported] == [
        ("1", QUESTIONS[0], "2", True, "al", "2024-05-01T10:00:00Z"),
        (None, "What's an LSTM network?", "4", False, None, "2024-05-02T10:00:00Z"),
        (None, QUESTIONS[2], "4", False, None, "2024-05-03T10:00:00Z")]


def test_an_import_looks_each_row_s_ids_up_once(index, tmp_path, monkeypatch):
    """Checking an exported row's query and match, then deciding it, read each id once (on
    Milvus every look-up is a query)."""
    record(index.path, [decide(index, "2", True, query_id="1"), decide(index, "4", False, query_id="3")])
    export_pairs(read_decisions(index.path), tmp_path / "d.tsv")
    asked = []
    get = Index.get
    monkeypatch.setattr(Index, "get", lambda self, id: asked.append(id) or get(self, id))
    assert len(read_decision_file(index, tmp_path / "d.tsv")) == 2
    assert sorted(asked) == ["1", "2", "3", "4"]


def test_decision_columns_are_read_in_any_case(index, tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("Query_ID,Match_ID,Duplicate\n1,2,1\n")
    assert [(d.query_id, d.match_id) for d in read_decision_file(index, sheet)] == [("1", "2")]


def test_an_exported_file_never_lands_on_other_threads(index, tmp_path):
    # Ids name other threads in an index rebuilt from a changed file (ids numbered 1..n): the
    # exported texts are the pair judged, so a stored id of another text is not that thread.
    record(index.path, [decide(index, "2", True, query_id="1", time="2024-05-01T10:00:00Z")])
    export_pairs(read_decisions(index.path), tmp_path / "d.tsv")
    shifted = Index.build(FakeModel(), None, ["How do I cook rice?"] + QUESTIONS[:3], tmp_path / "shifted")
    with pytest.raises(DataError, match=r"^\S+d\.tsv, line 2: question '2' is now 'How do I learn Python\?', "
                                        r"not the exported 'How can I learn Python fast\?'"):
        read_decision_file(shifted, tmp_path / "d.tsv")
    moved = Index.build(FakeModel(), ["1", "5", "2", "3"], ["How do I cook rice?"] + QUESTIONS[:3],
                        tmp_path / "moved")
    [imported] = read_decision_file(moved, tmp_path / "d.tsv")  # id 1 names the rice thread now
    assert (imported.query_id, imported.query, imported.match_id) == (None, QUESTIONS[0], "2")


def test_a_query_id_beside_a_query_of_another_text_is_not_taken(index, tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("query_id,query,match_id,duplicate\n3,How do I learn Python?,2,1\n")
    [imported] = read_decision_file(index, sheet)  # the text is what was judged, not thread 3's
    assert (imported.query_id, imported.query) == (None, "How do I learn Python?")


def test_a_quote_never_closed_in_a_decisions_file_is_refused_with_its_line(tmp_path, index):
    # Read leniently, the open quote took every later row into one query text: one decision
    # recorded with a garbage query, the others lost without a word.
    bad = tmp_path / "d.csv"
    bad.write_text('match_id,duplicate,query\n1,1,"How do I learn Python?\n2,0,How do I cook rice?\n', encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{re.escape(str(bad))}, line 2: a quoted field starts on this line and is "
                                        r"never closed"):
        read_decision_file(index, bad)
