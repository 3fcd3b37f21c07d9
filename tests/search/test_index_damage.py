"""A damaged index folder is one line naming the damage, never a traceback or a silent wrong
answer: checked cheaply on load (sizes, the checksums of files read whole anyway, the
manifest's entries) and fully by ``qdup index check`` (every byte, every vector)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fake_model import FakeModel
from helpers import run
from qdup.errors import DataError
from qdup.search.index import Index

QUESTIONS = [f"question {n} about {w}?" for n, w in enumerate(["python", "rice", "tea", "piano"] * 5)]


@pytest.fixture
def folder(tmp_path):
    index = Index.build(FakeModel(), None, QUESTIONS, tmp_path / "idx", backend="hnsw",
                        metadata=[{"url": f"https://f/{n}"} for n in range(len(QUESTIONS))])
    index.add(FakeModel(), ["one more question?", "and another one?"])  # seg-000002, searched exactly
    return tmp_path / "idx"


def manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def edit_manifest(folder, change):
    data = manifest(folder)
    change(data)
    (folder / "manifest.json").write_text(json.dumps(data))


def without_checksums(folder):
    """As an index written before qdup kept checksums: the loader's own checks must hold."""
    edit_manifest(folder, lambda m: [entry.pop("files", None) for entry in m["segments"]])


def truncate(path, size=None):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 if size is None else size])


def rewrite_lines(path, change):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")


def deep_line(lines):
    return [lines[0][:-1] + ', "metadata": ' + "[" * 5000 + "]" * 5000 + "}", *lines[1:]]


DAMAGE = {
    "graph deleted": (False, lambda f: (f / "seg-000001.faiss").unlink(), "seg-000001.faiss is missing"),
    "graph truncated": (False, lambda f: truncate(f / "seg-000001.faiss"), "seg-000001.faiss has"),
    "graph truncated, no checksums": (True, lambda f: truncate(f / "seg-000001.faiss"), "seg-000001.faiss cannot be read"),
    "graph empty, no checksums": (True, lambda f: truncate(f / "seg-000001.faiss", 0), "seg-000001.faiss cannot be read"),
    "graph garbage, no checksums": (True, lambda f: (f / "seg-000001.faiss").write_bytes(b"\x00garbage" * 4000),
                                    "seg-000001.faiss cannot be read"),
    # FAISS's mapped reader runs past the end of such a file and crashes: unchecked files are read
    "graph cut inside an item, no checksums": (True, lambda f: truncate(f / "seg-000001.faiss", 95),
                                               "seg-000001.faiss cannot be read"),
    "vectors deleted": (False, lambda f: (f / "seg-000002.npy").unlink(), "seg-000002.npy is missing"),
    "deleted row out of range": (False, lambda f: edit_manifest(f, lambda m: m["segments"][0].update(deleted=[99])),
                                 "bad segment entry"),
    "deleted rows not a list": (False, lambda f: edit_manifest(f, lambda m: m["segments"][0].update(deleted="1")),
                                "bad segment entry"),
    "segment name is a path": (False, lambda f: edit_manifest(f, lambda m: m["segments"][0].update(name="../x")),
                               "bad segment entry"),
    "no segments": (False, lambda f: edit_manifest(f, lambda m: m.pop("segments")), "its manifest lists no segments"),
    "count wrong": (False, lambda f: edit_manifest(f, lambda m: m.update(count=7)),
                    "the manifest counts 7 questions, its segments hold 22"),
    "count not a number": (False, lambda f: edit_manifest(f, lambda m: m.update(count="22")),
                           "its manifest's 'count' is missing or wrong"),
    "lines swapped": (False, lambda f: rewrite_lines(f / "seg-000001.jsonl", lambda ls: [ls[1], ls[0], *ls[2:]]),
                      "seg-000001.jsonl does not match its checksum in the manifest"),
    "line without id, no checksums": (True, lambda f: rewrite_lines(
        f / "seg-000001.jsonl", lambda ls: ['{"question": "x?"}', *ls[1:]]), "holds a line without an id"),
    "line not an object, no checksums": (True, lambda f: rewrite_lines(
        f / "seg-000001.jsonl", lambda ls: ['["1", "x?"]', *ls[1:]]), "holds a line without an id"),
    "id a number, no checksums": (True, lambda f: rewrite_lines(
        f / "seg-000001.jsonl", lambda ls: ['{"id": 1, "question": "x?"}', *ls[1:]]), "holds a line without an id"),
    "question null, no checksums": (True, lambda f: rewrite_lines(
        f / "seg-000001.jsonl", lambda ls: ['{"id": "1", "question": null}', *ls[1:]]), "holds a line without an id"),
    "metadata not an object, no checksums": (True, lambda f: rewrite_lines(
        f / "seg-000001.jsonl", lambda ls: ['{"id": "1", "question": "x?", "metadata": null}', *ls[1:]]),
        "or object metadata"),
    "an encoded lone surrogate, no checksums": (True, lambda f: (f / "seg-000001.jsonl").write_bytes(
        (f / "seg-000001.jsonl").read_bytes().replace(b"question 0", b"question \xed\xa0\x80", 1)),
        "segment seg-000001 cannot be read"),
    "line nested too deep, no checksums": (True, lambda f: rewrite_lines(f / "seg-000001.jsonl", deep_line),
                                           "segment seg-000001 cannot be read"),
    "duplicate ids, no checksums": (True, lambda f: rewrite_lines(
        f / "seg-000001.jsonl", lambda ls: [ls[0], ls[0].replace("question 0", "question x"), *ls[2:]]),
        "id '1' is stored twice"),
    "an id of another segment, no checksums": (True, lambda f: rewrite_lines(
        f / "seg-000002.jsonl", lambda ls: [ls[0].replace('"id": "21"', '"id": "5"'), *ls[1:]]),
        "id '5' is stored twice"),
}


