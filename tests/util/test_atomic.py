"""Folder swaps killed at any moment: the next load or write finds the old or the new folder."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import qdup
from helpers import TESTS
from qdup.util import atomic
from qdup.search.index import Index

KILLED_SWAP = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from fake_model import FakeModel
    from qdup.util import atomic
    from qdup.search.index import Index

    atomic._between_renames = lambda: os.kill(os.getpid(), signal.SIGKILL)  # old moved aside, new not in place
    Index.build(FakeModel(), None, ["New?"], {path!r}, force=True)
    """
)


def test_index_rebuild_killed_between_the_renames_is_recovered(tmp_path, fake_model):
    Index.build(fake_model, None, ["Old question?"], tmp_path / "idx")
    script = KILLED_SWAP.format(tests=str(TESTS), path=str(tmp_path / "idx"))
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == -signal.SIGKILL
    assert not (tmp_path / "idx").exists() and len(list(tmp_path.glob(".idx.*.old"))) == 1
    assert Index.load(tmp_path / "idx").live()[2] == ["Old question?"]  # the old folder is back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # and the leftovers are gone


def test_model_save_killed_between_the_renames_is_recovered(tmp_path, tiny_model, monkeypatch):
    tiny_model.save(tmp_path / "m")
    old = tmp_path / ".m.x.old"  # what a kill between the renames leaves
    old.mkdir()
    os.replace(tmp_path / "m", old / "previous")
    (tmp_path / ".m.y.tmp").mkdir()  # and a half-written new folder
    assert qdup.load(tmp_path / "m").fingerprint == tiny_model.fingerprint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_leftovers_of_a_live_writer_are_left_alone(tmp_path):
    busy = tmp_path / ".m.z.tmp"
    busy.mkdir()
    with atomic._held(busy):  # flock-ed as a running save does
        atomic.recover(tmp_path / "m")
        assert busy.exists()
    atomic.recover(tmp_path / "m")
    assert not busy.exists()


def test_failed_swap_restores_the_old_folder(tmp_path, monkeypatch):
    with atomic.directory(tmp_path / "d") as tmp:
        (tmp / "f").write_text("old")

    def fail():
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "_between_renames", fail)
    with pytest.raises(OSError, match="No space left"):
        with atomic.directory(tmp_path / "d", force=True) as tmp:
            (tmp / "f").write_text("new")
    assert (tmp_path / "d" / "f").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_unwritable_output_is_refused_before_any_work(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(qdup.OutputError) as error:
        atomic.check_writable(tmp_path / "file" / "model")
    assert str(error.value) == f"{tmp_path / 'file' / 'model'}: cannot write there (Not a directory)"


def test_a_file_write_makes_missing_folders_and_names_the_file_it_cannot_write(tmp_path):
    # qdup encode / mine / decisions export --out new/x: the error named a hidden temporary
    # sibling (new/.x.abc123.tmp: No such file or directory), after all the work.
    atomic.write_text(tmp_path / "new" / "deeper" / "x.tsv", "a\n")
    assert (tmp_path / "new" / "deeper" / "x.tsv").read_text() == "a\n"
    (tmp_path / "file").write_text("not a folder")
    for path in (tmp_path / "file" / "x.tsv", tmp_path / "file" / "deeper" / "x.tsv"):
        with pytest.raises(NotADirectoryError) as error:
            atomic.write_text(path, "a\n")
        assert error.value.filename == str(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "new"]


def test_a_file_write_onto_a_folder_names_it_and_leaves_no_sibling(tmp_path):
    # evaluate --plots P with a folder P/roc.png: "P/.roc.png.mp58i9_c.tmp: Is a directory".
    (tmp_path / "roc.png").mkdir()
    with pytest.raises(IsADirectoryError) as error:
        atomic.write_bytes(tmp_path / "roc.png", b"png")
    assert error.value.filename == str(tmp_path / "roc.png")
    assert [p.name for p in tmp_path.iterdir()] == ["roc.png"] and (tmp_path / "roc.png").is_dir()


def test_without_flock_leftovers_are_kept(tmp_path, monkeypatch):
    # Windows has no fcntl: a leftover cannot be told from a live writer's, so nothing is swept.
    busy = tmp_path / ".m.z.tmp"
    busy.mkdir()
    monkeypatch.setitem(sys.modules, "fcntl", None)
    atomic.recover(tmp_path / "m")
    assert busy.exists()
    with atomic.directory(tmp_path / "m") as tmp:
        (tmp / "f").write_text("saved")
    assert (tmp_path / "m" / "f").read_text() == "saved"
