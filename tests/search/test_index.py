import json
import os
import re
import sys

import numpy as np
import pytest

from helpers import assert_same_results
from fake_model import FakeModel
from qdup.search.local import segments
from qdup.errors import ConfigError, DataError, InputError, OutputError, OutputExistsError
from qdup.search.index import Index
from qdup.search.topk import build_hnsw, exact_topk, hnsw_topk

QUESTIONS = [
    "How do I learn Python?",
    "What is the best way to learn Python?",
    "How can I lose weight fast?",
    "What is an LSTM network?",
    "How do I cook rice?",
    "Is Python good for beginners?",
]


@pytest.fixture
def index(tmp_path, fake_model):
    return Index.build(fake_model, None, QUESTIONS, tmp_path / "idx")


def brute_force(fake_model, stored, query, k):
    scores = fake_model.encode(stored) @ fake_model.encode([query])[0]
    order = sorted(range(len(stored)), key=lambda i: (-scores[i], i))[:k]
    return order, scores[order]


def test_search_matches_brute_force_and_survives_reload(tmp_path, fake_model, index):
    [result] = index.search(fake_model, ["how to learn python"], k=3)
    order, scores = brute_force(fake_model, QUESTIONS, "how to learn python", 3)
    assert result.ids == [str(i + 1) for i in order]
    assert result.questions == [QUESTIONS[i] for i in order]
    np.testing.assert_allclose(result.scores, scores, rtol=1e-5)
    assert result.scores == sorted(result.scores, reverse=True)
    again = Index.load(tmp_path / "idx").search(fake_model, ["how to learn python"], k=3)
    assert_same_results(again, [result])  # memory-mapped vectors may take another BLAS path


def test_threshold_and_k_larger_than_index(fake_model, index):
    [everything] = index.search(fake_model, ["How do I learn Python?"], k=50)
    assert len(everything.ids) == len(QUESTIONS)
    [top] = index.search(fake_model, ["How do I learn Python?"], k=50, threshold=0.99)
    assert top.ids == ["1"] and top.scores[0] == pytest.approx(1.0, abs=1e-5)


def test_batched_search_equals_one_by_one(fake_model, index):
    queries = ["learn python", "cook rice", "lstm"]
    # A batched and a one-row matrix product may differ in the last bit: ids exact, scores close.
    batched = index.search(fake_model, queries, k=2)
    assert_same_results(batched, [index.search(fake_model, [q], k=2)[0] for q in queries])
    assert [r.ids[0] for r in batched] == ["1", "5", "4"]


def test_add_remove_and_generated_ids(tmp_path, fake_model, index):
    assert index.add(fake_model, ["How do I learn Rust?"]) == ["7"]
    assert index.add(fake_model, ["Why is the sky blue?"], ids=["sky"]) == ["sky"]
    index.remove(["1", "sky"])
    reloaded = Index.load(tmp_path / "idx")
    assert len(reloaded) == len(QUESTIONS)
    vectors, ids, questions = reloaded.live()
    assert ids == ["2", "3", "4", "5", "6", "7"] and questions[-1] == "How do I learn Rust?"
    [result] = reloaded.search(fake_model, ["How do I learn Python?"], k=10)
    assert "1" not in result.ids and "sky" not in result.ids and len(result.ids) == 6
    # removed ids never come back as generated ids, and only the live generation's files remain
    assert reloaded.add(fake_model, ["Another?"]) == ["8"]
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    names = {p.name for p in (tmp_path / "idx").iterdir()} - {"manifest.json", ".lock"}
    assert names == {f"{s['name']}{ext}" for s in manifest["segments"] for ext in (".npy", ".jsonl")}


def test_bad_writes_change_nothing(tmp_path, fake_model, index):
    with pytest.raises(DataError, match="id 'nope' is not in the index"):
        index.remove(["1", "nope"])
    with pytest.raises(DataError, match="id '2' is already in the index"):
        index.add(fake_model, ["dup?"], ids=["2"])
    with pytest.raises(DataError, match="question 2 is empty"):
        index.add(fake_model, ["fine?", "   "])
    assert len(Index.load(tmp_path / "idx")) == len(QUESTIONS)


