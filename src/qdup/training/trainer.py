"""Training a Siamese encoder with the triplet loss (SPEC §5), plus the default recipe's extras."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import replace

import numpy as np
import torch
from torch.nn import functional as F
from ..evaluation import metrics
from ..util import progress as progress_lines
from ..data.pairs import Pairs
from ..errors import ConfigError
from ..evaluation.pairs import calibration
from .losses import ranking_loss, triplet_loss
from ..encoders.lstm.encoder import LstmEncoder
from ..model import DEFAULT_THRESHOLD, QdupModel
from ..encoders.lstm.network import SiameseEncoder
from .recipes import DEFAULT_RECIPE, RECIPES, TrainConfig  # noqa: F401  (re-exported)
from .scorer_fit import train_rerank_scorer
from ..data.split import Split
from ..text.vocabulary import Vocabulary


def train(split: Split, config: TrainConfig | None = None, progress: bool = False,
          device: str = "cpu", encoder: str | None = None) -> QdupModel:
    """Train an encoder on ``split.train``; keep the best epoch on the validation pairs.

    ``device`` ("cpu", "cuda") only changes where training runs; the model comes back on the
    CPU. Same seed on the CPU gives bit-identical weights.

    ``encoder``: a pretrained model folder (sentence-transformers or Hugging Face) to
    fine-tune with the same losses instead of a new LSTM; its shape settings are its own,
    and its scorer is the cosine (the re-ranker needs out-of-fold LSTMs).

    With ``config.scorer == "rerank"`` (the default recipe) a re-ranker is then fitted on the
    training pool (:mod:`qdup.training.scorer_fit`); the threshold is calibrated on the model's
    final score (:meth:`QdupModel.score`).

    >>> split = qdup.reference_split(qdup.read_pairs("pairs.tsv"))                 # doctest: +SKIP
    >>> model = qdup.train(split, qdup.TrainConfig())  # the default recipe           # doctest: +SKIP
    >>> model.save("models/quora")                                                   # doctest: +SKIP
    """
    config = config or TrainConfig()
    if encoder is not None:
        if config.scorer != "cosine":
            raise ConfigError("a pretrained encoder is fine-tuned with scorer=cosine (recipe transformer)")
        from ..model import load

        base = load(encoder).encoder  # refuses pickles and remote code
        model = _train_encoder(split, config, progress, device, base)
        model.info["base_encoder"] = str(encoder)
        return _calibrate(model, split.validation, config.calibrate)
    model = _train_encoder(split, config, progress, device)
    if config.scorer == "rerank":
        encoder_only = replace(config, scorer="cosine")
        scorer = train_rerank_scorer(split, config.scorer_folds,
                                     lambda part: _train_encoder(part, encoder_only, progress, device),
                                     log=progress_lines.log if progress else lambda line: None)
        model = QdupModel(model.encoder, model.threshold, model.info, scorer)
    return _calibrate(model, split.validation, config.calibrate)


def _train_encoder(split: Split, config: TrainConfig, progress: bool, device: str,
                   encoder=None) -> QdupModel:
    """Train ``encoder`` (a :class:`qdup.encoders.base.TextEncoder`; None: a new LSTM) with the
    triplet loss and, when ``pair_weight``, the logistic pair loss; keep the best epoch."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    valid_dups = split.validation_duplicates
    if len(valid_dups) < 2:
        raise ConfigError("the validation split needs at least 2 duplicate pairs")
    negatives = split.negatives if config.negatives_per_batch else split.negatives.subset([])
    if encoder is None:
        texts = [q for p in (split.train, valid_dups, negatives) for q in p.question1 + p.question2]
        vocabulary = Vocabulary.build(texts, lowercase=config.model.lowercase, min_count=config.min_count)
        encoder = LstmEncoder(vocabulary, SiameseEncoder(config.model_config(len(vocabulary))))
    encoder.to(device)
    # Logistic head on the cosine for the labelled-pair loss; used in training only.
    head = torch.nn.Parameter(torch.tensor([10.0, -7.0], device=device))  # scale, bias: threshold 0.7
    parameters = [p for p in encoder.network.parameters() if p.requires_grad] + [head]
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate, eps=1e-7)  # Keras' epsilon
    data = {name: _rows(encoder, pairs) for name, pairs in
            (("train", split.train), ("negatives", negatives), ("validation", split.validation))}
    steps = config.epochs * max(1, math.ceil(len(split.train) / config.batch_size))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config.schedule, steps))

    history, best = [], BestEpoch(config.patience)
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        train_loss = _train_epoch(encoder, data, config, optimizer, scheduler, head, rng,
                                  desc=f"epoch {epoch}/{config.epochs}", progress=progress)
        record = {"epoch": epoch, "train_loss": train_loss,
                  **_validate(encoder, data, config)}
        record["seconds"] = round(time.perf_counter() - started, 2)
        history.append(record)
        if progress:
            progress_lines.log(f"epoch {epoch}: train loss {train_loss:.4f}, validation loss "
                       f"{record['validation_loss']:.4f}, validation AUC {record['validation_auc']:.4f} "
                       f"({record['seconds']:.1f} s)")
        score = -record["validation_loss"] if config.select == "loss" else record["validation_auc"]
        if best.stop_after(epoch, score, encoder.network):
            break
    encoder.network.load_state_dict(best.state)
    encoder.to("cpu").network.eval()
    return QdupModel(encoder, info={
        "training": config.to_dict(), "history": history, "best_epoch": best.epoch, "data": split.summary()})


