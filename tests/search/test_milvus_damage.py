"""A Milvus collection that does not hold what the index folder's manifest counts is refused
in one line, before anything is written: a Milvus Lite file whose own collection manifest
was damaged from outside (which Lite would read as empty and, on opening, delete the rows
it no longer lists), and a collection that lost rows behind qdup's back."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("pymilvus")

from helpers import run  # noqa: E402
from milvus_server import collection_name  # noqa: E402
from qdup import Index  # noqa: E402
from qdup.errors import DataError  # noqa: E402
from test_index_backends import QUESTIONS  # noqa: E402
from test_milvus_crash import BUILD, child, state  # noqa: E402

LITE_MANIFEST = "collections/questions/manifest.json"  # Milvus Lite's own, in the .db folder
DAMAGE = {
    "truncated": (lambda text: text[: len(text) // 2], "is not JSON"),
    "emptied": (lambda text: b"", "is not JSON"),
    "{}": (lambda text: b"{}", "lacks version and partitions"),
    "deleted": (None, "is missing"),
}


ATTEMPTS = """
for name, attempt in [("search", lambda: Index.load(FOLDER).search(MODEL, ["old question 4 about rice?"], k=1)[0].ids),
                      ("add", lambda: Index.load(FOLDER).add(MODEL, NEW)), ("load", lambda: len(Index.load(FOLDER)))]:
    try:
        print(json.dumps([name, "answered", attempt()]))
    except Exception as error:
        print(json.dumps([name, type(error).__name__, str(error)]))
"""


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_lite_collection_manifest_is_refused_and_its_rows_kept(capsys, tmp_path, damage):
    child(tmp_path, BUILD)  # 12 questions in q.db; this process never opens the file
    db, (edit, problem) = tmp_path / "q.db", DAMAGE[damage]
    manifest, rows = db / LITE_MANIFEST, sorted(p.name for p in db.rglob("*.parquet"))
    backup = manifest.read_bytes()
    if edit is None:
        manifest.unlink()
    else:
        manifest.write_bytes(edit(backup))
    message = (f"Milvus Lite file {db}: collection 'questions' has a damaged manifest ({LITE_MANIFEST} {problem}), "
               "and opening it would delete its rows; it was left unopened: restore the file from a backup, or "
               "rebuild the index into another --uri")
    code, out = child(tmp_path, ATTEMPTS)  # (the old code: no matches, then the add deleted the 12 rows)
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == [
        ["search", "DataError", message], ["add", "DataError", message], ["load", "DataError", message]]
    code, out, err = run(capsys, "index", "check", tmp_path / "idx")
    assert code == 1 and not out and err == f"Error: {message}\n"
    assert sorted(p.name for p in db.rglob("*.parquet")) == rows  # the rows' files were not touched
    manifest.write_bytes(backup)  # restored: every row is there, and the index writes again
    assert state(tmp_path)["count"] == 12 and state(tmp_path)["found"] == ["5"]


def lose_rows(uri: str, collection: str, rows: list[int]) -> None:
    """Delete rows behind qdup's back (as a server restored from an older backup would lose them)."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri)
    client.delete(collection, filter=f"row in {rows}")
    client.flush(collection)


def damaged(folder, collection: str, uri: str, counted: int, held: int) -> str:
    return (f"{folder} is damaged: the manifest counts {counted} questions, Milvus collection {collection!r} at "
            f"{uri} holds {held}; nothing was written: restore the collection and this folder from one backup, "
            "or rebuild the index with `qdup index build --force`")


def test_a_lite_collection_that_lost_rows_is_refused_on_open(tmp_path, fake_model, milvus_file):
    options = {"uri": milvus_file, "collection": collection_name()}
    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx", backend="milvus", options=options)
    lose_rows(milvus_file, options["collection"], [0, 1])
    with pytest.raises(DataError) as info:
        Index.load(tmp_path / "idx")  # no search answers from 2 rows short
    assert str(info.value) == damaged(tmp_path / "idx", options["collection"], milvus_file, len(QUESTIONS),
                                      len(QUESTIONS) - 2)
    with pytest.raises(DataError, match="nothing was written"):
        index.add(fake_model, ["How do I learn Java?"])  # a handle opened before: its write is refused


def test_a_server_collection_that_lost_rows_refuses_every_write(capsys, tmp_path, fake_model, milvus_server):
    options = {"uri": milvus_server.uri, "collection": collection_name()}
    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx", backend="milvus", options=options)
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "idx", copy)  # a read-only copy of the folder, serving the same collection
    index.remove(["3"])  # by the writing folder: the copy now counts one row more than Milvus shows it
    assert "3" not in Index.load(copy).live()[1]  # and still opens: copies are not counted on open
    lose_rows(milvus_server.uri, options["collection"], [0, 1])
    client, before = index._state[1].client, len(QUESTIONS) - 3
    message = damaged(tmp_path / "idx", options["collection"], milvus_server.uri, len(QUESTIONS) - 1, before)
    for write in (lambda: index.add(fake_model, ["How do I learn Java?"]), lambda: index.remove(["4"]),
                  lambda: Index.load(tmp_path / "idx").update(fake_model, ["5"], ["an edited question?"])):
        with pytest.raises(DataError) as info:
            write()
        assert str(info.value) == message
    [counted] = client.query(options["collection"], filter="gen >= 0", output_fields=["count(*)"])
    assert counted["count(*)"] == before  # nothing was inserted nor deleted
    code, out, err = run(capsys, "index", "check", tmp_path / "idx")
    assert code == 1 and not out and err == f"Error: {message}\n"