def test_one_string_of_ids_is_refused_not_read_as_one_id_per_character(tmp_path, fake_model, index):
    with pytest.raises(ConfigError, match="ids must be a list of ids, not one string \\(got '12'\\)"):
        index.remove("12")  # was: ids "1" and "2" removed
    with pytest.raises(ConfigError, match="not one string"):
        index.add(fake_model, ["Why is the sky blue?", "Why is grass green?"], ids="ab")
    with pytest.raises(ConfigError, match="not one string"):
        index.update(fake_model, "12", ["Why is the sky blue?", "Why is grass green?"])
    assert Index.load(tmp_path / "idx").live()[1] == [str(n) for n in range(1, len(QUESTIONS) + 1)]


def test_query_vectors_of_another_shape_are_one_line(fake_model, index):
    dim = fake_model.dim
    assert len(index.search_vectors(np.ones(dim, np.float32), k=2)) == 1  # one vector: one query
    # (2 * dim,) was searched as two queries, (dim + 1,) failed in numpy's reshape.
    for given, seen in (((2 * dim,), (1, 2 * dim)), ((dim + 1,), (1, dim + 1)), ((2, 2, dim), (2, 2, dim))):
        with pytest.raises(ConfigError, match=re.escape(f"query vectors must be of shape ({dim},) or (n, {dim}), "
                                                        f"got {seen}")):
            index.search_vectors(np.ones(given, np.float32))
    with pytest.raises(ConfigError, match="^query vectors must be an array of numbers, got str$"):
        index.search_vectors("abc")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e39])  # 1e39 is infinity in float32
def test_a_query_vector_holding_nan_or_infinity_is_refused(fake_model, index, bad):
    # It compared false with every score: no match and no error, as if nothing were stored.
    queries = fake_model.encode(["How do I learn Python?", "How do I cook rice?"]).astype(np.float64)
    queries[1, 3] = bad
    with pytest.raises(ConfigError, match=r"^query vector 2 of 2 holds NaN or infinity$"):
        index.search_vectors(queries)
    assert index.search_vectors(queries[0], k=1)[0].ids == ["1"]


def test_search_refuses_what_is_no_model_no_questions_or_no_filter(fake_model, index, tmp_path):
    # None as the model was an AttributeError, None as the questions and 5 as the filter TypeErrors.
    for call in (lambda: index.search(None, ["Why?"]), lambda: index.add(None, ["Why?"]),
                 lambda: Index.build(None, None, ["Why?"], tmp_path / "other")):
        with pytest.raises(ConfigError, match=r"^model must be a qdup model \(say qdup.load\(\)\), got NoneType$"):
            call()
    with pytest.raises(ConfigError, match=r"^questions must be a list of strings, got NoneType$"):
        index.search(fake_model, None)
    for call in (lambda: index.search(fake_model, ["Why?"], where=5), lambda: index.search_vectors(
            fake_model.encode(["Why?"]), where=5)):
        with pytest.raises(ConfigError, match=r"^a filter condition must be text like 'status=open', got 5$"):
            call()
    assert not (tmp_path / "other").exists() and len(index) == len(QUESTIONS)


def test_an_id_is_refused_above_the_bytes_milvus_holds_in_a_local_index_too(tmp_path, fake_model, index):
    # A 2 MB id was stored in a local index, while the Milvus backend refused one over 64 KiB.
    for too_long in ("x" * 65_536, "é" * 32_768):  # bytes count, not characters
        for call in (lambda: index.add(fake_model, ["Why?"], ids=[too_long]),
                     lambda: index.update(fake_model, [too_long], ["Why?"]),
                     lambda: Index.build(fake_model, [too_long], ["Why?"], tmp_path / "other")):
            with pytest.raises(InputError, match=r"^id '.{40}'\.\.\. is longer than 65535 bytes, the most an id may be$"):
                call()
    assert len(index) == len(QUESTIONS) and not (tmp_path / "other").exists()
    assert index.add(fake_model, ["Why?"], ids=["é" * 32_767]) == ["é" * 32_767]  # 65,534 bytes: taken


def test_other_model_is_refused(fake_model, index):
    message = (r"was built with model [0-9a-f]{12}, not [0-9a-f]{12}; use the model that built it, or rebuild the "
               r"index \(an index of an older qdup's built-in model must be rebuilt\)$")  # no model folder was named
    with pytest.raises(DataError, match=message):
        index.search(FakeModel(salt="b"), ["q"], k=1)
    with pytest.raises(DataError, match="was built with model"):
        index.add(FakeModel(salt="b"), ["q"])


