"""Request values -> the float matrix the model was trained on (the loose interface).

Three request shapes: rows (`instances`: a list of objects) and columns (`inputs`: an
object of equal-length lists), as in TF Serving's REST API, and an Arrow IPC stream (one
column per feature) for large batches, where JSON parsing would cost more than the model. Values are the raw source columns that
training reads (`adctr.model.contract.source_columns`). Names the model does not use are
ignored; optional features that are absent or null take the spec's default (LightGBM's
"missing" when none); a missing required feature or a value of the wrong type is refused,
listing every problem at once. Values are data, never trusted: NaN and infinities are
refused in numeric features (a missing value is null or left out), a string of any length
in a categorical is just an unseen category, and messages quote values shortened (`short_repr`).

`to_matrix` gives exactly what `adctr.model.contract.transform` gives for the same values
(vocabulary index for categoricals, NaN for unseen or missing, weekday derived from
`report_date`); it is written column-wise over plain lists because serving sees small
JSON batches, not DataFrames. tests/integration/test_serving_e2e.py holds the two to 1e-9.
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from adctr.model.contract import FeatureSpec

NUMBER_TYPES = frozenset({int, float, type(None)})
CATEGORY_TYPES = frozenset({str, int, type(None)})
DATE_TYPES = frozenset({str, date, type(None)})
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0, as pandas' dayofweek)
_SAMPLE = reprlib.Repr()  # keyword arguments only from Python 3.12
_SAMPLE.maxlevel, _SAMPLE.maxstring, _SAMPLE.maxother, _SAMPLE.maxlong = 2, 40, 40, 40
_SAMPLE.maxlist = _SAMPLE.maxdict = _SAMPLE.maxtuple = _SAMPLE.maxset = 4


class InstanceError(ValueError):
    """The request cannot be scored; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class _Column:
    index: int
    source: str
    kind: str  # "numeric" | "categorical" | "weekday"
    required: bool
    default: float | None
    lookup: dict[str, int] | None

    def place(self, out: np.ndarray, col: np.ndarray) -> None:
        """Write the column into the matrix, missing values taking the spec's default."""
        out[:, self.index] = col if self.default is None else np.where(np.isnan(col), self.default, col)


