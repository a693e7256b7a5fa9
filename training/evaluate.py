"""Holdout evaluation: overall metrics, per-slice calibration, and the base-rate baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from training import metrics

SLICES = ("medium", "device")


def evaluate(pred: np.ndarray, holdout: pd.DataFrame, num: str, den: str) -> dict[str, Any]:
    k = holdout[num].to_numpy(dtype=np.float64)
    n = holdout[den].to_numpy(dtype=np.float64)
    result: dict[str, Any] = {
        "overall": metrics.summarize(pred, k, n),
        "reliability": metrics.reliability_table(pred, k, n),
        "by": {},
    }
    for column in SLICES:
        per: dict[str, Any] = {}
        for value, idx in holdout.groupby(column, sort=True).indices.items():
            per[str(value)] = {
                "trials": float(n[idx].sum()),
                "observed_rate": float(k[idx].sum() / n[idx].sum()) if n[idx].sum() else None,
                "calibration": metrics.calibration_ratio(pred[idx], k[idx], n[idx]),
                "log_loss": metrics.log_loss(pred[idx], k[idx], n[idx]),
            }
        result["by"][column] = per
    return result


def base_rate_log_loss(rate: float, holdout: pd.DataFrame, num: str, den: str) -> float:
    """Log loss on the holdout of a model that predicts `rate` (the training split's base
    rate, `Examples.base_rate`) everywhere."""
    return metrics.log_loss(np.full(len(holdout), rate), holdout[num].to_numpy(), holdout[den].to_numpy())