def test_build_force_keeps_a_model_folder_saved_inside_the_index(tmp_path, fake_model, tiny_model, index):
    # `qdup train --out INDEX/model`, then `index build --out INDEX --model INDEX/model --force`:
    # the rebuild replaced the folder and deleted the very model the index names.
    tiny_model.save(tmp_path / "idx" / "models" / "tiny")
    with pytest.raises(OutputError, match=r"idx holds the model folder models/tiny, which replacing the index "
                                          r"would delete; move it out of the index folder first$"):
        Index.build(fake_model, None, ["a?"], tmp_path / "idx", force=True)
    assert (tmp_path / "idx" / "models" / "tiny" / "model.safetensors").is_file()
    assert len(Index.load(tmp_path / "idx")) == len(QUESTIONS)


def test_build_refuses_existing_folder_and_bad_arguments(tmp_path, fake_model, index):
    with pytest.raises(OutputExistsError, match="already exists \\(use --force to replace it\\)"):
        Index.build(fake_model, None, ["a?"], tmp_path / "idx")
    Index.build(fake_model, None, ["a?"], tmp_path / "idx", force=True)
    assert len(Index.load(tmp_path / "idx")) == 1
    with pytest.raises(ConfigError, match="k must be a positive integer, got 0"):
        index.search(fake_model, ["a"], k=0)
    with pytest.raises(ConfigError, match="unknown backend 'annoy' \\(known: auto, exact, hnsw, milvus\\)"):
        Index.build(fake_model, None, ["a?"], tmp_path / "x", backend="annoy")


def test_a_missing_pymilvus_names_what_to_install(tmp_path, fake_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # as if it were not installed
    for name in [m for m in sys.modules if m.startswith("qdup.search.milvus.")]:
        monkeypatch.delitem(sys.modules, name)  # imported again, by the backend registry
    with pytest.raises(ConfigError, match=r"^the milvus backend needs pymilvus; install it with: "
                                          r"pip install 'qdup\[milvus\]'$"):
        Index.build(fake_model, None, ["a?"], tmp_path / "m", backend="milvus", options={"uri": "q.db"})
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("content, message", [
    (None, "is not a qdup index (no manifest.json)"),
    ("{not json", "is corrupt (not JSON)"),
    ('{"format": "qdup-index", "version": 99}', "index format version 99 is not supported"),
])
def test_load_reports_damaged_folders(tmp_path, content, message):
    (tmp_path / "bad").mkdir()
    if content is not None:
        (tmp_path / "bad" / "manifest.json").write_text(content)
    with pytest.raises(DataError) as info:
        Index.load(tmp_path / "bad")
    assert message in str(info.value)


def test_load_refuses_an_empty_path(tmp_path, index, monkeypatch):
    monkeypatch.chdir(tmp_path / "idx")  # Path("") is ".": the index here was opened without a word
    with pytest.raises(ConfigError, match=r"^the index folder path is empty$"):
        Index.load("")


def test_writer_picks_up_another_process_commit(tmp_path, fake_model, index):
    other = Index.load(tmp_path / "idx")
    other.add(fake_model, ["From the other writer?"], ids=["w"])
    index.add(fake_model, ["From this writer?"], ids=["x"])  # must not drop "w"
    assert Index.load(tmp_path / "idx").live()[1][-2:] == ["w", "x"]


def test_many_adds_are_merged_into_few_segments(tmp_path, fake_model, index, monkeypatch):
    monkeypatch.setattr(segments, "MAX_SEGMENTS", 3)
    for n in range(7):
        index.add(fake_model, [f"question number {n}?"])
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert len(manifest["segments"]) <= 3 and manifest["count"] == len(QUESTIONS) + 7
    assert Index.load(tmp_path / "idx").live()[1] == index.live()[1]


def test_exact_topk_chunks_agree_with_brute_force():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1003, 16)).astype(np.float32)
    queries = rng.standard_normal((5, 16)).astype(np.float32)
    dead = rng.random(1003) < 0.1
    full = queries @ vectors.T
    full[:, dead] = -np.inf
    expected = np.argsort(-full, axis=1, kind="stable")[:, :7]
    for chunk in (1, 7, 100, 1003, 5000):
        scores, rows = exact_topk(queries, vectors, 7, dead, chunk_rows=chunk)
        np.testing.assert_array_equal(rows, expected)
        np.testing.assert_allclose(scores, np.take_along_axis(full, expected, 1), rtol=1e-6)


