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
