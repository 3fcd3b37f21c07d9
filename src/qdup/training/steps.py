"""What training an encoder (:mod:`qdup.training.trainer`) and distilling a student
(:mod:`qdup.training.distill`) share: the labelled rows and the default recipe's batch
loss on them, length-sorted encoding, validation, calibration, one epoch of optimiser
steps and the loop over epochs that keeps the best one.
"""

from __future__ import annotations

import copy
import math
import time
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ..data.duplicate_classes import DuplicateClasses
from ..data.pairs import Pairs
from ..data.split import Split
from ..errors import DataError
from ..evaluation import metrics
from ..evaluation.pairs import calibration
from ..model import DEFAULT_THRESHOLD, QdupModel
from ..util.progress import bar as progress_bar, log as log_progress
from .losses import ranking_loss, triplet_loss

if TYPE_CHECKING:
    from ..encoders.base import TextEncoder
    from .recipes import TrainConfig

EVAL_CHUNK = 512  # rows per call without gradients, as QdupModel.encode

PairRows = tuple[list, list, np.ndarray]  # both questions' prepared rows and the labels


def pair_rows(encoder: TextEncoder, pairs: Pairs) -> PairRows:
    """Both questions of ``pairs`` prepared once by ``encoder`` (token ids...), and the labels."""
    return encoder.rows(pairs.question1), encoder.rows(pairs.question2), pairs.is_duplicate


def training_negatives(split: Split, config: TrainConfig) -> Pairs:
    """The labelled non-duplicates mixed into the batches (none when ``negatives_per_batch`` is 0)."""
    return split.negatives if config.negatives_per_batch else split.negatives.subset([])


def labelled_rows(encoder: TextEncoder, split: Split, config: TrainConfig) -> dict[str, PairRows]:
    """The prepared rows of the training pairs, their negatives and the validation pairs;
    with ``mask_duplicates``, also ``"classes"``: the duplicate class (:class:`DuplicateClasses`
    of the training pairs) of each training pair and of both questions of each negative, and
    the classes themselves (an epoch's pool negatives are looked up per batch)."""
    negatives = training_negatives(split, config)
    data = {name: pair_rows(encoder, pairs) for name, pairs in
            (("train", split.train), ("negatives", negatives), ("validation", split.validation))}
    if config.mask_duplicates:
        classes = DuplicateClasses(split.train)
        data["classes"] = (classes.ids(split.train.question1), classes.ids(negatives.question1),
                           classes.ids(negatives.question2), classes)
    return data


def encode(encoder: TextEncoder, rows: list, chunk: int | None = None) -> torch.Tensor:
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


def step_negatives(order: np.ndarray, step: int, k: int):
    """The ``k`` labelled non-duplicates of a training step, walked cyclically through
    ``order``: every one is seen before any repeats."""
    return np.take(order, range(step * k, step * k + k), mode="wrap") if k and len(order) else []