class BestEpoch:
    """The weights of the best epoch so far (higher score is better) and early stopping
    after ``patience`` epochs without improvement (0: never)."""

    def __init__(self, patience: int):
        self.patience = patience
        self.score: float | None = None
        self.state: dict | None = None
        self.epoch = 0
        self.stale = 0

    def stop_after(self, epoch: int, score: float, network: torch.nn.Module) -> bool:
        """Record ``epoch``'s score (keeping a copy of ``network``'s weights if it is the best);
        True when patience has run out."""
        score = -math.inf if math.isnan(score) else score  # a diverged epoch is the worst one
        if self.score is None or score > self.score:
            self.score, self.state, self.epoch, self.stale = score, copy.deepcopy(network.state_dict()), epoch, 0
            return False
        self.stale += 1
        return bool(self.patience) and self.stale >= self.patience


def _rows(encoder, pairs: Pairs) -> tuple[list, list, np.ndarray]:
    return encoder.rows(pairs.question1), encoder.rows(pairs.question2), pairs.is_duplicate


EVAL_CHUNK = 512  # rows per call without gradients, as QdupModel.encode


def _encode(encoder, rows: list, chunk: int | None = None) -> torch.Tensor:
    """Vectors of ``rows`` in their order, encoded length-sorted in chunks of ``chunk`` rows
    (default: the encoder's ``train_chunk``).

    Random batches mix short and long questions; padded together, most LSTM steps would be
    padding. Sorted chunks skip that work. A vector does not depend on its chunk (masked
    pooling), so the loss is the same up to float rounding; the sort is stable, so the same
    seed still gives the same weights.
    """
    chunk = chunk or encoder.train_chunk
    order = sorted(range(len(rows)), key=lambda i: encoder.row_length(rows[i]))
    parts = [encoder.forward([rows[i] for i in order[start : start + chunk]])
             for start in range(0, len(rows), chunk)]
    inverse = torch.empty(len(rows), dtype=torch.long)
    inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(rows))
    return torch.cat(parts)[inverse.to(parts[0].device)]  # (len(rows), d), back in row order


