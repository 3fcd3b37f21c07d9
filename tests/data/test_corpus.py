import os
import re
import threading

import pytest

from qdup.data import textfiles
from qdup.data.corpus import iter_questions, read_questions
from qdup.errors import DataError


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_csv_with_ids_and_quoted_newline(tmp_path):
    path = write(tmp_path, "q.csv", 'id,question\n7,"How do I\nlearn Python?"\n9, What is an LSTM? \n')
    corpus = read_questions(path)
    assert corpus.ids == ["7", "9"]
    assert corpus.questions == ["How do I\nlearn Python?", "What is an LSTM?"]


def test_tsv_without_id_column_generates_no_ids(tmp_path):
    corpus = read_questions(write(tmp_path, "q.tsv", "\ufeffquestion\textra\nA?\tx\nB?\ty\n"))
    assert corpus.ids is None and corpus.questions == ["A?", "B?"]


def test_tsv_has_no_quoting(tmp_path):
    corpus = read_questions(write(tmp_path, "q.tsv", 'id\tquestion\n1\t"Hello" in French?\n2\tWhat is "x?\n'))
    assert corpus.questions == ['"Hello" in French?', 'What is "x?']


def test_jsonl_numeric_ids_become_strings(tmp_path):
    corpus = read_questions(write(tmp_path, "q.jsonl", '{"id": 3, "question": "A?"}\n\n{"id": "x", "question": "B?"}\n'))
    assert corpus.ids == ["3", "x"] and corpus.questions == ["A?", "B?"]


