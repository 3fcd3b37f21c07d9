"""Shared fixtures and helpers: the toy pairs shipped in examples/, a tiny model trained
once, a fake model for search tests, and helpers to run the CLI and compare results.

Bit-identical comparisons (same seed → same weights, save → load → same vectors) hold
within one process and thread count; across machines, BLAS kernels and thread counts
scores differ in the last bits, so results from different code paths (a batched and a
one-row product, a memory-mapped and an in-memory matrix) are compared with
:func:`assert_same_results`: ids and order exactly, scores to a tolerance.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

import qdup
from fake_model import FakeModel

ROOT = Path(__file__).resolve().parents[1]
TOY_PAIRS = ROOT / "examples" / "toy_pairs.tsv"
SHARED = Path(os.environ.get("QDUP_SHARED", ROOT.parent / "shared"))
QQP_PARTIAL = SHARED / "data" / "qqp-partial" / "pairs.tsv"
TINY = qdup.TrainConfig.from_recipe("reference", epochs=4, batch_size=32, dim=32, seed=1)


@pytest.fixture(scope="session")
def toy_path() -> Path:
    return TOY_PAIRS


@pytest.fixture(scope="session")
def fixture_pairs() -> qdup.Pairs:
    return qdup.read_pairs(TOY_PAIRS)


@pytest.fixture(scope="session")
def toy_split(fixture_pairs) -> qdup.Split:
    return qdup.reference_split(fixture_pairs)


@pytest.fixture(scope="session")
def tiny_model(toy_split) -> qdup.QdupModel:
    """A real model, trained on the toy pairs in well under a second."""
    return qdup.train(toy_split, TINY)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_model, tmp_path_factory) -> Path:
    return tiny_model.save(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def qqp_partial() -> Path:
    if not QQP_PARTIAL.exists():
        pytest.skip(f"optional data test: {QQP_PARTIAL} is not present")
    return QQP_PARTIAL


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()


def run(capsys, *args) -> tuple[int, str, str]:
    """Run the ``qdup`` CLI in-process: ``(exit code, stdout, stderr)``."""
    from qdup.cli import main

    code = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return code, out, err


def free_port() -> int:
    """A port that was free a moment ago (another process may take it; rare enough)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_same_results(got, expected, rtol: float = 1e-5) -> None:
    """Search results equal up to float rounding: ids, questions and order exact."""
    got, expected = list(got), list(expected)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert (a.ids, a.questions) == (b.ids, b.questions)
        np.testing.assert_allclose(a.scores, b.scores, rtol=rtol, atol=1e-6)


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """One Milvus Lite gRPC server per test module (starting one costs about a second)."""
    pytest.importorskip("pymilvus")
    from milvus_server import MilvusServer

    server = MilvusServer(tmp_path_factory.mktemp("milvus-server")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def milvus_file(tmp_path_factory) -> str:
    """A Milvus Lite file shared by a test module (each test takes its own collection)."""
    pytest.importorskip("pymilvus")
    return str(tmp_path_factory.mktemp("milvus-file") / "questions.db")


@pytest.fixture(params=["exact", "hnsw", "milvus-file", "milvus-server"])
def backend(request) -> tuple[str, dict | None]:
    """``(backend, options)`` for :meth:`qdup.Index.build`, once per backend; Milvus
    through a Lite file and through the Lite gRPC server, a fresh collection per test."""
    if not request.param.startswith("milvus"):
        return request.param, None
    from milvus_server import collection_name

    uri = (request.getfixturevalue("milvus_file") if request.param == "milvus-file"
           else request.getfixturevalue("milvus_server").uri)
    return "milvus", {"uri": uri, "collection": collection_name()}
