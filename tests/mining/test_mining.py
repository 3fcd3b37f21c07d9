import csv

import numpy as np
import pytest

from fake_model import FakeModel
from qdup.errors import ConfigError
from qdup.search.index import Index
from qdup.mining.output import write_pairs_csv
from qdup.mining.pairs import mine_index, mine_vectors


def brute_force(vectors, threshold):
    scores = vectors @ vectors.T
    pairs = [(i, j, scores[i, j]) for i in range(len(vectors)) for j in range(i + 1, len(vectors)) if scores[i, j] > threshold]
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))


@pytest.mark.parametrize("chunk", [1, 7, 64, 97, 1000])
def test_chunked_mining_equals_brute_force(chunk):
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((97, 8)).astype(np.float32)
    vectors[10] = vectors[50]  # an exact duplicate across chunk borders
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = brute_force(vectors, 0.6)
    i, j, s = mine_vectors(vectors, 0.6, chunk_size=chunk)
    assert list(zip(i.tolist(), j.tolist())) == [(a, b) for a, b, _ in expected]
    np.testing.assert_allclose(s, [c for _, _, c in expected], rtol=1e-5)
    assert len(expected) > 5


def test_mining_validates_arguments():
    with pytest.raises(ConfigError, match=r"^threshold must be in \[-1, 1\], got 1.5$"):
        mine_vectors(np.eye(2, dtype=np.float32), 1.5)
    with pytest.raises(ConfigError, match="chunk_size must be a positive integer, got 0"):
        mine_vectors(np.eye(2, dtype=np.float32), 0.5, chunk_size=0)


def test_too_many_pairs_is_refused_not_an_out_of_memory():
    vectors = np.ones((50, 2), dtype=np.float32) / np.sqrt(2)
    with pytest.raises(ConfigError, match="more than 1,000 pairs score above 0.5; use a higher threshold"):
        mine_vectors(vectors, 0.5, chunk_size=7, max_pairs=1000)
    assert len(mine_vectors(vectors, 0.5, chunk_size=7, max_pairs=1225)[0]) == 1225


def test_mine_index_writes_csv(tmp_path):
    model = FakeModel()
    questions = ["How do I learn Python?", "How do I learn Python ?", "What is an LSTM?", "removed: How do I learn Python?"]
    index = Index.build(model, ["a", "b", "c", "d"], questions, tmp_path / "idx")
    index.remove(["d"])
    pairs = mine_index(index, threshold=0.8)
    assert [(p.id1, p.id2) for p in pairs] == [("a", "b")]
    write_pairs_csv(pairs, tmp_path / "pairs.csv")
    with open(tmp_path / "pairs.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["id1", "id2", "score", "question1", "question2"]
    assert rows[1][:2] == ["a", "b"] and rows[1][3:] == questions[:2] and 0.8 < float(rows[1][2]) <= 1.0
