"""``Index.warm``: every file a search reads is read in, and the answers do not change."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_same_results
from qdup import Index
from qdup.search.local.files import LEXICAL
from qdup.text.lexical import BUCKETS

QUESTIONS = ["How do I renew my library card?", "Can I renew a library card online?",
             "Where do I return borrowed books?", "How late is the library open on Sundays?",
             "Does the library lend e-readers?", "How many books can I borrow?"]
ASKED = ["how to renew my library card", "library sunday hours"]


@pytest.mark.parametrize("backend", ["exact", "hnsw"])
def test_warm_reads_each_segment_file_a_search_reads_and_changes_no_answer(rerank_model, tmp_path, backend):
    path = tmp_path / "idx"
    Index.build(rerank_model, None, QUESTIONS[:4], path, backend=backend).add(rerank_model, QUESTIONS[4:])
    expected = Index.load(path).search(rerank_model, ASKED, k=4)
    index = Index.load(path)
    read = index.warm()
    # a segment with a graph has its vectors twice (the graph holds its own copy)
    vectors = sum(np.load(p).nbytes * (2 if p.with_suffix(".faiss").exists() else 1) for p in path.glob("seg-*.npy"))
    lexical = 0
    for file in path.glob(f"seg-*{LEXICAL}"):
        with np.load(file) as arrays:  # the rows, and the postings' rows and weights; their offsets are
            lexical += sum(arrays[n].nbytes for n in arrays.files if n in ("postings_rows", "postings_weights")
                           or not n.startswith("postings_")) + (BUCKETS + 1) * 8  # remade, one per bucket
    assert read == vectors + lexical
    assert any(path.glob("seg-*.faiss")) is (backend == "hnsw")
    assert_same_results(index.search(rerank_model, ASKED, k=4), expected)


def test_a_cosine_index_warms_its_vectors(fake_model, tmp_path):
    index = Index.build(fake_model, None, QUESTIONS, tmp_path / "idx")
    [vectors] = (tmp_path / "idx").glob("seg-*.npy")
    assert index.warm() == vectors.stat().st_size - 128  # np.save's header: 128 bytes
