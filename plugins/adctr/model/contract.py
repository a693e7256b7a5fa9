"""The model contract: what a published CTR/CVR model is and how anyone scores with it.

Training writes it, the serving library and the batch scorer read it, all through this one
module, so a model scored anywhere gives the same numbers:
- artifact file names of a model version (`MODEL_FILE`, `FEATURE_SPEC_FILE`);
- the feature spec (`feature_spec.json`): each feature's name, kind, default and (for
  categoricals) the vocabulary seen in training. Transforming a frame is deterministic: unseen
  categories and missing optional features become LightGBM's "missing" (NaN), a missing
  required feature is an error naming it, extra columns are ignored (the loose interface);
- `load_model` and `FittedModel.predict*`, which apply the re-calibration of negative
  down-sampling recorded in the spec.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from adctr.core.errors import PermanentError

if TYPE_CHECKING:  # imported where used: DAG files parse release code that names the files
    from collections.abc import Callable

    import lightgbm as lgb
    import numpy as np
    import pandas as pd

MODEL_FILE = "model.txt"
FEATURE_SPEC_FILE = "feature_spec.json"

SPEC_VERSION = 1

CATEGORICAL = ("medium", "device", "industry", "campaign_objective", "ad_format")
NUMERIC = (
    "headline_length",
    "description_length",
    "creative_age_days",
    *(
        f"{level}_{stat}_{window}d"
        for level in (
            "creative",
            "ad_group",
            "advertiser",
            "headline_asset",
            "description_asset",
            "image_asset",
            "headline_image",  # the headline x image pair
        )
        for window in (7, 28)
        for stat in ("impressions", "ctr", "cvr")
    ),
    "day_of_week",
)
REQUIRED = ("medium", "device")
DERIVED = {"day_of_week": "report_date"}  # feature -> column it is computed from


class FeatureError(PermanentError, ValueError):
    """Input cannot be turned into model features."""


@dataclass(frozen=True)
class FeatureDef:
    name: str
    kind: str  # "categorical" | "numeric"
    required: bool = False
    default: float | None = None  # None = missing (NaN)
    vocabulary: list[str] = field(default_factory=list)
    derived_from: str | None = None


@dataclass(frozen=True)
class FeatureSpec:
    features: list[FeatureDef]
    version: int = SPEC_VERSION
    # Set when negatives were down-sampled for training: predictions are re-calibrated with
    # q = p / (p + (1 - p) / rate) by every scorer (FittedModel.predict).
    negative_sampling_rate: float | None = None

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.kind == "categorical"]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "FeatureSpec":
        data = json.loads(text)
        if data.get("version") != SPEC_VERSION:
            raise FeatureError(f"feature spec version {data.get('version')} is not {SPEC_VERSION}")
        return cls(
            features=[FeatureDef(**f) for f in data["features"]],
            version=data["version"],
            negative_sampling_rate=data.get("negative_sampling_rate"),
        )

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSpec":
        return cls.from_json(Path(path).read_text("utf-8"))


def _derive(frame: pd.DataFrame, name: str, source: str) -> pd.Series:
    import pandas as pd

    if name == "day_of_week":
        return pd.to_datetime(frame[source]).dt.dayofweek.astype("float64")
    raise FeatureError(f"no derivation for {name}")


def source_columns() -> list[str]:
    """Columns the features are computed from (what a training read needs)."""
    return [*CATEGORICAL, *(DERIVED.get(n, n) for n in NUMERIC)]


def feature_columns(spec: FeatureSpec, frame: pd.DataFrame) -> list[np.ndarray]:
    """Each feature's values in spec order, in the matrix's encoding (categoricals as
    vocabulary indices, NaN = missing). A column is float64, or int64 when it came so from the
    frame with nothing missing (its float64 values are exact); a float64 or int64 source column
    with no default is returned without a copy, so training can hand the columns to LightGBM
    as they are."""
    import numpy as np
    import pandas as pd

    n = len(frame)
    out: list[np.ndarray] = []
    for f in spec.features:
        source = f.derived_from or f.name
        if source not in frame.columns:
            if f.required:
                raise FeatureError(f"required feature {f.name!r} is missing from the input")
            out.append(np.full(n, np.nan if f.default is None else f.default, dtype=np.float64))
            continue
        values = _derive(frame, f.name, source) if f.derived_from else frame[source]
        if f.kind == "categorical":
            if isinstance(values.dtype, pd.CategoricalDtype) and values.cat.categories.dtype.kind in "OUT":
                codes = values.cat.set_categories(f.vocabulary).cat.codes.to_numpy()  # unseen -> -1
            else:
                codes = pd.Categorical(values.astype("string"), categories=f.vocabulary).codes
            col = codes.astype(np.float64)
            col[codes < 0] = np.nan
        elif values.dtype in (np.float64, np.int64):  # numpy-backed: NaN already means missing
            col = values.to_numpy()
        else:
            col = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if f.default is not None:
            col = np.where(np.isnan(col), f.default, col) if col.dtype.kind == "f" else col
        out.append(col)
    return out


def transform(spec: FeatureSpec, frame: pd.DataFrame) -> np.ndarray:
    """Frame -> float matrix in spec order (categoricals as vocabulary indices).

    Column-major (Fortran order): each feature is one contiguous write, and every element is
    written once. LightGBM's Dataset and predict read either order without a copy."""
    import numpy as np

    columns = feature_columns(spec, frame)
    out = np.empty((len(frame), len(columns)), dtype=np.float64, order="F")
    for j, col in enumerate(columns):
        out[:, j] = col
    return out


def recalibrate(p: np.ndarray, rate: float | None) -> np.ndarray:
    """Undo negative down-sampling at `rate`: q = p / (p + (1 - p) / rate)."""
    if not rate or rate >= 1:
        return p
    return p / (p + (1.0 - p) / rate)


@dataclass
class FittedModel:
    booster: lgb.Booster
    spec: FeatureSpec

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_matrix(transform(self.spec, frame))

    def predict_matrix(
        self, matrix: np.ndarray, score: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> np.ndarray:
        """Scores for an already-transformed matrix (serving builds it from JSON directly), by
        `score` when given (serving's compiled trees) or the booster, re-calibrated either way."""
        raw = (score or self.booster.predict)(matrix)
        return recalibrate(raw, self.spec.negative_sampling_rate)

    def model_bytes(self) -> bytes:
        return self.booster.model_to_string().encode("utf-8")


def load_model(model_text: str, spec_json: str) -> FittedModel:
    import lightgbm as lgb

    return FittedModel(lgb.Booster(model_str=model_text), FeatureSpec.from_json(spec_json))
