import os

import numpy as np
import pytest

import qdup
from qdup.data import textfiles
from qdup.errors import DataError

HEADER = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_reads_six_column_tsv(tmp_path):
    path = write(tmp_path, "q.tsv", HEADER + "5\t1\t2\tHow old are you?\tWhat is your age?\t1\n"
                                            "9\t3\t4\tWhy?\tWhen?\t0\n")
    pairs = qdup.read_pairs(path)
    assert pairs.ids.tolist() == [5, 9]
    assert pairs.question1 == ["How old are you?", "Why?"]
    assert pairs.question2 == ["What is your age?", "When?"]
    assert pairs.is_duplicate.tolist() == [1, 0]


def test_reads_quoted_csv_with_newlines_and_empty_questions(tmp_path):
    content = ('"id","qid1","qid2","question1","question2","is_duplicate"\n'
               '"0","1","2","What is ""love""?\nReally?","Define love, please.","1"\n'
               '1,3,4,,Is this empty?,0\n')
    pairs = qdup.read_pairs(write(tmp_path, "train.csv", content))
    assert pairs.question1 == ['What is "love"?\nReally?', ""]
    assert pairs.question2[0] == "Define love, please."
    assert pairs.is_duplicate.tolist() == [1, 0]


def test_reads_four_column_paper_layout(tmp_path):
    content = "1\tHow do I cook rice?\tWhat is the way to cook rice?\t201\n0\tA?\tB?\t17\n"
    pairs = qdup.read_pairs(write(tmp_path, "dev.tsv", content))
    assert pairs.ids.tolist() == [201, 17]
    assert pairs.question1 == ["How do I cook rice?", "A?"]
    assert pairs.is_duplicate.tolist() == [1, 0]


def test_unquoted_tsv_keeps_literal_quotes(tmp_path):
    # As in the real partial copy: a field may start with a quote that is part of the text.
    content = HEADER + '1\t\t\t"Hello" world, what?\tHi "there"\t0\n2\t\t\t"Quoted all"\tx\t1\n'
    pairs = qdup.read_pairs(write(tmp_path, "p.tsv", content))
    assert pairs.question1 == ['"Hello" world, what?', '"Quoted all"']
    assert pairs.question2 == ['Hi "there"', "x"]


def test_columns_in_any_order_and_no_id(tmp_path):
    content = "is_duplicate,question2,question1\n1,b?,a?\n"
    pairs = qdup.read_pairs(write(tmp_path, "p.csv", content))
    assert pairs.question1 == ["a?"] and pairs.question2 == ["b?"] and pairs.ids.tolist() == [0]


def test_huge_question_is_read(tmp_path):
    long = "word " * 20_000  # 100,000 characters
    pairs = qdup.read_pairs(write(tmp_path, "p.tsv", HEADER + f"1\t1\t2\t{long}\tshort?\t1\n"))
    assert len(pairs.question1[0]) == 100_000


@pytest.mark.parametrize("content, message", [
    ("question1\tis_duplicate\nA?\t1\n", "missing column(s) question2 (found: question1, is_duplicate)"),
    (HEADER + "1\t1\t2\tA?\tB?\tyes\n", "line 2: is_duplicate must be 0 or 1, got 'yes'"),
    (HEADER + "1\t1\t2\tA?\tB?\t2\n", "line 2: is_duplicate must be 0 or 1, got '2'"),
    (HEADER + "x\t1\t2\tA?\tB?\t1\n", "line 2: id must be an integer, got 'x'"),
    (HEADER + "99999999999999999999\t1\t2\tA?\tB?\t1\n",
     "line 2: id 99999999999999999999 is out of range (at most 9223372036854775807)"),  # was an OverflowError
    (HEADER + "1\t1\t2\tA?\n", "line 2: expected at least 6 fields, found 4"),
    ("a,b,c\n1,2,3\n", "unrecognised layout"),
    ("", "the file is empty"),
])
def test_bad_files_name_the_problem(tmp_path, content, message):
    path = write(tmp_path, "bad.tsv", content)
    with pytest.raises(DataError, match=None) as error:
        qdup.read_pairs(path)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        qdup.read_pairs(tmp_path / "nope.tsv")


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = write(tmp_path, "latin1.tsv", (HEADER + "1\t1\t2\tCafé?\tB?\t1\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"line 2 is not valid UTF-8 \(byte 0xe9\)"):
        qdup.read_pairs(path)


def test_subset_and_duplicates(fixture_pairs):
    dups = fixture_pairs.duplicates()
    assert len(dups) == int(fixture_pairs.is_duplicate.sum())
    assert set(dups.is_duplicate.tolist()) == {1}
    first_two = fixture_pairs.subset([1, 0])
    assert first_two.question1 == [fixture_pairs.question1[1], fixture_pairs.question1[0]]


def test_pairs_from_lists_validates():
    pairs = qdup.pairs_from_lists(["a?"], ["b?"], [0])
    assert pairs.is_duplicate.dtype == np.int8
    with pytest.raises(DataError, match="must be 0 or 1"):
        qdup.pairs_from_lists(["a?"], ["b?"], [3])
    for label in (0.5, 0.99, -0.5, None, "yes"):  # 0.5 and 0.99 were truncated to 0, a non-duplicate
        with pytest.raises(DataError, match="must be 0 or 1"):
            qdup.pairs_from_lists(["a?"], ["b?"], [label])
    assert qdup.pairs_from_lists(["a?"] * 4, ["b?"] * 4, [True, 1.0, "1", 0]).is_duplicate.tolist() == [1, 1, 1, 0]
    with pytest.raises(DataError, match="same length"):
        qdup.pairs_from_lists(["a?"], [], [1])


def test_reads_qqp_partial(qqp_partial):
    pairs = qdup.read_pairs(qqp_partial)
    assert len(pairs) == 28_246
    assert int(pairs.is_duplicate.sum()) == 12_916


def test_a_csv_quote_never_closed_names_the_line_it_opens_on(tmp_path):
    path = write(tmp_path, "bad.csv", 'question1,question2,is_duplicate\nA?,B?,0\n"C?,D?,1\nE?,F?,0\n')
    with pytest.raises(DataError) as error:
        qdup.read_pairs(path)
    assert str(error.value) == (f"{path}: line 3: malformed CSV (a quoted field starts on this line and is never "
                                "closed (a stray '\"'?))")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_an_endless_pairs_stream_is_refused_and_a_large_regular_file_read(tmp_path, monkeypatch):
    monkeypatch.setattr(textfiles, "MAX_TEXT", 100)
    with pytest.raises(DataError) as error:  # /dev/zero was read until memory ran out
        qdup.read_pairs("/dev/zero")
    assert str(error.value) == "/dev/zero: more than 100 bytes, the most qdup reads whole (an endless stream?)"
    path = write(tmp_path, "p.tsv", HEADER + "".join(f"{n}\t1\t2\tA{n}?\tB?\t1\n" for n in range(10)))
    assert len(qdup.read_pairs(path)) == 10  # a regular file ends: no bound
