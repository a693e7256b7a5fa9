"""The feature pipeline: deterministic, loose on extras, strict on required features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from adctr.model.contract import FeatureError, FeatureSpec, transform

from training.features import fit_spec


def _frame(**over) -> pd.DataFrame:  # noqa: ANN003
    base = {
        "medium": ["yahoo_ads", "google_ads"], "device": ["mobile", "desktop"],
        "industry": ["games", "retail"], "campaign_objective": ["traffic", "conversions"],
        "ad_format": ["text", "video"], "headline_length": [10, 12], "description_length": [20, 22],
        "creative_impressions_7d": [100, 0], "creative_ctr_7d": [0.02, None],
        "creative_cvr_7d": [0.1, None], "ad_group_impressions_7d": [500, 10],
        "ad_group_ctr_7d": [0.03, 0.01], "ad_group_cvr_7d": [0.05, 0.0],
        "report_date": pd.to_datetime(["2026-11-02", "2026-11-03"]).date,
    }  # fmt: skip
    base.update(over)
    return pd.DataFrame(base)


def test_spec_round_trips_and_transform_is_deterministic() -> None:
    spec = fit_spec(_frame())
    again = FeatureSpec.from_json(spec.to_json())
    assert again == spec
    np.testing.assert_array_equal(transform(spec, _frame()), transform(again, _frame()))


def test_unseen_category_and_missing_optional_become_missing() -> None:
    spec = fit_spec(_frame())
    frame = _frame(medium=["meta", "yahoo_ads"]).drop(columns=["creative_ctr_7d"])
    frame["extra_column"] = 1  # ignored
    x = transform(spec, frame)
    j_medium, j_ctr = spec.names.index("medium"), spec.names.index("creative_ctr_7d")
    assert np.isnan(x[0, j_medium]) and not np.isnan(x[1, j_medium])
    assert np.isnan(x[:, j_ctr]).all()


def test_missing_required_feature_is_an_error_naming_it() -> None:
    spec = fit_spec(_frame())
    with pytest.raises(FeatureError, match="'device'"):
        transform(spec, _frame().drop(columns=["device"]))


@pytest.mark.parametrize("batch_rows", [3000, 700], ids=["one_batch", "five_batches"])
def test_training_dataset_from_streamed_batches_gives_the_model_the_matrix_gives(tmp_path, batch_rows) -> None:  # noqa: ANN001
    """training.trainer builds its Dataset from the split's batches, spilled as float64 Arrow
    columns to a memory-mapped file, instead of `transform`'s matrix of the whole split: the
    trained model must be the same, bit for bit, however the split is cut into batches, with
    int64 counts, NaN rates, categoricals (one level unseen by the spec), the derived weekday
    and a feature left out of the frame."""
    import lightgbm as lgb
    from adctr.model.contract import feature_columns

    from tests.helpers import synthetic_examples
    from training.features import lightgbm_params_for
    from training.trainer import _dataset, label_and_weight

    frame = synthetic_examples(3000, seed=5, levels=4)
    spec = fit_spec(frame.iloc[:2000])
    frame = frame.drop(columns=["description_length"])
    frame.loc[frame.index % 7 == 0, "creative_ctr_7d"] = np.nan
    frame["creative_impressions_7d"] = frame["creative_impressions_7d"].fillna(0).astype("int64")  # as the warehouse gives counts
    kinds = {col.dtype.kind for col in feature_columns(spec, frame)}
    assert kinds == {"i", "f"}, kinds  # both paths of feature_columns are exercised
    assert np.isnan(transform(spec, frame)).any()
    params = {"objective": "cross_entropy", "num_leaves": 15, "min_data_in_leaf": 5, "verbose": -1, "seed": 1}
    label, weight = label_and_weight(frame, "clicks", "impressions", None)
    from_matrix = lgb.train(params, lgb.Dataset(transform(spec, frame), label=label, weight=weight,
                                                **lightgbm_params_for(spec)), num_boost_round=30)  # fmt: skip
    batches = [frame.iloc[i : i + batch_rows] for i in range(0, len(frame), batch_rows)]
    dataset, rows = _dataset(spec, iter(batches), "clicks", "impressions", set(), "training split", params, tmp_path)
    assert rows == len(frame) and list(tmp_path.iterdir()) == []  # the spill file is gone once built
    from_columns = lgb.train(params, dataset, num_boost_round=30)
    assert from_columns.model_to_string() == from_matrix.model_to_string()
