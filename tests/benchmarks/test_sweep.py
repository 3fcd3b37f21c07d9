"""benchmarks/sweep.py's --seeds: each config once per seed, and the spread of its figures."""

import sys

from helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from sweep import SPREAD, seed_summary, with_seeds  # noqa: E402


def test_each_config_runs_once_per_seed_with_its_own_settings():
    configs = {"default": {}, "mask": {"mask_duplicates": True}}
    assert with_seeds(configs, []) == configs
    assert with_seeds(configs, [0, 2]) == {
        "default@seed=0": {"seed": 0}, "default@seed=2": {"seed": 2},
        "mask@seed=0": {"mask_duplicates": True, "seed": 0}, "mask@seed=2": {"mask_duplicates": True, "seed": 2}}


def test_the_summary_gives_each_configs_mean_and_range_over_its_seeds():
    def row(name, auc, r1, r10):
        return {"name": name, "validation_auc": auc, "validation_recall@1": r1, "validation_recall@10": r10}

    rows = [row("a@seed=0", 0.84, 0.48, 0.78), row("b@seed=0", 0.80, 0.40, 0.70), row("a@seed=1", 0.83, 0.45, 0.77),
            row("plain", 0.9, 0.5, 0.8)]  # a run without seeds is not summarised
    [a, b] = sorted(seed_summary(rows), key=lambda s: s["name"])
    assert (a["name"], a["seeds"], b["name"], b["seeds"]) == ("a", 2, "b", 1)
    assert a["validation_recall@1"]["min"] == 0.45 and a["validation_recall@1"]["max"] == 0.48
    assert abs(a["validation_recall@1"]["mean"] - 0.465) < 1e-9 and abs(a["validation_auc"]["mean"] - 0.835) < 1e-9
    assert set(SPREAD) <= set(a) and b["validation_recall@10"] == {"mean": 0.7, "min": 0.7, "max": 0.7}
