"""Shared fixtures: the toy pairs shipped in examples/, a tiny model trained once, a fake
model for search tests, and the search backends (Milvus through a Lite file and a Lite server).
Helpers that tests import live in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

import qdup
from fake_model import FakeModel
from helpers import QQP_PARTIAL, SMALL_DEFAULT, TINY, TOY_PAIRS


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
def rerank_model(toy_split) -> qdup.QdupModel:
    """A small default-recipe model (re-ranking scorer) trained on the toy pairs, for refits (~10 s)."""
    return qdup.train(toy_split, qdup.TrainConfig.from_recipe("default", **SMALL_DEFAULT))


@pytest.fixture(scope="session")
def qqp_partial() -> Path:
    if not QQP_PARTIAL.exists():
        pytest.skip(f"optional data test: {QQP_PARTIAL} is not present")
    return QQP_PARTIAL


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()








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
