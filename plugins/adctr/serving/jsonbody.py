"""JSON request bodies decoded straight into the feature matrix (msgspec), per model version.

The validating path (`json.loads`, then `MatrixBuilder`) builds a dict per instance and
checks every value's type in Python; at 1,000 instances that costs several times the
model. Here msgspec decodes the body into one typed struct per instance, keeping only
the model's source columns with their types checked in C, and the matrix is filled from
those values in one pass per feature kind.

This path only ever succeeds or bails out (`None`): anything unusual (a wrong type, a
missing required value, NaN or a number out of range, an unknown version, both or neither
request shapes, a body msgspec refuses) goes to the validating path, which gives the same
answer it always gave, or names every problem. When it succeeds the matrix equals the
validating path's bit for bit: msgspec parses numbers with correct rounding, as Python
does, and the conversions below are the validating path's, in the same order.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import msgspec
import numpy as np
from msgspec.structs import astuple

from adctr.serving.instances import EPOCH_WEEKDAY, MatrixBuilder

_NAN = float("nan")
_FIELD_TYPES: dict[str, Any] = {"numeric": float | None, "categorical": str | int | None, "weekday": str | None}
_FIELD_DEFAULTS: dict[str, Any] = {"numeric": _NAN, "categorical": None, "weekday": None}
_LIST_DECODERS = {kind: msgspec.json.Decoder(list[t]) for kind, t in _FIELD_TYPES.items()}  # type: ignore[valid-type]
_ANY_LIST = msgspec.json.Decoder(list[msgspec.Raw])  # a column the model does not use: a list, unread


@dataclass(frozen=True)
class Parsed:
    """A decoded body: a column of values per source, and `version` (UNSET when the body has none)."""

    columns: dict[str, Sequence[Any]]
    version: Any
    count: int


class JsonBodyDecoder:
    """Built once per loaded version from its `MatrixBuilder` (types, lookups, positions)."""

    def __init__(self, builder: MatrixBuilder) -> None:
        self.builder = builder
        kinds = {c.source: c.kind for c in builder.columns}
        field = {source: f"f{i}" for i, source in enumerate(builder.sources)}  # names need not be identifiers
        instance = msgspec.defstruct(
            "Instance",
            [(field[s], _FIELD_TYPES[kinds[s]], _FIELD_DEFAULTS[kinds[s]]) for s in builder.sources],
            rename={f: s for s, f in field.items()},
            gc=False,  # scalars only: no cycles, and 1,000 structs do not wake the collector
        )
        body = msgspec.defstruct("Body", [
            ("instances", list[instance] | msgspec.UnsetType, msgspec.UNSET),  # type: ignore[valid-type]
            ("inputs", dict[str, msgspec.Raw] | msgspec.UnsetType, msgspec.UNSET),
            ("version", int | str | None | msgspec.UnsetType, msgspec.UNSET),
        ])  # fmt: skip
        self._decoder = msgspec.json.Decoder(body)
        self._kinds = kinds
        numeric = [c for c in builder.columns if c.kind == "numeric"]
        self._numeric_index = [c.index for c in numeric]
        self._numeric_sources = [c.source for c in numeric]
        self._required_numeric = [c.index for c in numeric if c.required]
        self._defaults = [(c.index, c.default) for c in builder.columns if c.default is not None]
        self._others = [c for c in builder.columns if c.kind != "numeric"]
        # A categorical sent as an integer is looked up as str(v): the vocabulary entries that
        # are some integer's str() are keyed by that integer too (msgspec never yields a bool).
        self._lookups = {c.source: _with_integer_keys(c.lookup) for c in builder.columns if c.lookup is not None}

    def decode(self, raw: bytes) -> Parsed | None:
        try:
            body = self._decoder.decode(raw)
        except Exception:  # noqa: BLE001 - DecodeError, ValidationError, UnicodeDecodeError, RecursionError
            return None
        instances, inputs = body.instances, body.inputs
        if (instances is msgspec.UNSET) == (inputs is msgspec.UNSET):
            return None
        if instances is not msgspec.UNSET:
            if not instances:
                return None
            # Rows to columns in C: one tuple per instance (fields in source order), transposed.
            columns = dict(zip(self.builder.sources, zip(*map(astuple, instances))))
            return Parsed(columns, body.version, len(instances))
        decoded = self._columns(inputs)
        return None if decoded is None else Parsed(decoded[0], body.version, decoded[1])

    def _columns(self, inputs: dict[str, msgspec.Raw]) -> tuple[dict[str, list], int] | None:
        columns: dict[str, list] = {}
        try:
            for key, raw in inputs.items():
                kind = self._kinds.get(key)
                columns[key] = (_ANY_LIST if kind is None else _LIST_DECODERS[kind]).decode(raw)
        except Exception:  # noqa: BLE001 - not a list, or a wrong type: the validating path names it
            return None
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1 or 0 in lengths:
            return None
        (n,) = lengths
        return {s: columns[s] if s in columns else [None] * n for s in self.builder.sources}, n

    def matrix(self, parsed: Parsed) -> np.ndarray | None:
        """The feature matrix, or None when a value needs the validating path's message."""
        n, columns = parsed.count, parsed.columns
        out = np.empty((n, self.builder.width), dtype=np.float64)
        if self._numeric_index:
            k = len(self._numeric_index)
            flat = chain.from_iterable(columns[s] for s in self._numeric_sources)
            # floats, NaN where left out, None where null (-> NaN, as np.array does): one C pass
            out[:, self._numeric_index] = np.fromiter(flat, np.float64, n * k).reshape(k, n).T
            if self._required_numeric and np.isnan(out[:, self._required_numeric]).any():
                return None
        for c in self._others:
            values = columns[c.source]
            if c.required and None in values:
                return None
            col = self._codes(c.source, values, n) if c.kind == "categorical" else _weekdays(values, n)
            if col is None:
                return None
            out[:, c.index] = col
        for j, default in self._defaults:
            np.copyto(out[:, j], default, where=np.isnan(out[:, j]))
        if np.isinf(out).any():
            return None
        return out

    def _codes(self, source: str, values: Sequence[Any], n: int) -> np.ndarray:
        """Vocabulary index; unseen or null -> NaN (missing)."""
        return np.fromiter(map(self._lookups[source].get, values, repeat(_NAN)), np.float64, n)


def _weekdays(values: Sequence[Any], n: int) -> np.ndarray | None:
    """Weekday of each YYYY-MM-DD (or longer) string, looked up once per distinct value."""
    lookup: dict[str | None, float | None] = {v: _weekday_of(v[:10]) for v in set(values) if v is not None}
    if None in lookup.values():
        return None
    lookup[None] = _NAN
    return np.fromiter(map(lookup.__getitem__, values), np.float64, n)


@functools.lru_cache(maxsize=4096)
def _weekday_of(day: str) -> float | None:
    """The weekday (Monday = 0) of a date string as numpy parses it, NaN for NaT, None when it is
    not a date; cached, as requests mostly carry the same few report dates."""
    try:
        days = np.array([day], dtype="datetime64[D]")
    except ValueError:
        return None
    if np.isnat(days[0]):
        return _NAN
    return float((days.astype(np.int64)[0] + EPOCH_WEEKDAY) % 7)


def _with_integer_keys(lookup: dict[str, int]) -> dict[str | int, int]:
    out: dict[str | int, int] = dict(lookup)
    for value, code in lookup.items():
        try:
            number = int(value)
        except ValueError:
            continue
        if str(number) == value:
            out[number] = code
    return out
