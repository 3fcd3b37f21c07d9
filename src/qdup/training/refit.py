"""Refit a model's scorer on its training pairs plus moderator decisions, encoder fixed.

A forum's moderators label pairs every day (:mod:`qdup.search.decisions`). Retraining
everything takes a full training run; the encoder, though, needs no change for the
scorer to learn from new labels. A refit keeps the model's encoder and lexical
statistics (so every index of the model still serves it: its ``data_fingerprint`` is
unchanged) and refits both re-rankers and both thresholds:

- the re-rankers learn from the training pool's rows, as in training
  (:func:`qdup.training.scorer_fit.train_rerank_scorer`, same code, same out-of-fold
  cosines), plus one row per *fitted* decision scored by the model's own encoder, which
  never saw it (:func:`~qdup.training.scorer_fit.labelled_rows`);
- decisions never leak into the thresholds: a fixed share of decision queries
  (``holdout``, 20%: those whose text hashes below it, so a query held out stays held
  out as decisions accumulate) is not fitted. The pair threshold is chosen on the
  validation pairs and the search threshold (and its floor) on the validation queries,
  both without every question a fitted decision touches; held-out verdicts label the
  pairs they judge.

The out-of-fold encoders are the slow part (two encoders of the model's recipe, each
on half of the training pairs). :class:`FoldVectors` keeps what they give the pool
questions in a cache folder, so the next refit on the same pairs takes a fraction of it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import __version__
from ..data.pairs import Pairs, pairs_from_lists
from ..data.split import Split, reference_split
from ..data.vectors import write_vectors
from ..errors import ConfigError, DataError
from ..evaluation.search_calibration import DEFAULT_PRECISION, store_search_threshold
from ..model import QdupModel
from ..search.decisions import Decision, latest, now
from ..text.names import NameStats
from ..util import atomic
from ..util.progress import log as log_progress
from .recipes import TrainConfig
from .scorer_fit import labelled_rows, train_rerank_scorer
from .scorers import scorer_settings
from .steps import calibrate
from .trainer import train_encoder

HOLDOUT = 0.2  # share of decision queries kept for choosing thresholds
# Settings no encoder training reads (the scorer's and the threshold's): cached fold vectors
# serve models that differ only in them (built-in v5 and v6: search_unmatched_monotone).
SCORER_ONLY = ("calibrate", "scorer", "scorer_folds", "scorer_held_out", "lookalikes", "search_unmatched_monotone")


def held_out(query: str, holdout: float = HOLDOUT) -> bool:
    """Whether decisions on ``query`` are kept out of the fit: its text's sha256, as a
    number in [0, 1), is below ``holdout``. Stable as decisions accumulate.

    >>> held_out("How do I learn Python?", 0.0), held_out("How do I learn Python?", 1.0)
    (False, True)
    """
    digest = hashlib.sha256(query.strip().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < holdout


def parted(decisions: Sequence[Decision], holdout: float = HOLDOUT) -> tuple[list[Decision], list[Decision]]:
    """The latest decision on each pair (:func:`~qdup.search.decisions.latest`): (fitted, held out)."""
    decided = latest(decisions)
    return [d for d in decided if not held_out(d.query, holdout)], [d for d in decided if held_out(d.query, holdout)]


def nothing_to_learn(held: int, holdout: str) -> str:
    """The refusal of decisions of which none is fitted: none given, or all ``held`` held out
    by ``holdout``, the setting as the caller names it (``"holdout 0.2"``, ``"--holdout 0.2"``).

    >>> nothing_to_learn(3, "--holdout 0.5")
    'no decisions to learn from: --holdout 0.5 keeps all 3 for the thresholds (more decisions, or a lower --holdout)'
    """
    if not held:
        return "no decisions to learn from"
    every = "the only one" if held == 1 else f"all {held}"
    return (f"no decisions to learn from: {holdout} keeps {every} for the thresholds "
            f"(more decisions, or a lower {holdout.split()[0]})")


def refit(model: QdupModel, pairs: Pairs, decisions: Sequence[Decision], *, holdout: float = HOLDOUT,
          cache: str | Path | None = None, progress: bool = False, split: Split | None = None) -> QdupModel:
    """A copy of ``model`` whose re-rankers learnt from ``pairs``' training pool (the file it
    was trained on) plus ``decisions``, and whose thresholds were chosen again without them
    (see the module docstring). ``cache``: a folder keeping the out-of-fold vectors.
    ``split``: the split the model was trained on, when not ``pairs``' reference split (a
    part of its training pool, as benchmarks/learning_curve.py trains on).

    >>> new = refit(qdup.load("models/quora"), qdup.read_pairs("pairs.tsv"), read_decisions("my-index"))  # doctest: +SKIP
    """
    split = split or reference_split(pairs)
    config = refittable(model, split)
    if not 0.0 <= holdout < 1.0:
        raise ConfigError(f"holdout must be in [0, 1), got {holdout!r}")
    fitted, kept = parted(decisions, holdout)
    if not fitted:
        raise DataError(nothing_to_learn(len(kept), f"holdout {holdout:g}"))
    touched = {q.strip() for d in fitted for q in (d.query, d.match)}
    validation = _without(split.validation, touched)  # the pair threshold's: checked now, not after the training
    if len(set(validation.is_duplicate.tolist())) < 2:
        raise DataError(f"the fitted decisions touch questions of {len(split.validation) - len(validation)} of the "
                        f"{len(split.validation)} validation pairs, leaving {len(validation)}, not pairs of both kinds "
                        "to choose the threshold on (hold more decisions out: a higher holdout)")
    log = log_progress if progress else (lambda line: None)
    log(f"refit: {len(fitted)} decisions to learn from, {len(kept)} held out for the thresholds")
    # The model's statistics and features: the lexical rows its indexes store stay valid. A
    # model saved before look-alike features (no name statistics) gets no look-alike rows.
    stats, names = model.scorer.lexical, model.scorer.names or NameStats.empty()
    # Search rows: each decision query's candidates over the pool, as training makes them.
    extra = labelled_rows(model.encoder, _as_pairs(fitted), stats, pool=split.pool_questions(), names=names)
    fold_encoders = FoldVectors(config, cache, progress)
    scorer = train_rerank_scorer(split, config.scorer_folds, fold_encoders, log, stats=stats, names=names,
                                 extra=extra, features=tuple(model.scorer.pair.feature_names),
                                 **{**scorer_settings(config),
                                    "lookalikes": config.lookalikes if model.scorer.names is not None else 0.0})
    info = {k: v for k, v in model.info.items() if k not in ("calibration", "search_threshold")}
    lineage = [*((model.info.get("refit") or {}).get("lineage") or []), model.fingerprint]  # refit from these
    info["refit"] = {"lineage": lineage, "time": now(), "decisions": len(fitted) + len(kept),
                     "fitted": len(fitted), "held_out": len(kept), "holdout": holdout,
                     "held_out_rule": f"sha256 of the query text, as a fraction, below {holdout}",
                     "thresholds_on": "validation pairs and queries without the fitted decisions' questions, "
                                      "held-out verdicts labelling the pairs they judge"}
    refitted = QdupModel(model.encoder, model.threshold, info, scorer)
    log("refit: choosing the thresholds")
    calibrate(refitted, validation, store=True)
    precision = (model.info.get("search_threshold") or {}).get("target_precision", DEFAULT_PRECISION)
    verdicts = [(d.query, d.match, d.duplicate) for d in kept]
    _, missing = store_search_threshold(refitted, pairs, precision, exclude=touched, verdicts=verdicts)
    if missing:
        refitted.info["refit"]["search_threshold"] = f"none: {missing}"
        log(f"refit: none: {missing}: the model keeps no search threshold")
    return refitted


def decisions_from_pairs(pairs: Pairs) -> list[Decision]:
    """Labelled pairs as decisions (an exported decisions file, or any pairs file)."""
    return [Decision(a.strip(), b.strip(), bool(label), "") for a, b, label
            in zip(pairs.question1, pairs.question2, pairs.is_duplicate) if a.strip() and b.strip()]


def refittable(model: QdupModel, split: Split) -> TrainConfig:
    """The recipe of ``model``, checked: a model refit can refit, trained on ``split``
    (:class:`DataError` saying what differs when not: the caller names the file)."""
    if not getattr(model.scorer, "fitted_on_pairs", False) or model.scorer.lexical is None:
        raise ConfigError("refit needs a model whose scorer learns from pairs (recipe default, scorer rerank)")
    if not isinstance(model.info.get("training"), dict):
        raise ConfigError("the model records no training recipe: refit needs a model made by `qdup train`")
    # Refit trains out-of-fold LSTMs like the default recipe's; a re-ranker fitted another way
    # would learn from cosines of encoders other than the model's own.
    other = ("a fine-tuned pretrained encoder" if model.info.get("base_encoder") else
             "a distilled student" if model.info.get("distillation") else
             "a held-out part of the pool" if (model.info.get("scorer_fit") or {}).get("method") == "held-out" else None)
    if other:
        raise ConfigError(f"refit works on models of the default recipe; this model's scorer was fitted on {other}: "
                          "export the decisions (`qdup decisions export`) and train again with them")
    config = TrainConfig.from_dict(model.info["training"])
    differences = _differences(model.info.get("data"), split)
    if differences:
        raise DataError(f"these pairs are not the ones the model was trained on ({differences}): "
                        "refit on the pairs file the model was trained on")
    return config


# The reference split's counts (Split.summary) in words, as a refusal names them.
_SPLIT_WORDS = {"method": "split", "train_duplicates": "training duplicates", "validation_pairs": "validation pairs",
                "validation_duplicates": "validation duplicates", "negatives": "training non-duplicates",
                "test_pairs": "test pairs", "first_validation_id": "first validation pair id",
                "pairs_sha256": "pairs' sha256"}


def _differences(trained_on, split: Split) -> str:
    """``"test pairs: 160 expected, 40 found"``: what the split the model records (None: none
    recorded, nothing to check) and ``split`` differ in; "" when nothing. Only what the model
    records is compared: models saved before the pairs' sha256 are checked by their counts."""
    if trained_on is None:
        return ""
    if not isinstance(trained_on, dict):
        return f"the model records its split as {trained_on!r}"
    found = split.summary()

    def shown(key, value):
        return f"by {value}" if key == "method" and value is not None else str(value)

    differing = [key for key in trained_on if trained_on.get(key) != found.get(key)]
    if differing != ["pairs_sha256"]:  # other pairs differ in their sha256 too: the counts say more
        differing = [key for key in differing if key != "pairs_sha256"]
    return "; ".join(f"{_SPLIT_WORDS.get(key, key)}: {shown(key, trained_on.get(key))} expected, "
                     f"{shown(key, found.get(key))} found" for key in differing)