def batch_loss(encoder: TextEncoder, data: dict[str, PairRows], config: TrainConfig, batch: np.ndarray,
               negatives, head: torch.Tensor, extra: tuple[list, np.ndarray, list] | None = None) -> torch.Tensor:
    """The default recipe's loss of one batch of training pairs (rows ``batch`` of
    ``data["train"]``) and labelled non-duplicates (rows ``negatives`` of ``data["negatives"]``):
    the triplet loss, plus the weighted logistic pair loss and in-batch ranking loss.

    ``extra``: more negatives for the ranking loss (:mod:`qdup.training.hard_negatives`),
    their prepared rows, for each the position in ``batch`` of the pair whose first
    question it is a labelled non-duplicate of (a pair for the pair loss; -1: none), and
    its text when it is a pool question (None: a made-up look-alike).
    """
    q1, q2, _ = data["train"]
    rows = [q1[i] for i in batch] + [q2[i] for i in batch]
    if len(negatives):
        n1, n2, _ = data["negatives"]
        rows += [n1[i] for i in negatives] + [n2[i] for i in negatives]
    extra_rows, anchors, extra_texts = extra if extra is not None else ([], np.zeros(0, np.int64), [])
    vectors = encode(encoder, rows + extra_rows)  # one pass: (2B + 2N + E, d)
    b, n = len(batch), len(negatives)
    v1, v2 = vectors[:b], vectors[b : 2 * b]
    exclude, exclude_negatives = _same_class(data, batch, negatives, extra_texts)
    exclude, exclude_negatives = (None if m is None else m.to(vectors.device) for m in (exclude, exclude_negatives))
    loss = triplet_loss(v1, v2, config.margin, exclude)
    if config.symmetric:
        loss = (loss + triplet_loss(v2, v1, config.margin, exclude)) / 2
    a, c = vectors[2 * b : 2 * b + n], vectors[2 * b + n : 2 * (b + n)]  # the labelled non-duplicates
    e = vectors[2 * (b + n) :]  # the extra negatives
    if config.pair_weight:
        paired = torch.from_numpy(anchors >= 0).to(vectors.device)
        anchor = torch.from_numpy(anchors[anchors >= 0]).to(vectors.device)
        labels = torch.cat([torch.ones(b), torch.zeros(n + len(anchor))]).to(vectors.device)
        loss = loss + config.pair_weight * _pair_loss(torch.cat([v1, a, v1[anchor]]), torch.cat([v2, c, e[paired]]),
                                                      labels, head)
    if config.ranking_weight:
        loss = loss + config.ranking_weight * ranking_loss(v1, v2, torch.cat([a, c, e]), exclude=exclude,
                                                           exclude_negatives=exclude_negatives)
    return loss


def _same_class(data: dict, batch: np.ndarray, negatives, extra_texts: list):
    """(B, B) and (B, 2N + E) bool: which other pairs of the batch, which questions of its
    labelled non-duplicates and which of its ``E`` extra negatives are in each pair's
    duplicate class (the diagonal False), or (None, None) without ``data["classes"]``. A pool
    negative (its text given) was drawn outside its own pair's class
    (:class:`~qdup.training.hard_negatives.PoolNegatives`) but may be in another pair's; a
    look-alike (None) is made up, in no class.

    A batch of 512 of qqp-partial's 9,299 training pairs holds ~50 pairings of one class
    (its largest has 80 pairs); unmasked, each pushes two duplicates apart."""
    if "classes" not in data:
        return None, None
    pairs, firsts, seconds, classes = data["classes"]
    mine = torch.from_numpy(pairs[batch])
    within = (mine[:, None] == mine[None, :]) & ~torch.eye(len(batch), dtype=torch.bool)
    known = iter(classes.ids([text for text in extra_texts if text is not None]).tolist())  # one call, in order
    extra = [-1 if text is None else next(known) for text in extra_texts]  # ids are >= 0
    theirs = np.concatenate([firsts[negatives], seconds[negatives], np.array(extra, dtype=np.int64)])
    return within, mine[:, None] == torch.from_numpy(theirs)[None, :]  # int64, as the ids are


