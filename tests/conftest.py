"""Shared fixtures: the toy pairs shipped in examples/ and a tiny model trained once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import qdup

ROOT = Path(__file__).resolve().parents[1]
TOY_PAIRS = ROOT / "examples" / "toy_pairs.tsv"
SHARED = Path(os.environ.get("QDUP_SHARED", ROOT.parent / "shared"))
QQP_PARTIAL = SHARED / "data" / "qqp-partial" / "pairs.tsv"
TINY = qdup.TrainConfig(epochs=4, batch_size=32, dim=32, seed=1)


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
