"""Aggregated metrics must equal scikit-learn's on the expanded event-level data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from training import metrics


def _expand(pred, k, n):  # noqa: ANN001, ANN202
    y, p = [], []
    for pi, ki, ni in zip(pred, k, n):
        y += [1] * int(ki) + [0] * int(ni - ki)
        p += [pi] * int(ni)
    return np.array(y), np.array(p)


@pytest.fixture
def rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    n = rng.integers(1, 40, size=60)
    pred = rng.uniform(0.01, 0.6, size=60).round(2)  # rounding creates ties on purpose
    k = rng.binomial(n, pred)
    return pred, k, n


def test_log_loss_equals_event_level(rows) -> None:  # noqa: ANN001
    pred, k, n = rows
    y, p = _expand(pred, k, n)
    assert metrics.log_loss(pred, k, n) == pytest.approx(sk_log_loss(y, p), rel=1e-12)


def test_weighted_auc_equals_event_level_with_ties(rows) -> None:  # noqa: ANN001
    pred, k, n = rows
    y, p = _expand(pred, k, n)
    assert metrics.weighted_auc(pred, k, n) == pytest.approx(roc_auc_score(y, p), rel=1e-12)


def test_normalized_entropy_and_calibration(rows) -> None:  # noqa: ANN001
    pred, k, n = rows
    base = k.sum() / n.sum()
    assert metrics.normalized_entropy(np.full(len(n), base), k, n) == pytest.approx(1.0)
    assert metrics.calibration_ratio(pred, k, n) == pytest.approx((pred * n).sum() / k.sum())


def test_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        metrics.log_loss([0.5], [3], [2])