def _as_pairs(decisions: Sequence[Decision]) -> Pairs:
    return pairs_from_lists([d.query for d in decisions], [d.match for d in decisions],
                            [int(d.duplicate) for d in decisions])


def _without(pairs: Pairs, questions: set[str]) -> Pairs:
    keep = [n for n, (a, b) in enumerate(zip(pairs.question1, pairs.question2))
            if a.strip() not in questions and b.strip() not in questions]
    return pairs.subset(np.array(keep, dtype=np.int64))


class FoldVectors:
    """``train_encoder`` for the out-of-fold cosines: trains each fold's encoder with the
    model's recipe and keeps the vectors it gives the pool in ``folder`` (None: keep nothing),
    keyed by the recipe's encoder settings, the fold's pairs (:meth:`~qdup.data.split.Split.digest`), the
    pool and the qdup version."""

    def __init__(self, config: TrainConfig, folder: str | Path | None, progress: bool = False) -> None:
        self.config, self.folder, self.progress = config, None if folder is None else Path(folder), progress
        if self.folder is not None:  # a file in the way, a read-only place: now, not after a fold's training
            atomic.check_writable(self.folder / "fold.npy")  # inside the folder when it exists

    def __call__(self, part: Split) -> "_FoldEncoder":
        return _FoldEncoder(self, part)

    def vectors(self, part: Split, texts: list[str], trained: Callable[[], QdupModel]) -> np.ndarray:
        """The vectors ``part``'s encoder gives ``texts``: from the folder, else from ``trained()``."""
        key = _digest([__version__, encoder_settings(self.config), part.digest(), texts])
        path = None if self.folder is None else self.folder / f"fold-{key[:32]}.npy"
        if path is not None and path.is_file():
            cached = _cached(path, len(texts))
            if cached is not None:
                return cached
        vectors = trained().encode(texts)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_vectors(path, vectors)
        return vectors