def clustered_unit_vectors(n, dim, seed):
    # Real sentence embeddings are clustered; uniform random vectors are a worst case no model produces.
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 50, 1), dim)).astype(np.float32)
    v = centres[rng.integers(0, len(centres), n)] + 0.09 * rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_hnsw_recall_at_10_against_exact():
    vectors = clustered_unit_vectors(20_000, 64, seed=1)
    queries = clustered_unit_vectors(200, 64, seed=1)[:200] + 0.02
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    dead = np.arange(0, 20_000, 97)
    mask = np.zeros(20_000, bool)
    mask[dead] = True
    _, exact = exact_topk(queries, vectors, 10, mask)
    _, approx = hnsw_topk(build_hnsw(vectors), queries, 10, dead)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)])
    assert recall >= 0.99
    assert not set(approx.ravel()) & set(dead)


def test_hnsw_index_round_trip(tmp_path, fake_model, monkeypatch):
    questions = [f"question {n} about topic {n % 17}?" for n in range(300)]
    index = Index.build(fake_model, None, questions, tmp_path / "h", backend="hnsw")
    index.add(fake_model, ["a late question about topic 3?"])
    index.remove(["5"])
    assert (tmp_path / "h" / "seg-000001.faiss").exists()
    reloaded = Index.load(tmp_path / "h")
    exact = Index.build(fake_model, None, questions, tmp_path / "e", backend="exact")
    exact.add(fake_model, ["a late question about topic 3?"])
    exact.remove(["5"])
    queries = ["question 5 about topic 5?", "late question topic 3"]
    for a, b in zip(reloaded.search(fake_model, queries, k=5), exact.search(fake_model, queries, k=5)):
        assert a.ids == b.ids
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)


def test_failed_write_is_one_line_and_changes_nothing(tmp_path, fake_model, index, monkeypatch):
    from qdup.util import atomic

    def disk_full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "write_bytes", disk_full)
    with pytest.raises(DataError) as info:
        index.add(fake_model, ["One more?"])
    assert str(info.value) == f"{tmp_path / 'idx'}: cannot write the index (No space left on device)"
    monkeypatch.undo()
    assert len(Index.load(tmp_path / "idx")) == len(QUESTIONS) == len(index)


def test_concurrent_writers_and_readers_lose_nothing(tmp_path, fake_model, index):
    import threading

    other = Index.load(tmp_path / "idx")
    errors = []

    def writer(target, prefix):
        try:
            for n in range(10):
                target.add(fake_model, [f"{prefix} question {n}?"], ids=[f"{prefix}{n}"])
        except Exception as error:  # surfaced below; a thread would swallow it
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(index, "a")), threading.Thread(target=writer, args=(other, "b"))]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):  # searches run while the writers commit
        [result] = index.search(fake_model, ["question 3"], k=5)
        assert len(result.ids) == 5 and result.scores == sorted(result.scores, reverse=True)
    for t in threads:
        t.join()
    assert not errors
    ids = set(Index.load(tmp_path / "idx").live()[1])
    assert {f"a{n}" for n in range(10)} | {f"b{n}" for n in range(10)} <= ids and len(ids) == len(QUESTIONS) + 20


def test_hnsw_graph_is_kept_while_small_adds_are_merged(tmp_path, fake_model, monkeypatch):
    monkeypatch.setattr(segments, "MAX_SEGMENTS", 3)
    questions = [f"question {n} about topic {n % 17}?" for n in range(200)]
    index = Index.build(fake_model, None, questions, tmp_path / "h", backend="hnsw")
    for n in range(5):
        index.add(fake_model, [f"late question {n}?"])
    manifest = json.loads((tmp_path / "h" / "manifest.json").read_text())
    assert manifest["segments"][0]["name"] == "seg-000001" and manifest["segments"][0]["ann"]  # graph not rebuilt
    assert len(manifest["segments"]) <= 3 and manifest["count"] == 205
    [result] = Index.load(tmp_path / "h").search(fake_model, ["late question 0?"], k=1)
    assert result.questions == ["late question 0?"]