class MatrixBuilder:
    """Precomputed per model version (vocabulary lookups), reused for every request."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.width = len(spec.features)
        self.columns = []
        for j, f in enumerate(spec.features):
            if f.derived_from:
                if f.name != "day_of_week":
                    raise ValueError(f"serving cannot derive feature {f.name!r}")
                kind = "weekday"
            else:
                kind = f.kind
            lookup = {v: i for i, v in enumerate(f.vocabulary)} if kind == "categorical" else None
            self.columns.append(_Column(j, f.derived_from or f.name, kind, f.required, f.default, lookup))
        self.sources = sorted({c.source for c in self.columns})

    def columns_of_instances(self, instances: Any) -> tuple[dict[str, list], int]:
        if not isinstance(instances, list) or not instances:
            raise InstanceError(["`instances` must be a non-empty list of objects"])
        if not all(type(inst) is dict for inst in instances):
            bad = [i for i, inst in enumerate(instances) if not isinstance(inst, dict)]
            raise InstanceError([f"{_where(bad)} is not an object"])
        return {s: [inst.get(s) for inst in instances] for s in self.sources}, len(instances)

    def columns_of_inputs(self, inputs: Any) -> tuple[dict[str, list], int]:
        if not isinstance(inputs, dict) or not inputs:
            raise InstanceError(["`inputs` must be an object of equal-length lists"])
        lengths = {k: len(v) for k, v in inputs.items() if isinstance(v, list)}
        problems = [f"`inputs.{short_repr(k)}` must be a list" for k, v in inputs.items() if not isinstance(v, list)]
        if len(set(lengths.values())) > 1 or 0 in lengths.values():
            problems.append(f"`inputs` lists must be non-empty and of equal length, not {short_repr(lengths)}")
        if problems:
            raise InstanceError(problems)
        n = next(iter(lengths.values()))
        return {s: inputs.get(s) or [None] * n for s in self.sources}, n

    def matrix(self, columns: dict[str, list], n: int) -> np.ndarray:
        out = np.empty((n, self.width), dtype=np.float64)
        problems: list[str] = []
        for c in self.columns:
            values = columns[c.source]
            types = set(map(type, values))
            if c.required and type(None) in types:
                problems.append(f"missing required feature {c.source!r} ({_where(_none_at(values))})")
                continue
            if c.kind == "numeric":
                col = self._numbers(c, values, types, problems)
            elif c.kind == "categorical":
                col = self._categories(c, values, types, problems)
            else:
                col = self._weekdays(c, values, types, problems)
            if col is not None:
                c.place(out, col)
        if problems:
            raise InstanceError(sorted(set(problems), key=problems.index))
        _refuse_infinite(self.columns, out)
        return out

    @staticmethod
    def _numbers(c: _Column, values: list, types: set, problems: list[str]) -> np.ndarray | None:
        if not types <= NUMBER_TYPES:
            bad = [i for i, v in enumerate(values) if type(v) not in NUMBER_TYPES]
            problems.append(f"feature {c.source!r} must be a number ({_where(bad)}, e.g. {short_repr(values[bad[0]])})")
            return None
        try:
            col = np.array(values, dtype=np.float64)  # None -> NaN
        except OverflowError:  # an integer beyond float64
            bad = [i for i, v in enumerate(values) if type(v) is int and not _fits_float(v)]
            example = short_repr(values[bad[0]])
            problems.append(f"feature {c.source!r} must be a finite number ({_where(bad)}, e.g. {example})")
            return None
        if c.required and np.isnan(col).any():
            rows = np.flatnonzero(np.isnan(col)).tolist()
            problems.append(f"missing required feature {c.source!r} ({_where(rows)}: NaN)")
            return None
        return col

    @staticmethod
    def _categories(c: _Column, values: list, types: set, problems: list[str]) -> np.ndarray | None:
        if not types <= CATEGORY_TYPES:
            bad = [i for i, v in enumerate(values) if type(v) not in CATEGORY_TYPES]
            problems.append(f"feature {c.source!r} must be a string ({_where(bad)}, e.g. {short_repr(values[bad[0]])})")
            return None
        if int in types:
            values = [None if v is None else str(v) for v in values]
        get = c.lookup.get  # type: ignore[union-attr]
        codes = np.fromiter((get(v, -1) for v in values), dtype=np.float64, count=len(values))
        codes[codes < 0] = np.nan  # unseen category or null -> missing
        return codes

    @staticmethod
    def _weekdays(c: _Column, values: list, types: set, problems: list[str]) -> np.ndarray | None:
        bad = [] if types <= DATE_TYPES else [i for i, v in enumerate(values) if type(v) not in DATE_TYPES]
        if not bad:
            try:
                days = np.array([v if v is None or isinstance(v, date) else v[:10] for v in values],
                                dtype="datetime64[D]")  # fmt: skip
            except ValueError:
                bad = [i for i, v in enumerate(values) if isinstance(v, str) and not _is_iso_date(v)]
        if bad:
            example = short_repr(values[bad[0]])
            problems.append(f"feature {c.source!r} must be a YYYY-MM-DD date ({_where(bad)}, e.g. {example})")
            return None
        weekday = ((days.astype(np.int64) + EPOCH_WEEKDAY) % 7).astype(np.float64)
        weekday[np.isnat(days)] = np.nan
        return weekday


class ArrowMatrixBuilder:
    """The same conversion for an Arrow table (columns by name, nulls = missing)."""

    def __init__(self, builder: MatrixBuilder, spec: FeatureSpec) -> None:
        import pyarrow as pa

        self.builder = builder
        self.vocab = {f.name: pa.array(f.vocabulary, pa.string()) for f in spec.features if f.kind == "categorical"}

    def matrix(self, table: Any) -> np.ndarray:
        import pyarrow as pa

        n = table.num_rows
        if n == 0:
            raise InstanceError(["the Arrow stream holds no rows"])
        names = table.column_names
        twice = sorted({name for name in names if names.count(name) > 1} & set(self.builder.sources))
        if twice:
            raise InstanceError([f"the Arrow stream has more than one column {short_repr(name)}" for name in twice])
        out = np.empty((n, self.builder.width), dtype=np.float64)
        problems: list[str] = []
        present = set(names)
        for c in self.builder.columns:
            if c.source not in present:
                if c.required:
                    problems.append(f"missing required feature {c.source!r} (no such column)")
                    continue
                col = np.full(n, np.nan)
            else:
                try:
                    col = self._column(c, table.column(c.source), problems)
                except (pa.ArrowException, OSError) as exc:  # a cast Arrow refuses
                    problems.append(f"feature {c.source!r} cannot be read: {short_repr(str(exc))}")
                    continue
                if col is None:
                    continue
            c.place(out, col)
        if problems:
            raise InstanceError(problems)
        _refuse_infinite(self.builder.columns, out)
        return out

    def _column(self, c: _Column, arr: Any, problems: list[str]) -> np.ndarray | None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        t = arr.type
        if c.required and arr.null_count:
            problems.append(f"missing required feature {c.source!r} ({arr.null_count} null rows)")
            return None
        if c.kind == "numeric":
            if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
                problems.append(f"feature {c.source!r} must be a number, not Arrow {t}")
                return None
            # safe=False: a 64-bit integer beyond 2**53 rounds, as it does in the JSON path.
            col = pc.cast(arr, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
            if c.required and np.isnan(col).any():
                problems.append(f"missing required feature {c.source!r} ({int(np.isnan(col).sum())} NaN rows)")
                return None
            return col
        if c.kind == "categorical":
            if pa.types.is_integer(t):
                arr, t = pc.cast(arr, pa.string()), pa.string()
            if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
                problems.append(f"feature {c.source!r} must be a string, not Arrow {t}")
                return None
            idx = pc.index_in(arr, value_set=self.vocab[c.source])
            return pc.cast(idx, pa.float64()).to_numpy(zero_copy_only=False)  # not found -> NaN
        return self._weekday(c, arr, t, problems)

    @staticmethod
    def _weekday(c: _Column, arr: Any, t: Any, problems: list[str]) -> np.ndarray | None:
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            if pa.types.is_string(t) or pa.types.is_large_string(t):
                arr = pc.cast(pc.utf8_slice_codeunits(arr, 0, 10), pa.date32())
            elif pa.types.is_timestamp(t):
                arr = pc.cast(arr, pa.date32())
            elif not pa.types.is_date32(t):
                raise pa.ArrowInvalid(f"Arrow {t}")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            problems.append(f"feature {c.source!r} must be a YYYY-MM-DD date ({short_repr(str(exc))})")
            return None
        days = pc.cast(arr, pa.int32()).to_numpy(zero_copy_only=False)  # nulls -> NaN (float)
        return (days + EPOCH_WEEKDAY) % 7


def read_arrow(raw: bytes, max_rows: int) -> Any:
    """The Arrow IPC stream of a request body as a table, fully validated before any kernel
    touches it (a stream with forged offsets would otherwise read out of bounds).

    Stops at the batch that passes `max_rows` (`LimitExceeded`, checked by the caller).
    """
    import pyarrow as pa

    from adctr.serving.limits import LimitExceeded

    rows = 0
    try:
        reader = pa.ipc.open_stream(raw)
        batches = []
        for batch in reader:
            rows += batch.num_rows
            if rows > max_rows:
                raise LimitExceeded("max_instances", max_rows, f"the Arrow stream's rows (more than {max_rows:,})")
            batch.validate(full=True)
            batches.append(batch)
        return pa.Table.from_batches(batches, schema=reader.schema)
    except (pa.ArrowException, OSError) as exc:
        raise InstanceError([f"the body is not an Arrow IPC stream: {short_repr(str(exc))}"]) from None


def arrow_request_body(frame: Any) -> bytes:
    """A pandas DataFrame or Arrow table as the Arrow IPC stream the service accepts (clients)."""
    import pyarrow as pa

    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def json_instances(frame: Any) -> list[dict[str, Any]]:
    """A pandas DataFrame's rows as JSON `instances`, the way a client would send them:
    missing values (None, NA, NaN) left out, dates as YYYY-MM-DD, numpy scalars as numbers."""
    import pandas as pd

    out = []
    for row in frame.to_dict("records"):
        inst = {}
        for k, v in row.items():
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                continue
            if hasattr(v, "isoformat"):
                v = v.isoformat()
            elif isinstance(v, np.generic):
                v = v.item()
            inst[k] = v
        out.append(inst)
    return out


def _fits_float(v: int) -> bool:
    try:
        float(v)
        return True
    except OverflowError:
        return False


def short_repr(value: Any) -> str:
    """A value quoted in a message: shortened, so a huge or deeply nested value stays small."""
    return _SAMPLE.repr(value)


def _refuse_infinite(columns: list[_Column], out: np.ndarray) -> None:
    """One pass over the finished matrix (cheap); names the features only when it fails."""
    if not np.isinf(out).any():
        return
    problems = []
    for c in columns:
        rows = np.flatnonzero(np.isinf(out[:, c.index])).tolist()
        if rows:
            problems.append(f"feature {c.source!r} must be a finite number ({_where(rows)}: infinity)")
    raise InstanceError(problems)


def _is_iso_date(v: str) -> bool:
    try:
        date.fromisoformat(v[:10])
        return True
    except ValueError:
        return False


def _none_at(values: list) -> list[int]:
    return [i for i, v in enumerate(values) if v is None]


def _where(rows: list[int]) -> str:
    shown = ", ".join(str(i) for i in rows[:5])
    return (f"instance {shown}" if len(rows) == 1 else f"instances {shown}") + (" ..." if len(rows) > 5 else "")


def to_matrix(spec: FeatureSpec, instances: Any = None, inputs: Any = None) -> np.ndarray:
    """One-off conversion (the reader keeps a MatrixBuilder per loaded version)."""
    builder = MatrixBuilder(spec)
    columns, n = builder.columns_of_inputs(inputs) if inputs is not None else builder.columns_of_instances(instances)
    return builder.matrix(columns, n)
