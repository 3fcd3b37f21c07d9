"""Distillation: train the fast LSTM student to reproduce a teacher's similarities.

The teacher (any model qdup loads: a fine-tuned or pretrained transformer) encodes every
question once. Each batch holds anchor questions and, next to each, its ``NEIGHBOURS``
nearest questions by the teacher's vectors (so that the batch holds the look-alikes a
search must tell apart, not only unrelated questions). Three losses (``s``, ``t``: the
student's and the teacher's unit vectors):

- similarity: ``mean_ij (s_i·s_j − t_i·t_j)²`` -- every similarity, near or far;
- ranking: for each question, the KL divergence from the teacher's softmax over the other
  questions of the batch (``t_i·t_j / TEMPERATURE``) to the student's -- the order of its
  nearest questions, which a search returns;
- regression: ``1 − cos(P s_i, t_i)`` through a linear map ``P`` into the teacher's space,
  trained beside the student and dropped (the saved student is unchanged): a target for
  each question on its own, not only relative to its batch.

With labelled pairs (a :class:`~qdup.data.split.Split`) the default recipe's losses on the
training pairs are added (as :func:`qdup.train` computes them), and the epoch kept is the one
with the best validation-pair ROC AUC; without, the one with the lowest distillation loss
on held-out questions. The student is an ordinary LSTM model folder; with ``scorer=rerank``
it also gets the default recipe's re-ranker. Its out-of-fold students do not see the
held-out fold's labels, but a teacher fine-tuned on those pairs passes some of them on
through its similarities, so the re-ranker may trust the cosine a little too much.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ..util import progress as progress_lines
from ..errors import ConfigError
from ..encoders.lstm.encoder import LstmEncoder
from ..model import QdupModel
from ..encoders.lstm.network import SiameseEncoder
from .recipes import TrainConfig
from .scorer_fit import train_rerank_scorer
from ..search.topk import exact_topk
from ..data.split import Split
from .trainer import EVAL_CHUNK, BestEpoch, _batch_loss, _calibrate, _encode, _rows, _validate, step_negatives
from ..text.vocabulary import Vocabulary

HELD_OUT = 0.05  # share of the questions kept for validation when no labelled pairs are given
MAX_HELD_OUT = 2000  # its (n, n) cosine matrices stay small however many questions there are
SIMILARITY_WEIGHT = 100.0  # the squared cosine errors (~0.01) on the scale of the pair losses
RANKING_WEIGHT = 1.0  # 0: the similarity loss alone (docs/benchmarks.md)
TEMPERATURE = 0.05  # sharp: the softmax weight sits on each question's few nearest questions
REGRESSION_WEIGHT = 10.0  # 1 - cos(projection(student), teacher): each question's own target (0: off)
NEIGHBOURS = 3  # the teacher's nearest questions brought into the batch with each anchor (1: see docs/benchmarks.md)


def distill(teacher, questions: Sequence[str], config: TrainConfig, split: Split | None = None,
            progress: bool = False, device: str = "cpu") -> QdupModel:
    """An LSTM student (``config``'s shape and optimiser settings) of ``teacher``.

    With ``config.scorer == "rerank"`` (needs ``split``) the default recipe's re-ranker is
    then fitted on the training pool as :func:`qdup.train` fits it, with out-of-fold students
    distilled from the same teacher vectors.

    >>> student = qdup.training.distill.distill(qdup.load("models/minilm"), questions, qdup.TrainConfig())  # doctest: +SKIP
    """
    if config.scorer == "rerank" and split is None:
        raise ConfigError("a re-ranking student (scorer=rerank) needs labelled pairs (--pairs)")
    texts = sorted({q for q in questions if q.strip()})
    if split is not None:
        texts = sorted(set(texts) | {q for p in (split.train, split.negatives) for q in p.question1 + p.question2})
    if len(texts) < 4:
        raise ConfigError(f"distillation needs at least 4 distinct questions, got {len(texts)}")
    order = np.random.default_rng(config.seed).permutation(len(texts))
    held = [] if split is not None else order[: min(MAX_HELD_OUT, max(2, int(len(texts) * HELD_OUT)))]
    train_texts = [texts[i] for i in sorted(set(order) - set(held))]
    held_texts = [texts[i] for i in held]
    if progress:
        progress_lines.log(f"teacher: encoding {len(train_texts) + len(held_texts)} questions")
    teacher_vectors = torch.from_numpy(teacher.encode(train_texts + held_texts, progress=progress))
    vectors, held_vectors = teacher_vectors[: len(train_texts)], teacher_vectors[len(train_texts):]
    taught = Taught(train_texts, vectors, _nearest(vectors.numpy(), NEIGHBOURS), held_texts, held_vectors)
    encoder_only = replace(config, scorer="cosine")
    student, info = _student(taught, encoder_only, split, progress, device)
    info.update(training=config.to_dict(), distillation={
        "questions": len(train_texts), "held_out": len(held_texts), "teacher_fingerprint": teacher.fingerprint})
    if split is None:
        return QdupModel(student, threshold=teacher.threshold, info=info)  # it mimics the teacher's scores
    info["data"] = split.summary()
    scorer = None
    if config.scorer == "rerank":
        scorer = train_rerank_scorer(split, config.scorer_folds,
                                     lambda part: _student(taught, encoder_only, part, progress, device)[0],
                                     log=progress_lines.log if progress else lambda line: None)
    return _calibrate(QdupModel(student, info=info, scorer=scorer), split.validation, config.calibrate)


@dataclass(frozen=True)
class Taught:
    """The teacher's vectors of the distillation questions, encoded once for every student."""

    texts: list[str]
    vectors: torch.Tensor  # (n, d) unit
    neighbours: np.ndarray  # (n, NEIGHBOURS) rows of each question's nearest questions
    held_texts: list[str]  # held out for validation (no labelled pairs)
    held_vectors: torch.Tensor


def _student(taught: Taught, config: TrainConfig, split: Split | None, progress: bool, device: str):
    """Train one student on ``taught`` (+ ``split``'s pairs); the best epoch's encoder and its info."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    vocabulary = Vocabulary.build(taught.texts, lowercase=config.model.lowercase, min_count=config.min_count)
    student = LstmEncoder(vocabulary, SiameseEncoder(config.model_config(len(vocabulary)))).to(device)
    head = torch.nn.Parameter(torch.tensor([10.0, -7.0], device=device))  # the pair loss's logistic head
    # Maps the student's vectors into the teacher's space for the regression loss; not saved.
    projection = torch.nn.Linear(student.network.config.output_dim, taught.vectors.shape[1], bias=False).to(device)
    optimizer = torch.optim.Adam([p for p in student.network.parameters() if p.requires_grad] + [head]
                                 + list(projection.parameters()),
                                 lr=config.learning_rate, eps=1e-7)
    rows = student.rows(taught.texts)
    held_rows = student.rows(taught.held_texts)
    data = None
    if split is not None:
        negatives = split.negatives if config.negatives_per_batch else split.negatives.subset([])
        data = {name: _rows(student, pairs) for name, pairs in
                (("train", split.train), ("negatives", negatives), ("validation", split.validation))}

    history, best = [], BestEpoch(config.patience)
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        train_loss = _epoch(student, rows, taught.vectors.to(device), taught.neighbours, data, config, optimizer,
                            head, projection, rng, f"epoch {epoch}/{config.epochs}", progress)
        record = {"epoch": epoch, "train_loss": train_loss}
        if data is not None:
            record.update(_validate(student, data, config))
        else:
            record["validation_loss"] = _held_out_loss(student, held_rows, taught.held_vectors.to(device))
        record["seconds"] = round(time.perf_counter() - started, 2)
        history.append(record)
        if progress:
            auc = f", validation AUC {record['validation_auc']:.4f}" if "validation_auc" in record else ""
            progress_lines.log(f"epoch {epoch}: train loss {train_loss:.4f}, validation loss "
                               f"{record['validation_loss']:.4f}{auc} ({record['seconds']:.1f} s)")
        score = record["validation_auc"] if data is not None and config.select == "auc" else -record["validation_loss"]
        if best.stop_after(epoch, score, student.network):
            break
    student.network.load_state_dict(best.state)
    student.to("cpu").network.eval()
    return student, {"history": history, "best_epoch": best.epoch}


def similarity_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the two ``(n, n)`` cosine matrices of unit vectors ``(n, d)``."""
    return ((student @ student.T - teacher @ teacher.T) ** 2).mean()


def regression_loss(projected: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean cosine distance between each question's projected student vector and its teacher
    vector: a target per question, where the other losses only compare questions in a batch."""
    return (1 - F.cosine_similarity(projected, teacher)).mean()


def ranking_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over questions of KL(teacher ‖ student) between their softmaxes over the other
    questions' cosines / ``temperature`` (unit vectors ``(n, d)``, n >= 2).

    >>> t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> float(ranking_kl(t, t, 0.05))  # the same vectors rank alike
    0.0
    """
    # Each question's own cosine (1) is left out: a large negative, not -inf (0 * inf is nan).
    own = torch.eye(len(student), dtype=torch.bool, device=student.device) * 1e4
    s = F.log_softmax((student @ student.T) / temperature - own, dim=1)
    t = F.log_softmax((teacher @ teacher.T) / temperature - own, dim=1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean")


NEIGHBOUR_CHUNK = 1024  # queries per exact search: a (1024, n) score block, not (n, n)


def _nearest(vectors: np.ndarray, k: int) -> np.ndarray:
    """``(n, k)``: each question's ``k`` nearest other questions by the teacher's vectors."""
    k = min(k, len(vectors) - 1)
    top = np.concatenate([exact_topk(vectors[s : s + NEIGHBOUR_CHUNK], vectors, k + 1)[1]
                          for s in range(0, len(vectors), NEIGHBOUR_CHUNK)])
    others = top != np.arange(len(vectors))[:, None]
    others[others.sum(axis=1) > k, -1] = False  # itself not among its top k + 1 (ties): drop the last
    return top[others].reshape(len(vectors), k)


def _epoch(student, rows, taught, neighbours, data, config, optimizer, head, projection, rng, desc, progress) -> float:
    student.network.train()
    order = rng.permutation(len(rows))
    starts = [s for s in range(0, len(order), config.batch_size) if len(order[s : s + config.batch_size]) >= 2]
    labelled = rng.permutation(len(data["train"][0])) if data is not None else None
    negative_order = rng.permutation(len(data["negatives"][0])) if data is not None else None
    bar = progress_lines.bar(starts, desc, "batch", enabled=progress, leave=False, lines=0)
    total = 0.0
    for step, start in enumerate(bar):
        anchors = order[start : start + config.batch_size]
        picked = np.unique(np.concatenate([anchors, neighbours[anchors].ravel()]))
        vectors = _encode(student, [rows[i] for i in picked])  # (n, d)
        teacher = taught[torch.from_numpy(picked).to(taught.device)]
        loss = _batch_distillation_loss(vectors, teacher)
        if REGRESSION_WEIGHT:
            loss = loss + REGRESSION_WEIGHT * regression_loss(projection(vectors), teacher)
        if data is not None and len(labelled) >= 2:
            size = min(config.batch_size, len(labelled))
            batch = np.take(labelled, range(step * size, step * size + size), mode="wrap")
            negatives = step_negatives(negative_order, step, config.negatives_per_batch)
            loss = loss + _batch_loss(student, data, config, batch, negatives, head) / size
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
        bar.set_postfix(loss=f"{total / (step + 1):.4f}")
    student.network.eval()
    return total / max(len(starts), 1)


def _batch_distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """The weighted similarity and ranking losses of one batch of unit vectors: the saved
    student's own losses (the regression's projection is a training aid only)."""
    loss = SIMILARITY_WEIGHT * similarity_loss(student, teacher)
    if RANKING_WEIGHT:
        loss = loss + RANKING_WEIGHT * ranking_kl(student, teacher, TEMPERATURE)
    return loss


@torch.no_grad()
def _held_out_loss(student, rows, taught) -> float:
    return float(_batch_distillation_loss(_encode(student, rows, EVAL_CHUNK), taught))
