"""LightGBM on aggregated rows: label = rate, weight = trials, objective cross_entropy.

With label k/n and weight n, LightGBM's cross_entropy loss equals the summed logistic loss
of the n underlying events, so aggregated training is exact, not an approximation.

Each split reaches LightGBM as a stream of batches (`training.dataset.Examples.batches`):
every batch is checked and turned into feature columns, written to an uncompressed Arrow IPC
file in a scratch directory, and LightGBM builds its Dataset from that file memory-mapped.
The split is never a frame or a float matrix in the process's own memory: what a worker
holds is one batch, LightGBM's binned Dataset (a byte or two per value) and pages of the
file the kernel can drop. A 24M-row training split costs ~10 GB of scratch disk, not RAM.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
from adctr.model.contract import CATEGORICAL, FeatureSpec, FittedModel, feature_columns

from training.dataset import Examples
from training.features import check_finite, lightgbm_params_for, spec_from_vocabularies, vocabularies


def label_and_weight(frame: pd.DataFrame, num: str, den: str, rate: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Label = rate, weight = trials; with down-sampling, negatives count `rate` times each
    (the expected outcome of keeping each negative with probability `rate`, without noise)."""
    k = frame[num].to_numpy(dtype=np.float64)
    n = frame[den].to_numpy(dtype=np.float64)
    if rate and rate < 1:
        n = k + (n - k) * rate
    return k / n, n


def _dataset(
    spec: FeatureSpec, batches: Iterable[pd.DataFrame], num: str, den: str, not_null: set[str], where: str,
    params: dict[str, Any], scratch: Path, ref: lgb.Dataset | None = None,
) -> tuple[lgb.Dataset, int]:  # fmt: skip
    """The split's batches as a constructed LightGBM Dataset (and its row count). Every
    feature column is float64 in the file (int64 counts convert exactly; LightGBM reads each
    value as a double either way), so the Dataset, and the model, equal the ones built from
    `transform`'s matrix of the whole split (tests/unit/test_features.py)."""
    schema = pa.schema([(name, pa.float64()) for name in spec.names])
    fd, name = tempfile.mkstemp(dir=scratch, prefix="split.", suffix=".arrow")
    os.close(fd)  # reopened below by Arrow's writer
    path = Path(name)
    labels: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    try:
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for frame in batches:
                label, trials = label_and_weight(frame, num, den, spec.negative_sampling_rate)
                columns = feature_columns(spec, frame)
                check_finite(spec, columns, not_null, where)
                arrays = [pa.array(np.asarray(c, dtype=np.float64)) for c in columns]
                writer.write_batch(pa.record_batch(arrays, schema=schema))
                labels.append(label)
                weights.append(trials)
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()  # zero-copy: pages of the file
            dataset = lgb.Dataset(
                table, label=np.concatenate(labels) if labels else np.empty(0), weight=np.concatenate(weights) if weights else np.empty(0),
                reference=ref, params=params, free_raw_data=True, **lightgbm_params_for(spec),
            )  # fmt: skip
            dataset.construct()
            rows = table.num_rows
            del table
    finally:
        path.unlink(missing_ok=True)
        close = getattr(batches, "close", None)  # a generator over a warehouse stream: release its
        if close is not None:  # connection (DuckDB: the file lock) now, also after an error
            close()
    return dataset, rows


def _train(
    spec: FeatureSpec, train: Iterable[pd.DataFrame], valid: Iterable[pd.DataFrame], num: str, den: str,
    cfg: dict[str, Any], not_null: set[str],
) -> tuple[FittedModel, dict[str, Any]]:  # fmt: skip
    params = dict(cfg["lightgbm"])
    if params.get("objective") != "cross_entropy":
        raise ValueError("aggregated CTR/CVR training needs objective: cross_entropy")
    with tempfile.TemporaryDirectory(prefix="adctr-train-") as scratch:
        dtrain, train_rows = _dataset(spec, train, num, den, not_null, "training split", params, Path(scratch))
        dvalid, valid_rows = _dataset(spec, valid, num, den, not_null, "validation split", params, Path(scratch), dtrain)
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
        "train_rows": train_rows,
        "valid_rows": valid_rows,
        "features": spec.names,
        "negative_downsampling_rate": spec.negative_sampling_rate,
        "feature_gain": dict(zip(spec.names, (float(g) for g in booster.feature_importance("gain")))),
    }
    return FittedModel(booster, spec), info


def _spec_settings(cfg: dict[str, Any]) -> tuple[tuple[str, ...], float | None]:
    rate = cfg.get("negative_downsampling_rate")
    return tuple(cfg.get("exclude_features") or ()), float(rate) if rate else None


def fit(examples: Examples, cfg: dict[str, Any], not_null: set[str] | None = None) -> tuple[FittedModel, dict[str, Any]]:
    """Train on a planned snapshot's training split, early-stopping on its validation split;
    both are streamed from the warehouse (vocabularies from one `distinct` query each)."""
    exclude, rate = _spec_settings(cfg)
    spec = spec_from_vocabularies(examples.vocabularies(CATEGORICAL), exclude, rate)
    return _train(spec, examples.batches("train"), examples.batches("valid"), examples.num, examples.den,
                  cfg, not_null or set())  # fmt: skip


def fit_frames(
    train: pd.DataFrame, valid: pd.DataFrame, num: str, den: str, cfg: dict[str, Any],
    not_null: set[str] | None = None,
) -> tuple[FittedModel, dict[str, Any]]:  # fmt: skip
    """The same training on splits already in memory (tests, benches, small worlds)."""
    exclude, rate = _spec_settings(cfg)
    spec = spec_from_vocabularies(vocabularies(train), exclude, rate)
    return _train(spec, [train], [valid], num, den, cfg, not_null or set())