def test_plain_text_ignores_trailing_blank_lines(tmp_path):
    corpus = read_questions(write(tmp_path, "q.txt", "A?\r\nB?\n\n"))
    assert corpus.ids is None and corpus.questions == ["A?", "B?"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("q.csv", "id,text\n1,A?\n", "no 'question' column in the header (found: id, text)"),
        ("q.csv", "id,question\n1,A?\n1,B?\n", "line 3: duplicate id '1' (first on line 2)"),
        ("q.csv", "id,question\n1,A?\n2,  \n", "line 3 (id '2'): empty question"),
        ("q.csv", "id,question\n1,A?,extra\n", "line 2: 3 fields, the header has 2"),
        ("q.csv", "", "is empty"),
        ("q.txt", "A?\n\nB?\n", "line 2: empty question"),
        ("q.txt", b"A?\nB\xff?\n", "q.txt: line 2 is not valid UTF-8 (byte 0xff); re-save the file as UTF-8"),
        ("q.jsonl", '{"question": "A?"}\n{bad\n', "line 2: invalid JSON"),
        ("q.jsonl", '{"id": 1}\n', "line 1: expected an object with a 'question' field"),
        ("q.jsonl", '{"id": 1, "question": "A?"}\n{"question": "B?"}\n', "line 2: missing id"),
        ("q.txt", "\n\n", "contains no questions"),
        ("q.csv", "id,question\n1,A?\n40213,????\n", "line 3 (id '40213'): empty question (no words once"),
        ("q.jsonl", '{"question": "A?", "m": ' + "[" * 40 + "]" * 40 + "}\n", "line 1: metadata is nested more than 32"),
        ("q.jsonl", '{"question": "A?", "m": ' + "[" * 5000 + "]" * 5000 + "}\n", "line 1: invalid JSON (nested too"),
        ("q.jsonl", '{"question": "A?", "\\udc80": "x"}\n', "line 1: metadata is not valid Unicode"),
        ("q.jsonl", '{"question": "A?", "id": 1' + "0" * 5000 + "}\n", "line 1: invalid JSON (Exceeds the limit"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, name, content, message):
    with pytest.raises(DataError) as info:
        read_questions(write(tmp_path, name, content))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_questions(tmp_path / "nope.csv")


QUORA_LIKE = "id,question\n" + "".join(
    f"{n},{q}\n" for n, q in enumerate(["How do I learn Python?", ".", "Why is the sky blue?", "????", "Is tea good?",
                                        "!", "What is rice?", "?", "Who am I?", "..", "Why?", "???"], start=1))


def test_every_empty_question_is_named_with_its_line_and_id(tmp_path):
    with pytest.raises(DataError) as info:
        list(iter_questions(write(tmp_path, "q.csv", QUORA_LIKE), None))  # as index build/add read it
    assert str(info.value) == (
        f"{tmp_path / 'q.csv'}: 6 empty questions (no words once punctuation is removed): line 3 (id '2'), "
        "line 5 (id '4'), line 7 (id '6'), line 9 (id '8'), line 11 (id '10') and 1 more; "
        "fix or remove them (or skip them: --skip-invalid)")
    with pytest.raises(DataError) as info:  # read_questions' callers (search --queries, encode) cannot skip
        read_questions(write(tmp_path, "q.csv", QUORA_LIKE))
    assert str(info.value).endswith("and 1 more; fix or remove them")


@pytest.mark.parametrize("chunk_rows", [None, 4])
def test_skipped_rows_are_left_out_and_listed(tmp_path, chunk_rows):
    skipped = []
    pieces = list(iter_questions(write(tmp_path, "q.csv", QUORA_LIKE), chunk_rows, skipped))
    assert sum((p.ids for p in pieces), []) == ["1", "3", "5", "7", "9", "11"]
    assert skipped == [(3, "2"), (5, "4"), (7, "6"), (9, "8"), (11, "10"), (13, "12")]


def test_a_file_read_in_pieces_is_checked_whole_before_the_first_piece(tmp_path):
    path = write(tmp_path, "q.txt", "".join(f"question {n}?\n" for n in range(20)) + "...\n")
    with pytest.raises(DataError, match=r"line 21: empty question"):
        next(iter_questions(path, 5))  # nothing is handed out (and stored) before the whole file is checked


def test_a_bad_forum_field_is_named_by_its_line_not_its_place_among_the_kept_rows(tmp_path):
    path = write(tmp_path, "threads.csv", "id,question,status\n1,How?,open\n2,.,open\n78,Why not?,gone\n")
    with pytest.raises(DataError) as info:
        list(iter_questions(path, None, skipped=[]))  # the empty row 2 is skipped: 78 is the 2nd question kept
    assert str(info.value) == f"{path}, line 4: metadata: status must be open, closed or deleted, got 'gone'"


def test_a_column_named_twice_is_refused(tmp_path):
    path = write(tmp_path, "q.csv", "id,question,Question\n1,How?,Why?\n")
    with pytest.raises(DataError, match=f"^{path}: column 'question' appears more than once in the header$"):
        read_questions(path)


@pytest.mark.parametrize("name, content, ids", [
    ("q.txt", "How?\rWhy?\rWho?\r", None),                                  # classic Mac OS line ends
    ("q.txt", "How?\r\nWhy?\rWho?\n", None),                                # mixed
    ("q.csv", 'id,question\r1,How?\r2,"Why\rnot?"\r3,Who?\r', ["1", "2", "3"]),
    ("q.jsonl", '{"id": 1, "question": "How?"}\r{"id": 2, "question": "Why\\rnot?"}\r{"id": 3, '
                '"question": "Who?"}', ["1", "2", "3"]),
])
def test_a_lone_carriage_return_ends_a_line(tmp_path, name, content, ids):
    # It was one line: a text file became one question of all its lines, and a CSV file a traceback.
    corpus = read_questions(write(tmp_path, name, content))
    assert len(corpus) == 3 and corpus.ids == ids
    assert corpus.questions[0] == "How?" and corpus.questions[2] == "Who?"


def test_bad_utf8_after_lone_carriage_returns_names_its_line(tmp_path):
    with pytest.raises(DataError, match=r"q.txt: line 3 is not valid UTF-8 \(byte 0xe9\)"):
        read_questions(write(tmp_path, "q.txt", b"\xef\xbb\xbfA?\rB?\r\xe9t\xe9?\r"))


def test_a_quote_never_closed_is_refused_not_the_rest_of_the_file_swallowed(tmp_path):
    # It was one question "A?\n3,B?\n4,C?": every row after the stray quote, silently lost.
    path = write(tmp_path, "q.csv", 'id,question\n1,Why?\n2,"A?\n3,B?\n4,C?\n')
    with pytest.raises(DataError) as info:
        read_questions(path)
    assert str(info.value) == f"{path}, line 3: a quoted field starts on this line and is never closed (a stray '\"'?)"


@pytest.mark.parametrize("content, message", [
    ('id,question\n1,"Why" not?\n', "line 2: ',' expected after '\"'"),
    ('"id"x,question\n1,Why?\n', "line 1: ',' expected after '\"'"),       # was a csv.Error traceback
    ('id,"question\n1,Why?\n', "line 1: a quoted field starts on this line and is never closed"),
])
def test_malformed_csv_quoting_is_one_line_with_its_line(tmp_path, content, message):
    with pytest.raises(DataError, match="^" + re.escape(f"{tmp_path / 'q.csv'}, {message}")):
        read_questions(write(tmp_path, "q.csv", content))


@pytest.mark.parametrize("name, content, line", [
    ("q.txt", "How?\r\r\nWhy?\r\r\n???\r\r\n", 3),
    ("q.csv", "id,question\r\r\n1,How?\r\r\n2,???\r\r\n", 3),
])
def test_a_crlf_written_through_windows_text_mode_is_one_line_end(tmp_path, name, content, line):
    # "\r\r\n" (print("...\r") or csv.writer without newline="" on Windows) read as one line end,
    # as before lone CRs ended lines: not a line and a blank "empty question" after each one.
    path = write(tmp_path, name, content)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}, line {line}( \(id .2.\))?: empty question"):
        read_questions(path)
    questions = read_questions(write(tmp_path, name, content.replace("???", "Who?"))).questions
    assert questions[0] == "How?" and questions[-1] == "Who?" and len(questions) == line - (name == "q.csv")


