"""Training a Siamese encoder with the triplet loss (SPEC §5), plus the default recipe's extras."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from ..data.duplicate_classes import implied_duplicates
from ..data.split import Split
from ..encoders.lstm.encoder import LstmEncoder
from ..encoders.lstm.network import SiameseEncoder
from ..errors import ConfigError
from ..model import QdupModel, load
from ..text.vocabulary import Vocabulary
from .recipes import DEFAULT_RECIPE, ENCODER_RECIPE, RECIPES, TrainConfig  # noqa: F401  (re-exported)
from .hard_negatives import EpochNegatives
from .scorers import fit_encoder_and_scorer
from .steps import (batch_loss, batches, calibrate, check_calibration, labelled_rows, run_epoch, step_negatives,
                    train_epochs, training_negatives, validate)


def train(split: Split, config: TrainConfig | None = None, progress: bool = False,
          device: str = "cpu", encoder: str | None = None) -> QdupModel:
    """Train an encoder on ``split.train``; keep the best epoch on the validation pairs.

    ``device`` ("cpu", "cuda") only changes where training runs; the model comes back on the
    CPU. Same seed on the CPU gives bit-identical weights.

    ``encoder``: a pretrained model folder (sentence-transformers or Hugging Face) to
    fine-tune with the same losses instead of a new LSTM; its shape settings are its own.

    The scorer ``config.scorer`` (the default recipe's re-ranker) is then fitted on the
    training pool (:func:`qdup.training.scorers.fit_encoder_and_scorer`): on the cosines of
    out-of-fold encoders of the same recipe (recipe transformer too: three fine-tunings), or,
    with ``scorer_held_out`` (one training instead), on a held-out part of the pool that the
    encoder never trained on. The threshold is calibrated on the model's final score
    (:meth:`QdupModel.score`).

    >>> split = qdup.reference_split(qdup.read_pairs("pairs.tsv"))                 # doctest: +SKIP
    >>> model = qdup.train(split, qdup.TrainConfig())  # the default recipe           # doctest: +SKIP
    >>> model.save("models/quora")                                                   # doctest: +SKIP
    """
    config = config or TrainConfig()
    check_calibration(split.validation, config.calibrate)  # now, not after the training

    def train_encoder(part: Split) -> QdupModel:
        base = None if encoder is None else load(encoder).encoder  # a fresh copy; refuses pickles and remote code
        return _train_encoder(part, config, progress, device, base)

    model, scorer, fitted = fit_encoder_and_scorer(config, split, train_encoder, progress)
    model.info["scorer_fit"] = fitted
    model.info["data"] = split.summary()  # the whole split, also when the encoder trained on a part of it
    if encoder is not None:
        model.info["base_encoder"] = str(encoder)
    return calibrate(QdupModel(model.encoder, model.threshold, model.info, scorer), split.validation, config.calibrate)


def train_encoder(split: Split, config: TrainConfig, progress: bool = False, device: str = "cpu") -> QdupModel:
    """Only the encoder of :func:`train` (a new LSTM, cosine-scored, threshold not calibrated):
    what the re-ranker's out-of-fold cosines come from (:mod:`qdup.training.refit`)."""
    return _train_encoder(split, config, progress, device)


def _train_encoder(split: Split, config: TrainConfig, progress: bool, device: str,
                   encoder=None) -> QdupModel:
    """Train ``encoder`` (a :class:`qdup.encoders.base.TextEncoder`; None: a new LSTM) with the
    triplet loss and, when ``pair_weight``, the logistic pair loss; keep the best epoch."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    valid_dups = split.validation_duplicates
    if len(valid_dups) < 2:
        raise ConfigError("the validation split needs at least 2 duplicate pairs")
    if encoder is None:
        pools = (split.train, valid_dups, training_negatives(split, config))
        texts = [q for p in pools for q in p.question1 + p.question2]
        vocabulary = Vocabulary.build(texts, lowercase=config.model.lowercase, min_count=config.min_count)
        encoder = LstmEncoder(vocabulary, SiameseEncoder(config.model_config(len(vocabulary))))
    encoder.to(device)
    summary = split.summary()  # the labelled pairs, not the implied ones
    if config.implied_duplicates:  # after the vocabulary: repeated texts must not change its counts
        split = replace(split, train=implied_duplicates(split.train, config.implied_duplicates, rng))
    # Logistic head on the cosine for the labelled-pair loss; used in training only.
    head = torch.nn.Parameter(torch.tensor([10.0, -7.0], device=device))  # scale, bias: threshold 0.7
    parameters = [p for p in encoder.network.parameters() if p.requires_grad] + [head]
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate, eps=1e-7)  # Keras' epsilon
    data = labelled_rows(encoder, split, config)
    steps = config.epochs * max(1, math.ceil(len(split.train) / config.batch_size))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config.schedule, steps))
    extras = None
    if config.hard_negatives or config.lookalike_negatives:
        extras = EpochNegatives(encoder, split.train, split.pool_questions(), config.hard_negatives,
                                config.lookalike_negatives, config.lookalike_words)

    def epoch_loss(desc: str) -> float:
        order = rng.permutation(len(data["train"][0]))
        negative_order = rng.permutation(len(data["negatives"][0]))
        extra = extras.for_epoch(encoder, rng) if extras is not None else None

        def step_loss(step: int, batch: np.ndarray) -> torch.Tensor:
            negatives = step_negatives(negative_order, step, config.negatives_per_batch)
            return batch_loss(encoder, data, config, batch, negatives, head, extra and extra(batch))

        return run_epoch(encoder.network, batches(order, config.batch_size), step_loss, optimizer, scheduler,
                         desc, progress)

    history, best_epoch = train_epochs(encoder, config, epoch_loss,
                                       lambda: validate(encoder, data["validation"], config), progress)
    return QdupModel(encoder, info={
        "training": config.to_dict(), "history": history, "best_epoch": best_epoch, "data": summary})


def _schedule(name: str, steps: int):
    if name == "cosine":
        return lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
    return lambda step: 1.0
