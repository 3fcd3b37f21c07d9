"""Distillation: train the fast LSTM student to reproduce a teacher's similarities.

The teacher (any model qdup loads: a fine-tuned or pretrained transformer) encodes every
question once. Each batch holds anchor questions and, next to each, its ``neighbours``
nearest questions by the teacher's vectors (so that the batch holds the look-alikes a
search must tell apart, not only unrelated questions). Three losses
(:mod:`qdup.training.losses`; ``s``, ``t``: the student's and the teacher's unit vectors),
weighted by a :class:`~qdup.training.recipes.DistillConfig`:

- similarity: ``mean_ij (s_i·s_j − t_i·t_j)²`` -- every similarity, near or far;
- ranking: for each question, the KL divergence from the teacher's softmax over the other
  questions of the batch (``t_i·t_j / temperature``) to the student's -- the order of its
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

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from ..data.split import Split
from ..encoders.lstm.encoder import LstmEncoder
from ..encoders.lstm.network import SiameseEncoder
from ..errors import ConfigError
from ..model import QdupModel
from ..search.topk import exact_topk
from ..text.vocabulary import Vocabulary
from ..util.progress import log as log_progress
from .losses import ranking_kl, regression_loss, similarity_loss
from .recipes import DistillConfig, TrainConfig
from .scorers import fit_encoder_and_scorer, fitted_on_pairs, scorer_settings
from .steps import (EVAL_CHUNK, PairRows, batch_loss, batches, calibrate, check_calibration, encode, labelled_rows,
                    run_epoch, step_negatives, train_epochs, validate)


TEACHER_SETTINGS = tuple(scorer_settings(TrainConfig()))  # the recipe's settings a scorer's fitter takes


def teacher_lookalikes(teacher) -> dict:
    """The look-alike settings ``teacher`` was trained with, for its student's re-ranker
    (``qdup distill`` takes them unless told otherwise); empty for a teacher trained
    without them (say a pretrained encoder as it is).

    The one command's student (recipe ``transformer``: a look-alike of every duplicate
    pair, names of up to 3 words) judged 28% of validation person swaps duplicates with
    the default recipe's one-word look-alikes, 4.6% with its teacher's, at the same
    validation accuracy (docs/benchmarks.md). The search re-ranker's shape goes with
    them: a teacher saved before ``search_unmatched_monotone`` had it off.
    """
    training = teacher.info.get("training") or {}
    settings = {key: training[key] for key in TEACHER_SETTINGS if key in training}
    if "recipe" in training:  # a saved section: a setting it lacks was off (TrainConfig.from_dict)
        settings.setdefault("search_unmatched_monotone", False)
    return settings


def distill(teacher, questions: Sequence[str], config: TrainConfig, split: Split | None = None,
            progress: bool = False, device: str = "cpu", distill_config: DistillConfig | None = None) -> QdupModel:
    """An LSTM student (``config``'s shape and optimiser settings) of ``teacher``, learning as
    ``distill_config`` says (default: :class:`DistillConfig`'s defaults).

    With a scorer fitted on pairs (``config.scorer == "rerank"``, needs ``split``) the
    default recipe's re-ranker is then fitted on the training pool as :func:`qdup.train`
    fits it, with out-of-fold students distilled from the same teacher vectors, or, with
    ``scorer_held_out``, on a held-out part of the pool that the one student never learns from.

    >>> student = qdup.training.distill.distill(qdup.load("models/minilm"), questions, qdup.TrainConfig())  # doctest: +SKIP
    """
    settings = distill_config or DistillConfig()
    if fitted_on_pairs(config.scorer) and split is None:
        raise ConfigError(f"a student with scorer={config.scorer} needs labelled pairs (--pairs)")
    if split is not None:
        check_calibration(split.validation, config.calibrate)  # now, not after the training
    check_enough_questions(questions, split)
    texts = sorted(set(_learned_from(questions, split)))
    order = np.random.default_rng(config.seed).permutation(len(texts))
    held_count = min(settings.max_held_out, max(2, int(len(texts) * settings.held_out_share)))
    held = [] if split is not None else order[:held_count]
    train_texts = [texts[i] for i in sorted(set(order) - set(held))]
    held_texts = [texts[i] for i in held]
    if progress:
        log_progress(f"teacher: encoding {len(train_texts) + len(held_texts)} questions")
    teacher_vectors = torch.from_numpy(teacher.encode(train_texts + held_texts, progress=progress))
    vectors, held_vectors = teacher_vectors[: len(train_texts)], teacher_vectors[len(train_texts):]
    taught = Taught(train_texts, vectors, _nearest(vectors.numpy(), settings.neighbours), held_texts, held_vectors)

    def train_student(part: Split | None) -> QdupModel:
        student, info = _student(taught, config, settings, part, progress, device)
        return QdupModel(student, info=info)

    if split is None:
        model = train_student(None)
        model.threshold = teacher.threshold  # it mimics the teacher's scores
    else:
        model, scorer, fitted = fit_encoder_and_scorer(config, split, train_student, progress)
        model = QdupModel(model.encoder, info={**model.info, "data": split.summary(), "scorer_fit": fitted},
                          scorer=scorer)
    model.info.update(training=config.to_dict(), distillation={
        "questions": len(train_texts), "held_out": len(held_texts), "teacher_fingerprint": teacher.fingerprint,
        "settings": settings.to_dict()})
    return model if split is None else calibrate(model, split.validation, config.calibrate)


MIN_QUESTIONS = 4  # two held out to choose the epoch by, and a batch of two to train on


def check_enough_questions(questions: Sequence[str], split: Split | None = None) -> None:
    """A :class:`ConfigError` unless ``questions`` (blank ones left out) and ``split``'s
    training pairs hold :data:`MIN_QUESTIONS` distinct questions; counting stops there, so
    that ``qdup distill`` checks before it loads the teacher."""
    seen: set[str] = set()
    for question in _learned_from(questions, split):
        seen.add(question)
        if len(seen) >= MIN_QUESTIONS:
            return
    raise ConfigError(f"distillation needs at least {MIN_QUESTIONS} distinct questions, got {len(seen)}")


def _learned_from(questions: Sequence[str], split: Split | None) -> Iterator[str]:
    """The questions a student learns from, repeats and all: ``questions`` but blank ones, then
    with ``split`` its training and negative pairs' questions."""
    yield from (q for q in questions if q.strip())
    if split is not None:
        for pairs in (split.train, split.negatives):
            yield from pairs.question1 + pairs.question2


@dataclass(frozen=True)
class Taught:
    """The teacher's vectors of the distillation questions, encoded once for every student."""

    texts: list[str]
    vectors: torch.Tensor  # (n, d) unit
    neighbours: np.ndarray  # (n, neighbours) rows of each question's nearest questions
    held_texts: list[str]  # held out for validation (no labelled pairs)
    held_vectors: torch.Tensor


def _student(taught: Taught, config: TrainConfig, settings: DistillConfig, split: Split | None, progress: bool,
             device: str) -> tuple[LstmEncoder, dict]:
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
    lessons = Lessons(student, student.rows(taught.texts), taught.vectors.to(device), taught.neighbours,
                      labelled_rows(student, split, config) if split is not None else None,
                      config, settings, head, projection)
    held_rows, held_vectors = student.rows(taught.held_texts), taught.held_vectors.to(device)

    def epoch_loss(desc: str) -> float:
        return lessons.epoch(rng, optimizer, desc, progress)

    def validation() -> dict:
        if lessons.data is not None:
            return validate(student, lessons.data["validation"], config)
        return {"validation_loss": _held_out_loss(student, held_rows, held_vectors, settings)}

    history, best_epoch = train_epochs(student, config, epoch_loss, validation, progress)
    return student, {"history": history, "best_epoch": best_epoch}


@dataclass(frozen=True)
class Lessons:
    """What a student's training steps draw on: its rows of the distillation questions, the
    teacher's vectors and nearest questions, and (with labelled pairs) the default recipe's rows."""

    student: LstmEncoder
    rows: list  # the distillation questions, prepared by the student
    teacher: torch.Tensor  # (n, d) their teacher vectors, on the training device
    neighbours: np.ndarray  # (n, neighbours) rows of each question's nearest questions
    data: dict[str, PairRows] | None  # labelled rows (steps.labelled_rows); None without pairs
    config: TrainConfig
    settings: DistillConfig
    head: torch.nn.Parameter  # the pair loss's logistic head
    projection: torch.nn.Linear  # student -> teacher space, for the regression loss

    def epoch(self, rng: np.random.Generator, optimizer: torch.optim.Optimizer, desc: str, progress: bool) -> float:
        """One pass over the questions, as anchors in batches of ``batch_size``; the mean loss."""
        order = rng.permutation(len(self.rows))
        pair_order = rng.permutation(len(self.data["train"][0])) if self.data is not None else None
        negative_order = rng.permutation(len(self.data["negatives"][0])) if self.data is not None else None

        def step_loss(step: int, anchors: np.ndarray) -> torch.Tensor:
            return self.loss(step, anchors, pair_order, negative_order)

        return run_epoch(self.student.network, batches(order, self.config.batch_size), step_loss, optimizer, None,
                         desc, progress)

    def loss(self, step: int, anchors: np.ndarray, pair_order, negative_order) -> torch.Tensor:
        """The loss of one step: ``anchors`` and their nearest questions against the teacher,
        plus the default recipe's loss on the step's labelled pairs."""
        picked = np.unique(np.concatenate([anchors, self.neighbours[anchors].ravel()]))
        vectors = encode(self.student, [self.rows[i] for i in picked])  # (n, d)
        teacher = self.teacher[torch.from_numpy(picked).to(self.teacher.device)]
        loss = _distillation_loss(vectors, teacher, self.settings)
        if self.settings.regression_weight:
            loss = loss + self.settings.regression_weight * regression_loss(self.projection(vectors), teacher)
        if self.data is not None and len(pair_order) >= 2:
            size = min(self.config.batch_size, len(pair_order))
            batch = np.take(pair_order, range(step * size, step * size + size), mode="wrap")
            negatives = step_negatives(negative_order, step, self.config.negatives_per_batch)
            loss = loss + batch_loss(self.student, self.data, self.config, batch, negatives, self.head) / size
        return loss


def _distillation_loss(student: torch.Tensor, teacher: torch.Tensor, settings: DistillConfig) -> torch.Tensor:
    """The weighted similarity and ranking losses of one batch of unit vectors: the saved
    student's own losses (the regression's projection is a training aid only)."""
    loss = settings.similarity_weight * similarity_loss(student, teacher)
    if settings.ranking_kl_weight:
        loss = loss + settings.ranking_kl_weight * ranking_kl(student, teacher, settings.temperature)
    return loss


@torch.no_grad()
def _held_out_loss(student: LstmEncoder, rows: list, teacher: torch.Tensor, settings: DistillConfig) -> float:
    return float(_distillation_loss(encode(student, rows, EVAL_CHUNK), teacher, settings))


NEIGHBOUR_CHUNK = 1024  # queries per exact search: a (1024, n) score block, not (n, n)


def _nearest(vectors: np.ndarray, k: int) -> np.ndarray:
    """``(n, k)``: each question's ``k`` nearest other questions by the teacher's vectors."""
    k = min(k, len(vectors) - 1)
    top = np.concatenate([exact_topk(vectors[s : s + NEIGHBOUR_CHUNK], vectors, k + 1)[1]
                          for s in range(0, len(vectors), NEIGHBOUR_CHUNK)])
    others = top != np.arange(len(vectors))[:, None]
    others[others.sum(axis=1) > k, -1] = False  # itself not among its top k + 1 (ties): drop the last
    return top[others].reshape(len(vectors), k)