ENDLESS = "/dev/zero"  # one line that never ends


@pytest.mark.skipif(not os.path.exists(ENDLESS), reason="no /dev/zero")
@pytest.mark.parametrize("chunk_rows", [None, 5])
def test_an_endless_line_is_refused_not_read_forever(monkeypatch, chunk_rows):
    # `qdup distill --questions /dev/zero` read until memory ran out; so did index build, in pieces.
    monkeypatch.setattr(textfiles, "MAX_LINE", 1000)
    with pytest.raises(DataError) as info:
        list(iter_questions(ENDLESS, chunk_rows))
    assert str(info.value) == "/dev/zero: line 1 is longer than 1,000 characters (expected a file of questions)"


def test_a_regular_file_is_read_whole_however_long(tmp_path, monkeypatch):
    # The bounds are for streams that may never end; a regular file always ends (a forum's JSONL
    # export of gigabytes indexes as it did).
    path = write(tmp_path, "q.txt", "How?\nWhy?\nWho?\n")
    monkeypatch.setattr(textfiles, "MAX_LINES", 2)
    monkeypatch.setattr(textfiles, "MAX_TEXT", 12)
    assert read_questions(path).questions == ["How?", "Why?", "Who?"]
    assert [piece.questions for piece in iter_questions(path, 2)] == [["How?", "Why?"], ["Who?"]]  # index build


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_an_endless_fifo_is_refused_and_a_finite_one_read(tmp_path, monkeypatch):
    # A FIFO (`--questions <(...)`) is read as any file, but one that never ends is refused.
    monkeypatch.setattr(textfiles, "MAX_LINES", 1000)
    fifo = tmp_path / "q.fifo"
    os.mkfifo(fifo)

    def write_forever():
        try:
            with open(fifo, "w") as f:
                while True:
                    f.write("How?\n" * 100)
        except BrokenPipeError:  # the reader gave up: what this test waits for
            pass

    def finished(writer: threading.Thread) -> bool:
        writer.join(timeout=120)  # a daemon: a reader that failed early leaves it blocked, not the suite
        return not writer.is_alive()

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    with pytest.raises(DataError, match="q.fifo: more than 1,000 lines, the most qdup reads whole"):
        read_questions(fifo)
    assert finished(writer)
    writer = threading.Thread(target=lambda: fifo.write_text("How?\nWhy?\n"), daemon=True)
    writer.start()
    assert read_questions(fifo).questions == ["How?", "Why?"]
    assert finished(writer)
    monkeypatch.setattr(textfiles, "MAX_TEXT", 8)
    writer = threading.Thread(target=lambda: fifo.write_text("How?\nWhy?\n"), daemon=True)
    writer.start()
    with pytest.raises(DataError, match="q.fifo: more than 8 characters, the most qdup reads whole"):
        read_questions(fifo)
    assert finished(writer)
