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
