"""Distillation: train the fast LSTM student to reproduce a teacher's similarities.

The teacher (any model qdup loads: a fine-tuned or pretrained transformer) encodes every
question once. Each batch holds ``batch_size`` questions and, next to each, its nearest
neighbour by the teacher's vectors (so that the batch holds similar questions, not only
unrelated ones); the loss is the mean squared difference between the student's and the
teacher's cosine matrices of the batch:

    loss = mean_ij (s_i·s_j − t_i·t_j)²,  s = student vectors, t = teacher vectors (unit)

With labelled pairs (a :class:`~qdup.split.Split`) the default recipe's losses on the
training pairs are added (as :func:`qdup.train` computes them), and the epoch kept is the one
with the best validation-pair ROC AUC; without, the one with the lowest distillation loss
on held-out questions. The student is an ordinary LSTM model folder.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Sequence

import numpy as np
import torch

from . import progress as progress_lines
from .errors import ConfigError
from .lstm_encoder import LstmEncoder
from .model import QdupModel
from .network import SiameseEncoder
from .recipes import TrainConfig
from .search_backends import exact_topk
from .split import Split
from .training import EVAL_CHUNK, _batch_loss, _calibrate, _encode, _rows, _validate, step_negatives
from .vocabulary import Vocabulary

HELD_OUT = 0.05  # share of the questions kept for validation when no labelled pairs are given
SIMILARITY_WEIGHT = 100.0  # the squared cosine errors (~0.01) on the scale of the pair losses


def distill(teacher, questions: Sequence[str], config: TrainConfig, split: Split | None = None,
            progress: bool = False, device: str = "cpu") -> QdupModel:
    """An LSTM student (``config``'s shape and optimiser settings) of ``teacher``.

    >>> student = qdup.distillation.distill(qdup.load("models/minilm"), questions, qdup.TrainConfig())  # doctest: +SKIP
    """
    if config.scorer != "cosine":
        raise ConfigError(f"the student is scored by its cosine (scorer=cosine), got scorer={config.scorer}")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    texts = sorted({q for q in questions if q.strip()})
    if split is not None:
        texts = sorted(set(texts) | {q for p in (split.train, split.negatives) for q in p.question1 + p.question2})
    if len(texts) < 4:
        raise ConfigError(f"distillation needs at least 4 distinct questions, got {len(texts)}")
    order = rng.permutation(len(texts))
    held = [] if split is not None else order[: max(2, int(len(texts) * HELD_OUT))]
    train_texts = [texts[i] for i in sorted(set(order) - set(held))]
    held_texts = [texts[i] for i in held]
    if progress:
        progress_lines.log(f"teacher: encoding {len(train_texts) + len(held_texts)} questions")
    teacher_vectors = torch.from_numpy(teacher.encode(train_texts + held_texts, progress=progress))
    taught, held_vectors = teacher_vectors[: len(train_texts)], teacher_vectors[len(train_texts):]
    partners = _nearest(taught.numpy())

    vocabulary = Vocabulary.build(train_texts, lowercase=config.model.lowercase, min_count=config.min_count)
    student = LstmEncoder(vocabulary, SiameseEncoder(config.model_config(len(vocabulary)))).to(device)
    head = torch.nn.Parameter(torch.tensor([10.0, -7.0], device=device))  # the pair loss's logistic head
    optimizer = torch.optim.Adam([p for p in student.network.parameters() if p.requires_grad] + [head],
                                 lr=config.learning_rate, eps=1e-7)
    rows = student.rows(train_texts)
    held_rows = student.rows(held_texts)
    data = None
    if split is not None:
        negatives = split.negatives if config.negatives_per_batch else split.negatives.subset([])
        data = {name: _rows(student, pairs) for name, pairs in
                (("train", split.train), ("negatives", negatives), ("validation", split.validation))}

    history, best, best_state, best_epoch, stale = [], None, None, 0, 0
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        train_loss = _epoch(student, rows, taught.to(device), partners, data, config, optimizer, head, rng,
                            f"epoch {epoch}/{config.epochs}", progress)
        record = {"epoch": epoch, "train_loss": train_loss}
        if data is not None:
            record.update(_validate(student, data, config))
        else:
            record["validation_loss"] = _held_out_loss(student, held_rows, held_vectors.to(device))
        record["seconds"] = round(time.perf_counter() - started, 2)
        history.append(record)
        if progress:
            auc = f", validation AUC {record['validation_auc']:.4f}" if "validation_auc" in record else ""
            progress_lines.log(f"epoch {epoch}: train loss {train_loss:.4f}, validation loss "
                               f"{record['validation_loss']:.4f}{auc} ({record['seconds']:.1f} s)")
        score = record["validation_auc"] if data is not None and config.select == "auc" else -record["validation_loss"]
        score = -math.inf if math.isnan(score) else score
        if best is None or score > best:
            best, best_state, best_epoch, stale = score, copy.deepcopy(student.network.state_dict()), epoch, 0
        else:
            stale += 1
            if config.patience and stale >= config.patience:
                break
    student.network.load_state_dict(best_state)
    student.to("cpu").network.eval()
    info = {"training": config.to_dict(), "history": history, "best_epoch": best_epoch,
            "distillation": {"questions": len(train_texts), "held_out": len(held_texts),
                             "teacher_fingerprint": teacher.fingerprint}}
    if split is not None:
        info["data"] = split.summary()
        return _calibrate(QdupModel(student, info=info), split.validation, config.calibrate)
    return QdupModel(student, threshold=teacher.threshold, info=info)  # it mimics the teacher's scores


def similarity_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the two ``(n, n)`` cosine matrices of unit vectors ``(n, d)``."""
    return ((student @ student.T - teacher @ teacher.T) ** 2).mean()


NEIGHBOUR_CHUNK = 1024  # queries per exact search: a (1024, n) score block, not (n, n)


def _nearest(vectors: np.ndarray) -> np.ndarray:
    """Each question's nearest other question by the teacher's vectors."""
    top = np.concatenate([exact_topk(vectors[s : s + NEIGHBOUR_CHUNK], vectors, 2)[1]
                          for s in range(0, len(vectors), NEIGHBOUR_CHUNK)])
    self_first = top[:, 0] == np.arange(len(vectors))
    return np.where(self_first, top[:, 1], top[:, 0])


def _epoch(student, rows, taught, partners, data, config, optimizer, head, rng, desc, progress) -> float:
    student.network.train()
    order = rng.permutation(len(rows))
    starts = [s for s in range(0, len(order), config.batch_size) if len(order[s : s + config.batch_size]) >= 2]
    labelled = rng.permutation(len(data["train"][0])) if data is not None else None
    negative_order = rng.permutation(len(data["negatives"][0])) if data is not None else None
    bar = progress_lines.bar(starts, desc, "batch", enabled=progress, leave=False, lines=0)
    total = 0.0
    for step, start in enumerate(bar):
        anchors = order[start : start + config.batch_size]
        picked = np.unique(np.concatenate([anchors, partners[anchors]]))
        vectors = _encode(student, [rows[i] for i in picked])  # (n, d)
        loss = SIMILARITY_WEIGHT * similarity_loss(vectors, taught[torch.from_numpy(picked).to(taught.device)])
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


@torch.no_grad()
def _held_out_loss(student, rows, taught) -> float:
    vectors = _encode(student, rows, EVAL_CHUNK)
    return float(SIMILARITY_WEIGHT * similarity_loss(vectors, taught))