@pytest.mark.parametrize("what", list(DAMAGE))
def test_damage_is_one_line_on_load(capsys, folder, what):
    old, damage, message = DAMAGE[what]
    if old:
        without_checksums(folder)
    damage(folder)
    with pytest.raises(DataError, match=f"^{folder} is damaged: .*{message}") as info:
        Index.load(folder)
    assert "\n" not in str(info.value)
    code, out, err = run(capsys, "search", folder, "question 3 about piano?")
    assert (code, out) == (1, "") and err == f"Error: {info.value}\n"


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40  # in the last vector: the file still loads, with one wrong number
    path.write_bytes(bytes(data))


def nan_vector(path):
    vectors = np.load(path)
    vectors[1, 0] = np.nan
    np.save(path, vectors)


@pytest.mark.parametrize("damage, message", [
    (lambda f: flip_a_byte(f / "seg-000001.npy"), "seg-000001.npy does not match its checksum in the manifest"),
    (lambda f: flip_a_byte(f / "seg-000001.faiss"), "seg-000001.faiss does not match its checksum in the manifest"),
])
def test_index_check_reads_every_byte(capsys, folder, damage, message):
    code, out, err = run(capsys, "index", "check", folder)
    assert (code, err) == (0, "") and out == (
        f"{folder}: ok, 22 questions; 5 files match their checksums, every vector is finite\n")
    damage(folder)
    Index.load(folder)  # a flipped byte inside a file keeps its size: loading (cheap) does not see it
    code, out, err = run(capsys, "index", "check", folder)
    assert (code, out, err) == (1, "", f"Error: {folder} is damaged: {message}\n")


def test_index_check_finds_a_vector_that_is_not_finite(capsys, folder):
    without_checksums(folder)
    nan_vector(folder / "seg-000002.npy")
    code, out, err = run(capsys, "index", "check", folder)
    assert (code, out, err) == (1, "", f"Error: {folder} is damaged: seg-000002.npy holds a vector that is not finite\n")


def test_the_manifest_records_each_files_checksum(folder):
    import hashlib

    for entry in manifest(folder)["segments"]:
        assert set(entry["files"]) == {f"{entry['name']}{suffix}" for suffix in
                                       ([".npy", ".jsonl", ".faiss"] if entry["ann"] else [".npy", ".jsonl"])}
        for name, recorded in entry["files"].items():
            data = (folder / name).read_bytes()
            assert recorded == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_garbage_lexical_rows_are_one_line(tmp_path):
    from qdup.search.local.files import read_lexical

    (tmp_path / "seg-000001.lexical.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=r"is damaged: seg-000001.lexical.npz cannot be read$"):
        read_lexical(tmp_path, "seg-000001", 3, {})


def test_a_flipped_byte_in_the_lexical_rows_is_caught_on_load(tmp_path):
    """Loading does not hash the lexical rows again: the CRC-32 of each array catches it."""
    import zipfile

    from qdup.search.local.files import read_lexical, write_lexical
    from qdup.text.lexical import LexicalStats

    questions = [f"question {n} about {w}?" for n, w in enumerate(["python", "rice", "tea"] * 3)]
    write_lexical(tmp_path, "seg-000001", LexicalStats.fit(questions).rows(questions))
    path = tmp_path / "seg-000001.lexical.npz"
    assert len(read_lexical(tmp_path, "seg-000001", len(questions), {})) == len(questions)
    with zipfile.ZipFile(path) as archive:
        member, listing = archive.getinfo("chars_data.npy"), archive.start_dir
    whole = path.read_bytes()
    directory = whole.index(b"chars_data.npy", listing) - 46  # the member's entry in the central directory
    for at, bit in [(member.header_offset + member.compress_size, 0x40),  # inside the array's values
                    (directory + 8, 0x01),    # its flags: "encrypted"
                    (directory + 10, 0x01)]:  # its compression method: not "stored"
        data = bytearray(whole)
        data[at] ^= bit
        path.write_bytes(bytes(data))
        with pytest.raises(DataError, match=r"is damaged: seg-000001.lexical.npz cannot be read$"):
            read_lexical(tmp_path, "seg-000001", len(questions), {})


@pytest.mark.parametrize("checksums", [True, False])
def test_only_a_graph_of_checked_size_is_memory_mapped(folder, monkeypatch, checksums):
    from qdup.search.topk import HnswSearch

    real, asked = HnswSearch.read, []

    def read(path, mapped=False):
        asked.append(mapped)
        return real(path, mapped)

    if not checksums:
        without_checksums(folder)
    monkeypatch.setattr(HnswSearch, "read", staticmethod(read))
    index = Index.load(folder)
    assert asked == [checksums]
    [result] = index.search(FakeModel(), ["question 3 about piano?"], 3)
    assert result.questions[0] == "question 3 about piano?"


def test_a_writer_committing_meanwhile_is_not_damage(folder, monkeypatch):
    """The loader retries when a writer replaced the files of the manifest it read: FAISS's errors too."""
    from qdup.search.topk import HnswSearch

    real, calls = HnswSearch.read, []

    def replaced_once(path, mapped=False):  # the first read meets a graph another process's commit just swept
        calls.append(1)
        if len(calls) == 1:
            Index.load(folder).add(FakeModel(), ["committed meanwhile?"])
            raise RuntimeError("Error in faiss::FileIOReader::FileIOReader: could not open")
        return real(path, mapped)

    monkeypatch.setattr(HnswSearch, "read", staticmethod(replaced_once))
    assert len(Index.load(folder)) == 23