def _pair_loss(v1: torch.Tensor, v2: torch.Tensor, labels: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
    """Summed logistic loss of ``scale * cos + bias`` against the labels."""
    logits = head[0] * (v1 * v2).sum(dim=1) + head[1]
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum")


@torch.no_grad()
def validate(encoder: TextEncoder, validation: PairRows, config: TrainConfig) -> dict:
    """Validation triplet loss (the reference's criterion) and AUC over all validation pairs.

    Every validation question is encoded once; the loss takes the duplicate pairs' vectors
    in batches of ``batch_size`` (the reference's batches), the AUC every pair's cosine.
    """
    encoder.network.eval()
    q1, q2, labels = validation
    vectors = encode(encoder, q1 + q2, EVAL_CHUNK)
    v1, v2 = vectors[: len(q1)], vectors[len(q1) :]
    dups = torch.from_numpy(np.flatnonzero(labels == 1)).to(vectors.device)
    losses = []
    for start in range(0, len(dups), config.batch_size):
        chunk = dups[start : start + config.batch_size]
        if len(chunk) >= 2:
            losses.append(triplet_loss(v1[chunk], v2[chunk], config.margin).item())
    scores = (v1 * v2).sum(dim=1).cpu().numpy()
    return {"validation_loss": float(np.mean(losses)), "validation_auc": metrics.stored_auc(labels, scores)}


def check_calibration(validation: Pairs, store: bool, skip: str | None = "--set calibrate=false") -> None:
    """Before training, and in ``qdup calibrate``: a threshold to store needs validation pairs of
    both kinds (of one kind, the sweep put it at the highest score and the model judged nothing
    a duplicate). ``skip``: how to go without one, offered in the error (None: no way)."""
    kinds = set(validation.is_duplicate.tolist())
    if store and not kinds:
        raise DataError("there are no validation pairs to calibrate the threshold on"
                        + (f" (or {skip})" if skip else ""))
    if store and len(kinds) < 2:
        only, other = ("duplicates", "non-duplicates") if 1 in kinds else ("non-duplicates", "duplicates")
        raise DataError(f"the {len(validation)} validation pairs are all {only}: calibrating the threshold needs "
                        f"{other} too (add some to the file" + (f", or {skip})" if skip else ")"))


def calibrate(model: QdupModel, validation: Pairs, store: bool) -> QdupModel:
    """Record the accuracy- and F1-maximising thresholds of the model's score on the
    validation pairs; with ``store``, the accuracy one becomes the model's threshold."""
    check_calibration(validation, store)
    model.info["calibration"] = calibration(model, validation)
    model.threshold = round(model.info["calibration"]["accuracy_threshold"], 4) if store else DEFAULT_THRESHOLD
    return model


def batches(order: np.ndarray, size: int) -> list[np.ndarray]:
    """``order`` cut into batches of ``size`` rows; a last batch of one row is left out (it
    has no in-batch negatives)."""
    return [order[start : start + size] for start in range(0, len(order), size)
            if len(order[start : start + size]) >= 2]


def run_epoch(network: torch.nn.Module, steps: Sequence[np.ndarray],
              step_loss: Callable[[int, np.ndarray], torch.Tensor], optimizer: torch.optim.Optimizer,
              scheduler, desc: str, progress: bool) -> float:
    """One optimiser step per batch of ``steps`` on ``step_loss(step, batch)`` (and a
    ``scheduler`` step, unless None); the mean loss."""
    network.train()
    bar = progress_bar(steps, desc, "batch", enabled=progress, leave=False, lines=0)  # + a line per epoch
    total = 0.0
    for step, batch in enumerate(bar):
        loss = step_loss(step, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item()
        bar.set_postfix(loss=f"{total / (step + 1):.4f}")
    network.eval()
    return total / max(len(steps), 1)


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


def train_epochs(encoder: TextEncoder, config: TrainConfig, epoch_loss: Callable[[str], float],
                 validation: Callable[[], dict], progress: bool) -> tuple[list[dict], int]:
    """Up to ``config.epochs`` epochs of ``epoch_loss(desc)`` (the mean training loss), each
    followed by ``validation()`` (``validation_loss``, and ``validation_auc`` when there are
    labelled pairs); the encoder ends with the best epoch's weights, on the CPU, in eval mode.

    The best epoch has the highest validation AUC (``select="auc"``, when there is one) or
    the lowest validation loss. Returns the history (a record per epoch) and the best epoch.
    """
    history, best = [], BestEpoch(config.patience)
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        train_loss = epoch_loss(f"epoch {epoch}/{config.epochs}")
        record = {"epoch": epoch, "train_loss": train_loss, **validation()}
        record["seconds"] = round(time.perf_counter() - started, 2)
        history.append(record)
        auc = record.get("validation_auc")
        if progress:
            log_progress(f"epoch {epoch}: train loss {train_loss:.4f}, validation loss {record['validation_loss']:.4f}"
                         f"{'' if auc is None else f', validation AUC {auc:.4f}'} ({record['seconds']:.1f} s)")
        name, value = chosen_by(record, config.select)
        score = -value if name == "validation loss" else value
        if best.stop_after(epoch, score, encoder.network):
            break
    encoder.network.load_state_dict(best.state)
    encoder.to("cpu").network.eval()
    return history, best.epoch


def chosen_by(record: dict, select: str) -> tuple[str, float]:
    """What an epoch's ``record`` is judged by, as :func:`train_epochs` judges it: its validation
    AUC (``select="auc"``, when there is one: pairs of both labels), else its validation loss."""
    auc = record.get("validation_auc")
    return ("validation AUC", auc) if select == "auc" and auc is not None else \
        ("validation loss", record["validation_loss"])