def _pair_loss(v1: torch.Tensor, v2: torch.Tensor, labels: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
    """Summed logistic loss of ``scale * cos + bias`` against the labels."""
    logits = head[0] * (v1 * v2).sum(dim=1) + head[1]
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum")


def _batch_loss(encoder, data, config: TrainConfig, batch, negatives, head) -> torch.Tensor:
    q1, q2, _ = data["train"]
    rows = [q1[i] for i in batch] + [q2[i] for i in batch]
    if len(negatives):
        n1, n2, _ = data["negatives"]
        rows += [n1[i] for i in negatives] + [n2[i] for i in negatives]
    vectors = _encode(encoder, rows)  # one pass: (2B + 2N, d)
    b, n = len(batch), len(negatives)
    v1, v2 = vectors[:b], vectors[b : 2 * b]
    loss = triplet_loss(v1, v2, config.margin)
    if config.symmetric:
        loss = (loss + triplet_loss(v2, v1, config.margin)) / 2
    a, c = vectors[2 * b : 2 * b + n], vectors[2 * b + n :]  # the labelled non-duplicates
    if config.pair_weight:
        labels = torch.cat([torch.ones(b), torch.zeros(n)]).to(vectors.device)
        loss = loss + config.pair_weight * _pair_loss(torch.cat([v1, a]), torch.cat([v2, c]), labels, head)
    if config.ranking_weight:
        loss = loss + config.ranking_weight * ranking_loss(v1, v2, torch.cat([a, c]))
    return loss


def _train_epoch(encoder, data, config, optimizer, scheduler, head, rng,
                 desc: str, progress: bool) -> float:
    encoder.network.train()
    order = rng.permutation(len(data["train"][0]))
    negative_order = rng.permutation(len(data["negatives"][0]))
    starts = [s for s in range(0, len(order), config.batch_size)
              if len(order[s : s + config.batch_size]) >= 2]  # a 1-pair batch has no negatives
    bar = progress_lines.bar(starts, desc, "batch", enabled=progress, leave=False, lines=0)  # + a line per epoch
    total = 0.0
    for step, start in enumerate(bar):
        batch = order[start : start + config.batch_size]
        negatives = step_negatives(negative_order, step, config.negatives_per_batch)
        loss = _batch_loss(encoder, data, config, batch, negatives, head)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += loss.item()
        bar.set_postfix(loss=f"{total / (step + 1):.4f}")
    encoder.network.eval()
    return total / max(len(starts), 1)


def step_negatives(order: np.ndarray, step: int, k: int):
    """The ``k`` labelled non-duplicates of a training step, walked cyclically through
    ``order``: every one is seen before any repeats."""
    return np.take(order, range(step * k, step * k + k), mode="wrap") if k and len(order) else []


@torch.no_grad()
def _validate(encoder, data, config: TrainConfig) -> dict:
    """Validation triplet loss (the reference's criterion) and AUC over all validation pairs.

    Every validation question is encoded once; the loss takes the duplicate pairs' vectors
    in batches of ``batch_size`` (the reference's batches), the AUC every pair's cosine.
    """
    encoder.network.eval()
    q1, q2, labels = data["validation"]
    vectors = _encode(encoder, q1 + q2, EVAL_CHUNK)
    v1, v2 = vectors[: len(q1)], vectors[len(q1) :]
    dups = torch.from_numpy(np.flatnonzero(labels == 1)).to(vectors.device)
    losses = []
    for start in range(0, len(dups), config.batch_size):
        chunk = dups[start : start + config.batch_size]
        if len(chunk) >= 2:
            losses.append(triplet_loss(v1[chunk], v2[chunk], config.margin).item())
    scores = (v1 * v2).sum(dim=1).cpu().numpy()
    return {"validation_loss": float(np.mean(losses)), "validation_auc": metrics.roc_auc(labels, scores)}


def _calibrate(model: QdupModel, validation: Pairs, store: bool) -> QdupModel:
    """Record the accuracy- and F1-maximising thresholds of the model's score on the validation pairs."""
    model.info["calibration"] = calibration(model, validation)
    model.threshold = round(model.info["calibration"]["accuracy_threshold"], 4) if store else DEFAULT_THRESHOLD
    return model


def _schedule(name: str, steps: int):
    if name == "cosine":
        return lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
    return lambda step: 1.0
