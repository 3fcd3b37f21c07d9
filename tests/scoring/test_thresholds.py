"""Thresholds on the score: the one threshold check and the likely-duplicate rule of search."""

import pytest

from fake_model import FakeModel
from qdup.errors import ConfigError
from qdup.scoring.thresholds import check_threshold, likely_duplicates


def test_flags_are_bounded():
    uncalibrated = FakeModel(threshold=-1.0)  # every score passes the pair threshold...
    assert likely_duplicates(uncalibrated, [0.9, 0.8, 0.7]) == [True, False, False]  # ...only the top is flagged
    assert likely_duplicates(FakeModel(threshold=0.95), [0.9, 0.8]) == [False, False]
    calibrated = FakeModel()
    calibrated.search_threshold = 0.75
    assert likely_duplicates(calibrated, [0.9, 0.8, 0.7]) == [True, True, False]
    assert likely_duplicates(calibrated, []) == []


@pytest.mark.parametrize("bad, message", [
    (1.5, "threshold must be in [-1, 1], got 1.5"),
    ("0.7", "threshold must be a number in [-1, 1], got '0.7'"),
    (True, "threshold must be a number in [-1, 1], got True"),
])
def test_threshold_check_names_the_value(bad, message):
    with pytest.raises(ConfigError) as error:
        check_threshold(bad)
    assert str(error.value) == message


def test_a_match_above_the_search_threshold_is_flagged_only_when_the_pair_scorer_agrees():
    from types import SimpleNamespace

    model = SimpleNamespace(threshold=0.5, search_threshold=0.9)
    scores = [0.99, 0.95, 0.93, 0.5]
    assert likely_duplicates(model, scores) == [True, True, True, False]  # not asked: the search score decides
    assert likely_duplicates(model, scores, [True, False, True, True]) == [True, False, True, False]
    uncalibrated = SimpleNamespace(threshold=0.5, search_threshold=None)  # the top match only, if the pair scorer agrees
    assert likely_duplicates(uncalibrated, scores, [False] * 4) == [False] * 4
    assert likely_duplicates(uncalibrated, scores, [True] * 4) == [True, False, False, False]
