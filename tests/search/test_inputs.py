"""Preparing a chunk for an index: one path for build, add and add_chunks."""

from __future__ import annotations

import pytest

from qdup.data.corpus import Corpus
from qdup.errors import DataError
from qdup.search.inputs import assign_ids, check_chunk, prepare_chunk


def test_generated_ids_skip_the_taken_ones_and_move_the_counter_on():
    manifest = {"next_auto_id": 6}
    chunk = prepare_chunk(Corpus([" A? ", "B?", "C?"]), manifest, lambda ids: set(ids) & {"7", "9"})
    assert chunk.ids == ["6", "8", "10"] and chunk.questions == ["A?", "B?", "C?"]
    assert manifest["next_auto_id"] == 11


def test_a_build_numbers_on_without_looking_anything_up():
    manifest = {"next_auto_id": 1}
    assert prepare_chunk(Corpus(["A?", "B?"]), manifest, None).ids == ["1", "2"]
    assert prepare_chunk(Corpus(["C?"]), manifest, None).ids == ["3"] and manifest["next_auto_id"] == 4


def test_given_ids_are_stripped_and_refused_when_taken():
    chunk = prepare_chunk(Corpus(["A?", "B?"], [" x ", 7], [{}, {}]), {"next_auto_id": 1}, lambda ids: {})
    assert chunk.ids == ["x", "7"] and chunk.metadata is None  # metadata with nothing in it is none
    with pytest.raises(DataError, match="id '7' is already in the index"):
        prepare_chunk(Corpus(["A?", "B?"], ["x", "7"]), {"next_auto_id": 1}, lambda ids: {"7": 3})


def test_checks_that_need_no_look_up_come_first():
    """``add`` checks a chunk before its slow encoding, and looks its ids up after."""
    with pytest.raises(DataError, match="duplicate id 'x'"):
        check_chunk(Corpus(["A?", "B?"], ["x", "x"]))
    with pytest.raises(DataError, match="1 metadata objects for 2 questions"):
        check_chunk(Corpus(["A?", "B?"], metadata=[{}]))
    chunk = check_chunk(Corpus(["A?"]))
    assert chunk.ids is None and assign_ids(chunk, {"next_auto_id": 3}, lambda ids: {}).ids == ["3"]
