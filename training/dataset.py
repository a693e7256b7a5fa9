"""Training examples from the warehouse: planned by date, checked, and read split by split.

The split is by report date, never at random: the holdout is the newest days, the
validation split (early stopping) the days before it, training the rest. A model is
judged on days it has not seen, as it will be in production.

A 30-day window at production volume is tens of millions of rows, more than a worker's
memory as one frame. So the examples are first *planned* with one aggregate query per
snapshot (the dates, row counts, label checks and base rate, in the warehouse), and each
split is then read as a stream of ordered batches (`Examples.batches`) that training turns
into LightGBM's Dataset without holding the split as a frame. Only the holdout, a few days,
is read whole (`Examples.frame`), because evaluation slices and compares it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from adctr.core.errors import PermanentError

KEY_COLUMNS = ("report_date", "medium", "creative_id", "device")
SPLITS = ("train", "valid", "holdout")
BATCH_ROWS = 262_144  # rows per streamed batch: ~110 MB of a 55-column split, well inside a worker


class DatasetError(PermanentError, ValueError):
    """The examples cannot support a trustworthy train/validation/holdout split."""


@dataclass(frozen=True)
class DayCounts:
    """One report date of the snapshot, from the planning query (rows with trials > 0)."""

    report_date: date
    rows: int
    positives: float
    trials: float


@dataclass(frozen=True)
class Examples:
    """A snapshot's examples, planned: which dates each split holds and what they add up to.
    Reads happen on demand, split by split, in key order (row order is part of
    reproducibility: LightGBM samples rows by position to find its bins)."""

    warehouse: Any
    table_id: str
    snapshot_date: date
    num: str
    den: str
    columns: tuple[str, ...]
    days: dict[str, tuple[DayCounts, ...]]
    batch_rows: int = BATCH_ROWS

    @property
    def dates(self) -> dict[str, list[str]]:
        return {s: [d.report_date.isoformat() for d in self.days[s]] for s in SPLITS}

    def rows(self, split: str) -> int:
        return sum(d.rows for d in self.days[split])

    def base_rate(self, split: str = "train") -> float:
        return sum(d.positives for d in self.days[split]) / sum(d.trials for d in self.days[split])

    def _where(self, split: str) -> tuple[str, dict[str, Any]]:
        days = self.days[split]
        return (
            f"snapshot_date = @snapshot_date and report_date between @first_day and @last_day and {self.den} > 0",
            {"snapshot_date": self.snapshot_date, "first_day": days[0].report_date, "last_day": days[-1].report_date},
        )

    def _select(self, split: str) -> tuple[str, dict[str, Any]]:
        where, params = self._where(split)
        sql = (f"select {', '.join(self.columns)} from {self.table_id} where {where} "
               f"order by {', '.join(KEY_COLUMNS)}")  # fmt: skip
        return sql, params

    def batches(self, split: str) -> Iterator[pd.DataFrame]:
        """The split's rows in key order, `batch_rows` at a time (strings as categoricals)."""
        sql, params = self._select(split)
        seen = 0
        for batch in self.warehouse.query_arrow_batches(sql, params, self.batch_rows):
            if batch.num_rows:
                seen += batch.num_rows
                yield batch.to_pandas(strings_to_categorical=True)
        self._check_count(split, seen)

    def frame(self, split: str) -> pd.DataFrame:
        """The whole split as one frame (the holdout; small windows)."""
        sql, params = self._select(split)
        frame = self.warehouse.query_arrow(sql, params).to_pandas(strings_to_categorical=True)
        self._check_count(split, len(frame))
        return frame

    def vocabularies(self, names: tuple[str, ...], split: str = "train") -> dict[str, list[str]]:
        """Each categorical column's distinct non-null values in the split, sorted (one
        `select distinct` of the columns together: their combinations are few)."""
        where, params = self._where(split)
        result = self.warehouse.query_arrow(f"select distinct {', '.join(names)} from {self.table_id} where {where}", params)
        return {n: sorted({str(v) for v in result.column(n).to_pylist() if v is not None}) for n in names}

    def _check_count(self, split: str, seen: int) -> None:
        if seen != self.rows(split):  # the table changed between planning and reading
            raise DatasetError(
                f"{self.table_id} snapshot {self.snapshot_date}: the {split} split planned {self.rows(split)} rows "
                f"and read {seen}; the table changed while training read it, nothing was trained"
            )


