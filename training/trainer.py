"""LightGBM on aggregated rows: label = rate, weight = trials, objective cross_entropy.

With label k/n and weight n, LightGBM's cross_entropy loss equals the summed logistic loss
of the n underlying events, so aggregated training is exact, not an approximation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.features import FeatureSpec, fit_spec, lightgbm_params_for, transform


@dataclass
class FittedModel:
    booster: lgb.Booster
    spec: FeatureSpec

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(transform(self.spec, frame))

    def model_bytes(self) -> bytes:
        return self.booster.model_to_string().encode("utf-8")


def _dataset(spec: FeatureSpec, frame: pd.DataFrame, num: str, den: str, ref=None) -> lgb.Dataset:  # noqa: ANN001
    trials = frame[den].to_numpy(dtype=np.float64)
    label = frame[num].to_numpy(dtype=np.float64) / trials
    return lgb.Dataset(
        transform(spec, frame),
        label=label,
        weight=trials,
        reference=ref,
        free_raw_data=False,
        **lightgbm_params_for(spec),
    )


def fit(
    train: pd.DataFrame, valid: pd.DataFrame, num: str, den: str, cfg: dict[str, Any]
) -> tuple[FittedModel, dict[str, Any]]:
    spec = fit_spec(train)
    params = dict(cfg["lightgbm"])
    if params.get("objective") != "cross_entropy":
        raise ValueError("aggregated CTR/CVR training needs objective: cross_entropy")
    dtrain = _dataset(spec, train, num, den)
    dvalid = _dataset(spec, valid, num, den, ref=dtrain)
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
    }
    return FittedModel(booster, spec), info


def load_model(model_text: str, spec_json: str) -> FittedModel:
    return FittedModel(lgb.Booster(model_str=model_text), FeatureSpec.from_json(spec_json))