def test_stale_handle_never_writes_into_a_rebuilt_folder(tmp_path, fake_model, index):
    # A server loaded the index (generation 1); meanwhile `index build --force` replaced the
    # folder with a new one, also at generation 1.
    Index.build(fake_model, None, ["New question one?", "New question two?"], tmp_path / "idx", force=True)
    assert index.add(fake_model, ["Added by the stale handle?"]) == ["3"]
    reloaded = Index.load(tmp_path / "idx")
    assert reloaded.live()[2] == ["New question one?", "New question two?", "Added by the stale handle?"]
    [result] = reloaded.search(fake_model, ["New question one?"], k=1)
    assert result.questions == ["New question one?"]


def test_rebuild_gets_a_new_identity(tmp_path, fake_model, index):
    first = json.loads((tmp_path / "idx" / "manifest.json").read_text())["uid"]
    Index.build(fake_model, None, ["a?"], tmp_path / "idx", force=True)
    second = json.loads((tmp_path / "idx" / "manifest.json").read_text())["uid"]
    assert len(first) == len(second) == 32 and first != second


def test_build_force_waits_for_a_writer_of_the_old_folder(tmp_path, fake_model, index):
    from qdup.search import manifest
    import threading

    rebuilt = threading.Event()
    with manifest.write_lock(tmp_path / "idx"):  # a writer of the old folder is committing
        thread = threading.Thread(target=lambda: (Index.build(
            fake_model, None, ["b?"], tmp_path / "idx", force=True), rebuilt.set()))
        thread.start()
        assert not rebuilt.wait(0.5)  # the rebuild waits for the lock
        assert len(Index.load(tmp_path / "idx")) == len(QUESTIONS)
    thread.join(timeout=30)
    assert rebuilt.is_set() and Index.load(tmp_path / "idx").live()[2] == ["b?"]


def test_writer_granted_the_lock_of_a_replaced_folder_takes_the_new_ones(tmp_path, monkeypatch):
    from qdup.search import manifest
    import subprocess
    import sys

    folder = tmp_path / "idx"
    folder.mkdir()
    real = manifest.FileLock

    class SwappedWhileWaiting(real):
        def acquire(self, *args, **kwargs):  # the lock file is opened, then build --force swaps the folder
            granted = super().acquire(*args, **kwargs)
            if not (tmp_path / "old").exists():
                os.rename(folder, tmp_path / "old")
                folder.mkdir()
            return granted

    monkeypatch.setattr(manifest, "FileLock", SwappedWhileWaiting)
    with manifest.write_lock(folder):
        other = subprocess.run([sys.executable, "-c", "import sys; from filelock import FileLock, Timeout\n"
                                "try: FileLock(sys.argv[1], timeout=0.5).acquire()\nexcept Timeout: print('busy')",
                                str(folder / ".lock")], capture_output=True, text=True)
    assert other.stdout.strip() == "busy"  # the writer holds the new folder's lock, not only the old one's


def test_huge_k_is_clipped_to_the_stored_count(fake_model, index):
    [result] = index.search(fake_model, ["learn python"], k=10**12)
    assert len(result.ids) == len(QUESTIONS)
    with pytest.raises(ConfigError, match=r"k must be a positive integer, got True"):
        index.search(fake_model, ["a?"], k=True)


@pytest.mark.parametrize("threshold, message", [
    (5, "threshold must be in [-1, 1], got 5"),
    (True, "threshold must be a number in [-1, 1], got True"),
    ("0.5", "threshold must be a number in [-1, 1], got '0.5'"),
])
@pytest.mark.parametrize("argument", ["threshold", "verdicts_above"])
def test_search_threshold_is_checked(fake_model, index, threshold, message, argument):
    """Checked before the encoding, whatever the model's scorer (this one reads no words)."""
    with pytest.raises(ConfigError) as error:
        index.search(fake_model, ["a?"], k=1, **{argument: threshold})
    assert str(error.value) == message


def test_search_arguments_come_back_as_python_numbers():
    from qdup.search.inputs import check_search_args

    got = check_search_args(3, np.float32(0.5), None, np.float64(-1), np.float32(0.25))
    assert got == (3, 0.5, None, -1.0, 0.25) and all(type(x) is float for x in (got[1], got[3], got[4]))


@pytest.mark.parametrize("question", ["???", "  !!  ", "", "\udcff invalid"])
def test_empty_or_invalid_questions_are_refused_everywhere(tmp_path, fake_model, index, question):
    from qdup.errors import QuestionError

    for call in (lambda: index.search(fake_model, [question]), lambda: index.add(fake_model, ["ok?", question]),
                 lambda: Index.build(fake_model, None, [question], tmp_path / "new")):
        with pytest.raises(QuestionError, match=r"^question \d is (empty|not valid Unicode)"):
            call()
    assert len(Index.load(tmp_path / "idx")) == len(QUESTIONS) and not (tmp_path / "new").exists()