def _bad_label(num: str, den: str) -> str:
    """SQL predicate of a row whose label rate num/den is not a rate in [0, 1]."""
    return f"{num} is null or {den} is null or {num} < 0 or {den} < 0 or {num} > {den}"


def _day_counts(warehouse, table_id: str, snapshot_date: date, num: str, den: str) -> list[dict[str, Any]]:  # noqa: ANN001
    bad = _bad_label(num, den)
    result = warehouse.query_arrow(
        f"select report_date, count(*) as all_rows, countif({bad}) as bad_rows, countif({den} > 0) as usable_rows, "
        f"sum(if({den} > 0, {num}, 0)) as positives, sum(if({den} > 0, {den}, 0)) as trials "
        f"from {table_id} where snapshot_date = @snapshot_date group by report_date order by report_date",
        {"snapshot_date": snapshot_date},
    )
    return result.to_pylist()


def _first_bad_label(warehouse, table_id: str, snapshot_date: date, num: str, den: str, count: int) -> DatasetError:  # noqa: ANN001
    rows = warehouse.query_arrow(
        f"select {', '.join(KEY_COLUMNS)}, {num}, {den} from {table_id} where snapshot_date = @snapshot_date "
        f"and ({_bad_label(num, den)}) "
        f"order by {', '.join(KEY_COLUMNS)} limit 1",
        {"snapshot_date": snapshot_date},
    ).to_pylist()
    r = rows[0] if rows else {}
    return DatasetError(
        f"{table_id}: {count} rows have a label rate {num}/{den} outside [0, 1] (first: "
        f"{r.get('report_date')} {r.get('medium')} {r.get('creative_id')} {r.get('device')}: "
        f"{num}={r.get(num)}, {den}={r.get(den)}); nothing was trained"
    )


def split_days(days: list[DayCounts], holdout_days: int, validation_days: int) -> dict[str, tuple[DayCounts, ...]]:
    """The newest `holdout_days` dates are the holdout, the `validation_days` before them
    validation, the rest training."""
    need = holdout_days + validation_days + 1
    if len(days) < need:
        raise DatasetError(
            f"need at least {need} report dates ({holdout_days} holdout, {validation_days} "
            f"validation, 1+ training), the examples have {len(days)}"
        )
    return {
        "train": tuple(days[: -(holdout_days + validation_days)]),
        "valid": tuple(days[-(holdout_days + validation_days) : -holdout_days]),
        "holdout": tuple(days[-holdout_days:]),
    }


def plan_examples(warehouse, cfg: dict, snapshot_date: date, batch_rows: int = BATCH_ROWS) -> Examples:  # noqa: ANN001
    """A model's examples for the snapshot, checked and split by time (what training reads).

    `cfg["examples_source"]`, when set, is the table read instead of `examples_table` (whose
    schema file still types it). One aggregate query over the snapshot: refuses bad labels (naming the first bad row),
    leaves out rows with no trials, splits the dates, and refuses a training split without
    positives, all before a row is read. Only the label and feature source columns are read.
    """
    from adctr.core.table_schemas import get_schema
    from adctr.model.contract import source_columns

    num, den, logical = cfg["label_numerator"], cfg["label_denominator"], cfg["examples_table"]
    table_id = cfg.get("examples_source") or logical  # a branch variant's scoped copy, if it rebuilds it
    counts = _day_counts(warehouse, table_id, snapshot_date, num, den)
    if not counts:
        raise DatasetError(f"{table_id} has no rows for snapshot {snapshot_date}")
    bad = sum(int(c["bad_rows"]) for c in counts)
    if bad:
        raise _first_bad_label(warehouse, table_id, snapshot_date, num, den, bad)
    days = [DayCounts(c["report_date"], int(c["usable_rows"]), float(c["positives"]), float(c["trials"]))
            for c in counts if c["usable_rows"]]  # fmt: skip
    splits = split_days(days, int(cfg["holdout_days"]), int(cfg["validation_days"]))
    train = splits["train"]
    if sum(d.positives for d in train) <= 0:
        raise DatasetError(
            f"the training split of {table_id} ({train[0].report_date} ..) has no positives ({num} is 0 on "
            f"all {sum(d.rows for d in train)} rows); nothing was trained"
        )
    wanted = {num, den, *source_columns(), *KEY_COLUMNS}
    columns = tuple(c for c in get_schema(logical).column_names if c in wanted)
    return Examples(warehouse, table_id, snapshot_date, num, den, columns, splits, batch_rows)
