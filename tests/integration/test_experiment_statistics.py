"""The experiment statistics against the simulator's truth, in bounded time: simulated
experiments on small seeded worlds (bench/abn_statistics.py runs the same with many seeds and
reports the figures in bench/README.md). Every run uses the product's assignment, tracking
ids, the simulator's delivery of submitted creatives and the product's analysis."""

from __future__ import annotations

import numpy as np

from tests.helpers import load_bench

BENCH = load_bench("abn_statistics")
SCENARIOS = BENCH.scenarios(0.15)


def test_an_aa_experiment_read_every_day_rarely_declares_a_difference() -> None:
    runs = [BENCH.run(seed, size, 5, SCENARIOS["aa"]) for size in (300, 600) for seed in range(1, 13)]
    sequential = np.mean([r["pvalue"] <= 0.05 for r in runs])
    naive = np.mean([r["naive_by_day"][-1] for r in runs])
    assert all(abs(r["true_lift"]) < 1e-12 for r in runs)  # both arms submit the same combination
    # 24 runs: at a true 5% the count is <= 3 with 97% chance, at the naive 13% with 62%
    # (the bench runs 200 a size); looking daily without the sequential design rejects at
    # least as often
    assert sequential <= 3 / 24, sequential
    assert naive >= sequential, (naive, sequential)
    assert all(r["decision"] != "invalid" for r in runs)  # no false sample-ratio alarm


def test_the_intervals_cover_the_true_lift_and_the_test_finds_it() -> None:
    runs = [BENCH.run(seed, size, 5, SCENARIOS["ab"]) for size in (300, 600) for seed in range(1, 9)]
    lifts = [r["true_lift"] for r in runs]
    assert min(lifts) > 0.02  # the treatment chooses the truly best combination 15% of the time
    coverage = np.mean([r["covered"] for r in runs])
    sequential_coverage = np.mean([r["rci_covered"] for r in runs])
    assert coverage >= 14 / 16 and sequential_coverage >= coverage, (coverage, sequential_coverage)
    power = np.mean([r["crossed_by_day"] for r in runs], axis=0)
    assert all(a <= b for a, b in zip(power, power[1:])) and power[-1] > power[0]


def test_a_broken_split_is_flagged_as_a_sample_ratio_mismatch() -> None:
    # the medium silently drops 5% of one arm's units (more seeds and a second size: the bench)
    run = BENCH.run(1, 40_000, 2, SCENARIOS["srm"])
    control, treatment = run["units"]
    assert run["decision"] == "invalid" and run["srm_pvalue"] < 0.001, run
    assert 0.93 < treatment / control < 0.97
