"""Request instances -> the frame `training.features.transform` expects (the loose interface).

An instance is a JSON object of raw feature values, the same columns training reads
(`training.features.source_columns`). Keys the model does not use are ignored; optional
features that are absent or null take the spec's default (LightGBM's "missing" when none);
a missing required feature or a value of the wrong type is refused, listing every problem.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from training.features import FeatureSpec


class InstanceError(ValueError):
    """The request's instances cannot be scored; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _indices(rows: list[int]) -> str:
    shown = ", ".join(str(i) for i in rows[:5])
    return f"instance {shown}" if len(rows) == 1 else f"instances {shown}" + (" ..." if len(rows) > 5 else "")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_category(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))


def _is_date(v: Any) -> bool:
    if isinstance(v, date):
        return True
    if not isinstance(v, str):
        return False
    try:
        date.fromisoformat(v[:10])
        return True
    except ValueError:
        return False


def to_frame(spec: FeatureSpec, instances: Any) -> pd.DataFrame:
    """Validate `instances` (a list of objects) against `spec` and build the input frame."""
    if not isinstance(instances, list) or not instances:
        raise InstanceError(["`instances` must be a non-empty list of objects"])
    not_objects = [i for i, inst in enumerate(instances) if not isinstance(inst, dict)]
    if not_objects:
        raise InstanceError([f"{_indices(not_objects)} is not an object"])
    problems: list[str] = []
    columns: dict[str, Any] = {}
    for f in spec.features:
        source = f.derived_from or f.name
        if source in columns:
            continue
        values = [inst.get(source) for inst in instances]
        absent = [i for i, v in enumerate(values) if v is None]
        if f.required and absent:
            problems.append(f"missing required feature {source!r} ({_indices(absent)})")
            continue
        if f.derived_from:
            check, kind = _is_date, "a YYYY-MM-DD date"
        elif f.kind == "categorical":
            check, kind = _is_category, "a string"
        else:
            check, kind = _is_number, "a number"
        wrong = [i for i, v in enumerate(values) if v is not None and not check(v)]
        if wrong:
            problems.append(f"feature {source!r} must be {kind} ({_indices(wrong)}, e.g. {values[wrong[0]]!r})")
            continue
        if f.derived_from:
            columns[source] = pd.to_datetime(pd.Series([None if v is None else str(v)[:10] for v in values]))
        elif f.kind == "categorical":
            columns[source] = pd.Series([None if v is None else str(v) for v in values], dtype="string")
        else:
            columns[source] = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    if problems:
        raise InstanceError(problems)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(instances)))
