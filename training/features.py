"""Training's side of the feature pipeline: learn a feature spec from the training frame,
refuse non-finite inputs, and hand LightGBM its categorical columns. The spec itself, and
the transform every scorer uses, are the model contract (`adctr.model.contract`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from adctr.model.contract import (
    CATEGORICAL,
    DERIVED,
    NUMERIC,
    REQUIRED,
    FeatureDef,
    FeatureError,
    FeatureSpec,
)


def vocabularies(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Each categorical column's distinct non-null values in the frame, sorted (as
    `training.dataset.Examples.vocabularies` answers for a split in the warehouse)."""
    return {name: sorted(str(v) for v in frame[name].dropna().unique()) for name in CATEGORICAL}


def spec_from_vocabularies(
    vocabs: Mapping[str, list[str]], exclude: tuple[str, ...] = (), negative_sampling_rate: float | None = None
) -> FeatureSpec:
    """The feature spec for the training split's vocabularies (sorted, so it is reproducible)."""
    unknown = sorted(set(exclude) - set(CATEGORICAL) - set(NUMERIC))
    if unknown:
        raise FeatureError(f"exclude_features names unknown features {unknown}")
    defs = []
    for name in CATEGORICAL:
        if name in exclude:
            continue
        defs.append(FeatureDef(name, "categorical", name in REQUIRED, None, sorted(vocabs.get(name, ()))))
    for name in NUMERIC:
        if name not in exclude:
            defs.append(FeatureDef(name, "numeric", name in REQUIRED, None, [], DERIVED.get(name)))
    return FeatureSpec(defs, negative_sampling_rate=negative_sampling_rate)


def fit_spec(
    frame: pd.DataFrame, exclude: tuple[str, ...] = (), negative_sampling_rate: float | None = None
) -> FeatureSpec:
    """Learn vocabularies from the training frame."""
    return spec_from_vocabularies(vocabularies(frame), exclude, negative_sampling_rate)


def check_finite(spec: FeatureSpec, columns: Sequence[np.ndarray], not_null: set[str], where: str) -> None:
    """Refuse infinities anywhere, and NaN in features whose source column may not be null.
    `columns`: the features' columns in spec order (contract.feature_columns)."""
    problems = []
    for f, col in zip(spec.features, columns, strict=True):
        # One pass over the column in the usual case (every value finite, or NaN where allowed).
        if col.dtype.kind in "iu" or np.isfinite(col).all():
            continue
        infinite = int(np.isinf(col).sum())
        if infinite:
            problems.append(f"{f.name} has {infinite} infinite values")
        if (f.derived_from or f.name) in not_null and f.kind == "numeric":
            missing = int(np.isnan(col).sum())
            if missing:
                problems.append(f"{f.name} has {missing} NaN values but its column is REQUIRED")
    if problems:
        raise FeatureError(f"{where}: " + "; ".join(problems))


def lightgbm_params_for(spec: FeatureSpec) -> dict[str, Any]:
    return {"categorical_feature": spec.categorical_indices, "feature_name": spec.names}