def test_deeply_nested_manifest_is_one_line(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError, match="is corrupt"):
        Index.load(tmp_path / "bad")


def test_manifest_with_a_number_too_long_to_read_is_one_line(tmp_path):
    (tmp_path / "bad").mkdir()  # json.loads: a plain ValueError, not a JSONDecodeError
    (tmp_path / "bad" / "manifest.json").write_text('{"format": "qdup-index", "generation": 1' + "0" * 5000 + "}")
    with pytest.raises(DataError, match="is corrupt"):
        Index.load(tmp_path / "bad")


def test_exact_topk_in_query_chunks_agrees_with_one_block(monkeypatch):
    import qdup.search.topk as topk

    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    queries = rng.standard_normal((23, 8)).astype(np.float32)
    whole = exact_topk(queries, vectors, 5)
    monkeypatch.setattr(topk, "EXACT_CHUNK_QUERIES", 4)  # does not divide 23
    chunked = exact_topk(queries, vectors, 5)
    np.testing.assert_array_equal(chunked[1], whole[1])
    np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-6)


def test_questions_with_unicode_line_separators_load_unchanged(tmp_path, fake_model):
    """Segments store text raw (ensure_ascii=False): U+2028, U+2029 and U+0085 are not line ends."""
    questions = ["Line one\u2028line two?", "How do I cook rice\x85 fast?", "A\u2029B?"]
    Index.build(fake_model, ["a", "b", "c"], questions, tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx")
    assert [loaded.get(i).question for i in "abc"] == questions


def test_a_large_build_reports_its_graph_and_lexical_rows_in_parts(monkeypatch, capsys):
    """A million questions take minutes in both steps: each reports its parts, and the parts add up."""
    from qdup.search import topk
    from qdup.text import lexical
    from qdup.text.lexical import LexicalStats

    monkeypatch.setattr(topk, "HNSW_ADD_ROWS", 300)
    monkeypatch.setattr(lexical, "ROWS_CHUNK", 4)
    vectors = clustered_unit_vectors(1_000, 16, seed=2)
    graph = build_hnsw(vectors, progress=True)
    questions = [f"question {n} about topic {n % 7}?" for n in range(10)]
    stats = LexicalStats.fit(questions)
    rows = stats.rows(questions, progress=True)
    err = capsys.readouterr().err
    assert "graph: part 4/4" in err and "lexical rows: part 3/3" in err
    assert graph.ntotal == 1_000 and len(rows) == 10
    monkeypatch.setattr(lexical, "ROWS_CHUNK", 100)
    whole = stats.rows(questions)
    assert all(abs(getattr(rows, m).to_scipy() - getattr(whole, m).to_scipy()).max() < 1e-6
               for m in ("chars", "words", "numbers"))
    _, found = hnsw_topk(graph, vectors[:5], 1)
    assert found[:, 0].tolist() == [0, 1, 2, 3, 4]  # every part is in the one graph
    # The storage sized for every part at once holds each vector as a graph built in one add does.
    monkeypatch.setattr(topk, "HNSW_ADD_ROWS", 10_000)
    at_once = build_hnsw(vectors, progress=True)
    for n in (0, 299, 300, 999):
        np.testing.assert_array_equal(graph.reconstruct(n), at_once.reconstruct(n))


def test_records_written_in_parts_read_back_whole(tmp_path, fake_model, monkeypatch):
    from qdup.search.local import files

    monkeypatch.setattr(files, "RECORDS_PER_WRITE", 2)
    questions = [f"question {n} \u2028 about {n % 3}?" for n in range(7)]
    metadata = [{"url": f"https://example.org/{n}"} if n % 2 else {} for n in range(7)]
    Index.build(fake_model, [f"id{n}" for n in range(7)], questions, tmp_path / "p", metadata=metadata)
    index = Index.load(tmp_path / "p")
    stored = [index.get(f"id{n}") for n in range(7)]
    assert [s.question for s in stored] == questions and [s.metadata for s in stored] == metadata
    assert (tmp_path / "p" / "seg-000001.jsonl").read_text(encoding="utf-8").count("\n") == 7


def watch_encoding_and_graph(fake_model, monkeypatch) -> tuple[list, list]:
    """Weak references to every array ``fake_model`` encodes, and, each time a graph is built,
    which of them are alive then and what the graph reads its vectors from."""
    import weakref

    from qdup.search.topk import HnswSearch

    encoded, graphs = [], []
    encode, build = fake_model.encode, HnswSearch.build.__func__

    def encode_and_watch(texts, **options):
        vectors = encode(texts, **options)
        encoded.append(weakref.ref(vectors))
        return vectors

    def build_and_look(cls, vectors, progress=False):
        graphs.append(([ref() is not None for ref in encoded], type(vectors).__name__))
        return build(cls, vectors, progress)

    monkeypatch.setattr(fake_model, "encode", encode_and_watch)
    monkeypatch.setattr(HnswSearch, "build", classmethod(build_and_look))
    return encoded, graphs


def test_a_build_lets_go_of_its_vectors_before_the_graph(tmp_path, fake_model, monkeypatch):
    """The graph copies every vector: a million questions' would be held twice if the array
    the build encoded were still alive then (issue 20's build memory)."""
    _, graphs = watch_encoding_and_graph(fake_model, monkeypatch)
    questions = [f"question {n} about topic {n % 17}?" for n in range(300)]
    index = Index.build(fake_model, None, questions, tmp_path / "h", backend="hnsw")
    assert graphs == [([False], "VectorFile")]  # one graph, read from the file once the array was freed
    manifest = json.loads((tmp_path / "h" / "manifest.json").read_text())
    [entry] = manifest["segments"]
    assert entry["ann"] and set(entry["files"]) == {"seg-000001.npy", "seg-000001.jsonl", "seg-000001.faiss"}
    loaded = Index.load(tmp_path / "h")
    assert "files match their checksums" in loaded.check()
    # The built index serves its vectors from the graph's own copy (no file of the build's
    # temporary folder is held open): the same vectors the folder holds.
    [built_segment], [loaded_segment] = index._state[1].segments, loaded._state[1].segments
    assert not isinstance(built_segment.vectors, np.memmap)
    np.testing.assert_array_equal(built_segment.vectors, loaded_segment.vectors)
    exact = Index.build(fake_model, None, questions, tmp_path / "e", backend="exact")
    queries = ["question 5 about topic 5?", "topic 3"]
    for built in (index, loaded):
        assert_same_results(built.search(fake_model, queries, k=5), exact.search(fake_model, queries, k=5))


@pytest.mark.parametrize("backend, segments, graph", [("hnsw", 1, True), ("exact", 3, False)])
def test_a_build_in_chunks(tmp_path, fake_model, monkeypatch, backend, segments, graph):
    """In chunks, an HNSW build ends as one segment whose graph is built once, with every
    chunk's array freed; an exact one keeps its chunks' segments and generations."""
    from qdup.data.corpus import Corpus

    encoded, graphs = watch_encoding_and_graph(fake_model, monkeypatch)
    questions = [f"question {n} about topic {n % 17}?" for n in range(300)]
    chunks = [Corpus(questions[s : s + 100], [str(n) for n in range(s, s + 100)]) for s in (0, 100, 200)]
    index = Index.build_chunks(fake_model, chunks, tmp_path / "c", backend=backend)
    assert graphs == ([([False] * 3, "VectorFile")] if graph else [])
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert [e["ann"] for e in manifest["segments"]] == [graph] * segments
    assert manifest["generation"] == (4 if graph else 3)  # one per chunk, and the merge that took the graph
    assert sum(e["rows"] for e in manifest["segments"]) == 300
    exact = Index.build(fake_model, [str(n) for n in range(300)], questions, tmp_path / "e", backend="exact")
    assert_same_results(index.search(fake_model, ["topic 3"], k=5), exact.search(fake_model, ["topic 3"], k=5))
    assert "files match their checksums" in Index.load(tmp_path / "c").check()


def test_a_graph_lends_its_vectors_and_lives_as_long_as_they_do():
    import gc

    from qdup.search.topk import HnswSearch

    vectors = clustered_unit_vectors(500, 16, seed=3)
    graph = HnswSearch.build(vectors)
    lent = graph.vectors()[100:200]  # a view of a view: its base chain holds the graph
    del graph
    gc.collect()
    np.testing.assert_array_equal(lent, vectors[100:200])  # the same floats, copied by FAISS
    assert not lent.flags.writeable