def encoder_settings(config: TrainConfig) -> dict:
    """The settings an encoder's training reads (:data:`SCORER_ONLY` left out; the words a
    look-alike swaps only when look-alikes are the encoder's negatives too)."""
    settings = {k: v for k, v in config.to_dict().items() if k not in SCORER_ONLY and k != "recipe"}
    if not config.lookalike_negatives:
        settings.pop("lookalike_words")
    return settings


def _cached(path: Path, rows: int) -> np.ndarray | None:
    """A cache entry's vectors, or None when it does not read as ``rows`` of them (cut short
    by a full disk, say): the fold is trained again and the entry replaced."""
    try:
        vectors = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        vectors = None
    if vectors is None or vectors.dtype != np.float32 or vectors.ndim != 2 or len(vectors) != rows:
        log_progress(f"{path} does not read as this fold's vectors: training the fold again")
        return None
    return vectors


class _FoldEncoder:
    """What :func:`~qdup.training.scorer_fit.scorer_rows` asks of a fold's encoder: ``encode(pool)``, then its
    look-alikes' ``encode``."""

    def __init__(self, folds: FoldVectors, part: Split) -> None:
        self.folds, self.part, self._encoder = folds, part, None

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.folds.vectors(self.part, list(texts), self._trained)

    def _trained(self) -> QdupModel:
        """The fold's encoder, trained once: the pool's vectors and its look-alikes' both need it."""
        if self._encoder is None:
            self._encoder = train_encoder(self.part, self.folds.config, self.folds.progress)
        return self._encoder


def _digest(parts: list) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()

