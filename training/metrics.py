"""Evaluation metrics on aggregated rows.

A row with n trials and k positives stands for k positive and n - k negative events that
all received the row's prediction; every metric here equals its event-level value on the
expanded data (tests check this against scikit-learn).
"""

from __future__ import annotations

import numpy as np

EPS = 1e-15


def _arrays(pred, positives, trials):  # noqa: ANN001, ANN202
    p = np.clip(np.asarray(pred, dtype=np.float64), EPS, 1 - EPS)
    k = np.asarray(positives, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("positives must lie in [0, trials]")
    return p, k, n


def row_log_losses(pred, positives, trials) -> np.ndarray:  # noqa: ANN001
    """Each row's summed log loss over its trials (for sums over any grouping of rows)."""
    p, k, n = _arrays(pred, positives, trials)
    return -(k * np.log(p) + (n - k) * np.log(1 - p))


def log_loss(pred, positives, trials) -> float:  # noqa: ANN001
    losses = row_log_losses(pred, positives, trials)
    return float(losses.sum() / np.asarray(trials, dtype=np.float64).sum())


def entropy(rate: float) -> float:
    r = min(max(rate, EPS), 1 - EPS)
    return float(-(r * np.log(r) + (1 - r) * np.log(1 - r)))


def normalized_entropy(pred, positives, trials) -> float:  # noqa: ANN001
    """Log loss divided by the entropy of the base rate (< 1 means better than the base rate)."""
    _, k, n = _arrays(pred, positives, trials)
    return log_loss(pred, positives, trials) / entropy(k.sum() / n.sum())


def calibration_ratio(pred, positives, trials) -> float:  # noqa: ANN001
    """Predicted positives / observed positives (1.0 = calibrated)."""
    p, k, n = _arrays(pred, positives, trials)
    observed = k.sum()
    return float((p * n).sum() / observed) if observed > 0 else float("nan")


def weighted_auc(pred, positives, trials) -> float:
    """ROC AUC of the expanded events; ties count one half, as in scikit-learn."""
    p, k, n = _arrays(pred, positives, trials)
    neg = n - k
    if k.sum() == 0 or neg.sum() == 0:
        return float("nan")
    # Group equal predictions so ties are handled exactly.
    order = np.argsort(p, kind="mergesort")
    p, k, neg = p[order], k[order], neg[order]
    uniq, start = np.unique(p, return_index=True)
    k_g = np.add.reduceat(k, start)
    neg_g = np.add.reduceat(neg, start)
    neg_below = np.concatenate([[0.0], np.cumsum(neg_g)[:-1]])
    auc_num = (k_g * (neg_below + 0.5 * neg_g)).sum()
    return float(auc_num / (k.sum() * neg.sum()))


def summarize(pred, positives, trials) -> dict[str, float]:  # noqa: ANN001
    _, k, n = _arrays(pred, positives, trials)
    return {
        "rows": int(len(n)),
        "trials": float(n.sum()),
        "positives": float(k.sum()),
        "observed_rate": float(k.sum() / n.sum()) if n.sum() else float("nan"),
        "log_loss": log_loss(pred, positives, trials),
        "normalized_entropy": normalized_entropy(pred, positives, trials),
        "auc": weighted_auc(pred, positives, trials),
        "calibration": calibration_ratio(pred, positives, trials),
    }


def reliability_table(pred, positives, trials, bins: int = 10) -> list[dict[str, float]]:  # noqa: ANN001
    """Predicted vs observed rate in bins of equal trials, ordered by prediction."""
    p, k, n = _arrays(pred, positives, trials)
    if n.sum() == 0:
        return []
    order = np.argsort(p, kind="mergesort")
    p, k, n = p[order], k[order], n[order]
    edges = np.searchsorted(np.cumsum(n) / n.sum(), np.arange(1, bins) / bins, side="left")
    table = []
    for idx in np.split(np.arange(len(p)), np.unique(edges)):
        if len(idx) == 0 or n[idx].sum() == 0:
            continue
        trials_b = float(n[idx].sum())
        table.append({
            "min_pred": float(p[idx].min()), "max_pred": float(p[idx].max()), "rows": int(len(idx)),
            "trials": trials_b, "predicted_rate": float((p[idx] * n[idx]).sum() / trials_b),
            "observed_rate": float(k[idx].sum() / trials_b),
        })  # fmt: skip
    return table
