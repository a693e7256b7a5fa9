"""The quality bench's rung gains: a paired cluster bootstrap over ad groups of each rung's
gain in gap closed over the rung before (bench/model_quality.py `rung_gains`)."""

from __future__ import annotations


import numpy as np

from tests.helpers import load_bench


def _rows(groups: int = 60, per_group: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cluster = np.repeat([f"ag{g}" for g in range(groups)], per_group)
    bayes = rng.uniform(1.0, 2.0, size=len(cluster))
    return cluster, bayes, bayes + 1.0  # base rate: one unit above Bayes on every row


def test_gain_is_the_difference_in_gap_closed_with_an_interval_around_it() -> None:
    bench = load_bench("model_quality")
    cluster, bayes, base = _rows()
    first = bayes + 0.6  # closes 40% of the gap
    second = bayes + 0.3  # closes 70%
    gains = bench.rung_gains([first, second, second.copy()], base, bayes, cluster, resamples=500)
    assert gains[0]["gain"] == 0.3 and gains[0]["ci95"] == [0.3, 0.3]  # the same on every draw
    assert gains[1] == {"gain": 0.0, "ci95": [0.0, 0.0]}


def test_a_gain_from_noise_has_an_interval_that_covers_zero_and_a_real_one_does_not() -> None:
    bench = load_bench("model_quality")
    cluster, bayes, base = _rows()
    rng = np.random.default_rng(1)
    group_noise = {g: rng.normal(0.0, 0.2) for g in np.unique(cluster)}
    noisy = bayes + 0.5 + np.array([group_noise[g] for g in cluster])
    flat = bayes + 0.5
    better = noisy - 0.1  # 10 points of the gap on every ad group, on top of the same noise
    none, real = bench.rung_gains([flat, noisy, better], base, bayes, cluster, resamples=1000)
    assert none["ci95"][0] < 0 < none["ci95"][1]
    assert abs(real["gain"] - 0.1) < 1e-9 and real["ci95"][0] > 0.05
    # Paired: the shared noise cancels, so the interval is tight although each rung is noisy.
    assert real["ci95"][1] - real["ci95"][0] < 0.01
