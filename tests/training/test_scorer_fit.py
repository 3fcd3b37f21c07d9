"""The held-out part of the pool: whole question groups within both budgets, and a re-ranker
that learns from it alone (one encoder trained without it, as `qdup train --encoder` does)."""

from __future__ import annotations

import numpy as np
import pytest

import qdup
from fake_model import FakeModel
from qdup.scoring.pair_features import FEATURES
from qdup.text.lexical import LexicalStats
from qdup.training import scorer_fit
from qdup.training.scorer_fit import held_out_part, scorer_rows

# Question groups (pairs linked by a shared question) of the hand-made pool below.
GROUP = {"a?": 0, "b?": 0, "c?": 0, "x?": 0, "d?": 1, "e?": 1, "y?": 1, "f?": 2, "g?": 2, "h?": 3, "i?": 3,
         "j?": 4, "k?": 4, "z?": 5, "w?": 5, "v?": 6}


def _hand_split() -> qdup.Split:
    """Groups {a b c x} (2 duplicate pairs, 1 non-duplicate), {d e y} (1, 1), {f g}, {h i}, {j k} (1 each),
    {z w} (a non-duplicate only), and a non-duplicate with an empty question, which links nothing."""
    dups = qdup.pairs_from_lists(["a?", "b?", "d?", "f?", "h?", "j?"], ["b?", "c?", "e?", "g?", "i?", "k?"], [1] * 6)
    negatives = qdup.pairs_from_lists(["a?", "e?", "z?", "  "], ["x?", "y?", "w?", "v?"], [0] * 4)
    empty = dups.subset([])
    return qdup.Split(train=dups, validation=empty, negatives=negatives, test=empty, method="id")


def _groups(pairs: qdup.Pairs) -> set[int]:
    return {GROUP[q] for q in pairs.question1 + pairs.question2 if q.strip()}


@pytest.mark.parametrize("seed", range(8))
def test_the_held_out_part_is_whole_question_groups_within_both_budgets(seed):
    split = _hand_split()
    held = held_out_part(split, 0.5, seed)
    assert held.train.dtype == bool and held.train.shape == (6,) and held.negatives.shape == (4,)
    # Budgets: half the 6 duplicate pairs, half the 4 non-duplicates; groups are never cut.
    assert 1 <= held.train.sum() <= 3 and held.negatives.sum() <= 2
    assert not held.negatives[3]  # the pair with an empty question is in no group: the encoder keeps it
    rest = held.rest(split)
    held_groups = _groups(split.train.subset(held.train)) | _groups(split.negatives.subset(held.negatives))
    assert not held_groups & _groups(rest.train) and not held_groups & _groups(rest.negatives)
    assert (len(rest.train), len(rest.negatives)) == (6 - held.train.sum(), 4 - held.negatives.sum())
    assert held.summary() == {"held_out_duplicates": int(held.train.sum()),
                              "held_out_negatives": int(held.negatives.sum())}


def test_a_group_over_what_is_left_of_a_budget_is_skipped():
    # At share 0.3 the budgets are 1.8 duplicates and 1.2 non-duplicates: group {a b c x}
    # (2 duplicates) never fits, and {d e y} and {z w} (one non-duplicate each) never both.
    for seed in range(16):
        held = held_out_part(_hand_split(), 0.3, seed)
        assert not held.train[:2].any() and held.negatives[1:3].sum() <= 1 and held.train.sum() <= 1


def test_the_held_out_part_depends_on_the_seed_and_share_only():
    split = _hand_split()
    draws = {tuple(held_out_part(split, 0.5, seed).train) for seed in range(12)}
    assert len(draws) > 1  # groups are drawn at random...
    assert (held_out_part(split, 0.5, 4).train == held_out_part(split, 0.5, 4).train).all()  # ...seeded
    assert not held_out_part(split, 0.1, 0).train.any()  # less than one group's share: nothing held out


@pytest.mark.parametrize("share", [-0.1, 1.0, float("nan")])
def test_the_held_out_share_is_checked(share):
    with pytest.raises(qdup.ConfigError, match="scorer_held_out must be"):
        qdup.TrainConfig(scorer_held_out=share)


def test_the_re_ranker_learns_only_from_the_held_out_part(toy_split, monkeypatch):
    held = held_out_part(toy_split, 0.3, 0)
    searched, real = [], scorer_fit._candidate_rows
    monkeypatch.setattr(scorer_fit, "_candidate_rows",
                        lambda queries, *rest: searched.append(queries) or real(queries, *rest))
    parts, encoder = [], FakeModel()
    pool = sorted({q.strip() for p in (toy_split.train, toy_split.negatives) for q in p.question1 + p.question2})
    rows = scorer_rows(toy_split, 2, lambda part: parts.append(part) or encoder, LexicalStats.fit(pool),
                       held_out=held)
    assert len(parts) == 1 and parts[0].train.ids.tolist() == held.rest(toy_split).train.ids.tolist()
    duplicates, negatives = toy_split.train.subset(held.train), toy_split.negatives.subset(held.negatives)
    # Labelled rows: exactly the held-out pairs; search queries: exactly their questions.
    assert rows.pair_labels.tolist() == [1.0] * len(duplicates) + [0.0] * len(negatives)
    assert {pool[r] for r in searched[0]} == {q.strip() for q in duplicates.question1 + duplicates.question2}
    assert len(searched) == 1 and len(rows.search_groups) == len(searched[0])
    trained_on = {q.strip() for p in (parts[0].train, parts[0].negatives) for q in p.question1 + p.question2}
    assert not trained_on & {pool[r] for r in searched[0]}
    # The pairs' cosine feature is the encoder's.
    cosine = np.einsum("nd,nd->n", encoder.encode(duplicates.question1), encoder.encode(duplicates.question2))
    np.testing.assert_allclose(rows.pair_features[: len(duplicates), FEATURES.index("cosine")], cosine, atol=1e-5)


def test_the_recipe_s_name_length_reaches_the_look_alike_maker(toy_split, monkeypatch):
    made, real = [], scorer_fit.Lookalikes.from_pool
    monkeypatch.setattr(scorer_fit.Lookalikes, "from_pool",
                        lambda pool, max_words=1: made.append(max_words) or real(pool, max_words=max_words))
    pool = toy_split.pool_questions()
    scorer_rows(toy_split, 2, lambda part: FakeModel(), LexicalStats.fit(pool), lookalikes=0.5, lookalike_words=3)
    scorer_rows(toy_split, 2, lambda part: FakeModel(), LexicalStats.fit(pool), lookalikes=0.0, lookalike_words=3)
    assert made == [3]  # no look-alikes, no maker
