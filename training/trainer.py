"""LightGBM on aggregated rows: label = rate, weight = trials, objective cross_entropy.

With label k/n and weight n, LightGBM's cross_entropy loss equals the summed logistic loss
of the n underlying events, so aggregated training is exact, not an approximation.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
from adctr.model.contract import FeatureSpec, FittedModel, feature_columns

from training.features import check_finite, fit_spec, lightgbm_params_for


def label_and_weight(frame: pd.DataFrame, num: str, den: str, rate: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Label = rate, weight = trials; with down-sampling, negatives count `rate` times each
    (the expected outcome of keeping each negative with probability `rate`, without noise)."""
    k = frame[num].to_numpy(dtype=np.float64)
    n = frame[den].to_numpy(dtype=np.float64)
    if rate and rate < 1:
        n = k + (n - k) * rate
    return k / n, n


def _dataset(
    spec: FeatureSpec, frame: pd.DataFrame, num: str, den: str, not_null: set[str], where: str, ref=None  # noqa: ANN001
) -> lgb.Dataset:
    """The split as a LightGBM Dataset built from Arrow columns: the feature columns are the
    frame's own arrays where they need no conversion (contract.feature_columns), so no
    rows x features float matrix is allocated; the Dataset, and so the model, equals the
    one built from `transform`'s matrix (tests/unit/test_features.py)."""
    label, trials = label_and_weight(frame, num, den, spec.negative_sampling_rate)
    columns = feature_columns(spec, frame)
    check_finite(spec, columns, not_null, where)
    table = pa.table([pa.array(c, from_pandas=False) for c in columns], names=spec.names)
    return lgb.Dataset(
        table,
        label=label,
        weight=trials,
        reference=ref,
        free_raw_data=False,
        **lightgbm_params_for(spec),
    )


def fit(
    train: pd.DataFrame, valid: pd.DataFrame, num: str, den: str, cfg: dict[str, Any],
    not_null: set[str] | None = None,
) -> tuple[FittedModel, dict[str, Any]]:  # fmt: skip
    rate = cfg.get("negative_downsampling_rate")
    spec = fit_spec(train, tuple(cfg.get("exclude_features") or ()), float(rate) if rate else None)
    params = dict(cfg["lightgbm"])
    if params.get("objective") != "cross_entropy":
        raise ValueError("aggregated CTR/CVR training needs objective: cross_entropy")
    dtrain = _dataset(spec, train, num, den, not_null or set(), "training split")
    dvalid = _dataset(spec, valid, num, den, not_null or set(), "validation split", ref=dtrain)
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=int(cfg["num_boost_round"]),
        valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(int(cfg["early_stopping_rounds"]), verbose=False)],
    )
    info = {
        "best_iteration": int(booster.best_iteration),
        "num_trees": int(booster.num_trees()),
        "train_rows": int(len(train)),
        "valid_rows": int(len(valid)),
        "features": spec.names,
        "negative_downsampling_rate": spec.negative_sampling_rate,
        "feature_gain": dict(zip(spec.names, (float(g) for g in booster.feature_importance("gain")))),
    }
    return FittedModel(booster, spec), info
