"""Training examples from the warehouse, read as Arrow, split by time.

The split is by report date, never at random: the holdout is the newest days, the
validation split (early stopping) the days before it, training the rest. A model is
judged on days it has not seen, as it will be in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from adctr.core.errors import PermanentError


class DatasetError(PermanentError, ValueError):
    """The examples cannot support a trustworthy train/validation/holdout split."""


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame
    dates: dict[str, list[str]]


KEY_COLUMNS = ("report_date", "medium", "creative_id", "device")


def load_examples(
    warehouse, table_id: str, snapshot_date: date, columns: list[str] | None = None  # noqa: ANN001
) -> pd.DataFrame:
    """The snapshot's examples, ordered by key (row order is part of reproducibility).

    Read as Arrow and converted column-wise; only `columns` (plus the key) are read, and
    strings arrive as pandas categoricals (typed, and small in memory for large windows).
    """
    from adctr.core.table_schemas import get_schema

    schema = get_schema(table_id)
    wanted = [c for c in schema.column_names if columns is None or c in columns or c in KEY_COLUMNS]
    arrow = warehouse.query_arrow(
        f"select {', '.join(wanted)} from {table_id} where {schema.partition_field} = @snapshot_date "
        f"order by {', '.join(KEY_COLUMNS)}",
        {"snapshot_date": snapshot_date},
    )
    frame = arrow.to_pandas(strings_to_categorical=True)
    if frame.empty:
        raise DatasetError(f"{table_id} has no rows for snapshot {snapshot_date}")
    return frame


def check_labels(frame: pd.DataFrame, num: str, den: str, table_id: str) -> None:
    """Every row's rate num/den must lie in [0, 1]; the message names a bad row."""
    k, n = frame[num], frame[den]
    bad = k.isna() | n.isna() | (k < 0) | (n < 0) | (k > n)
    if bad.any():
        row = frame[bad].iloc[0]
        raise DatasetError(
            f"{table_id}: {int(bad.sum())} rows have a label rate {num}/{den} outside [0, 1] (first: "
            f"{row.get('report_date')} {row.get('medium')} {row.get('creative_id')} {row.get('device')}: "
            f"{num}={row[num]}, {den}={row[den]}); nothing was trained"
        )


def check_positives(frame: pd.DataFrame, num: str, what: str) -> None:
    if len(frame) == 0 or float(frame[num].sum()) <= 0:
        raise DatasetError(f"the {what} has no positives ({num} is 0 on all {len(frame)} rows); nothing was trained")


def split_by_date(frame: pd.DataFrame, holdout_days: int, validation_days: int) -> Splits:
    days = sorted(frame["report_date"].unique())
    need = holdout_days + validation_days + 1
    if len(days) < need:
        raise DatasetError(
            f"need at least {need} report dates ({holdout_days} holdout, {validation_days} "
            f"validation, 1+ training), the examples have {len(days)}"
        )
    holdout_d = days[-holdout_days:]
    valid_d = days[-(holdout_days + validation_days) : -holdout_days]
    train_d = days[: -(holdout_days + validation_days)]

    ordered = frame["report_date"].is_monotonic_increasing
    dates = frame["report_date"].to_numpy()

    def pick(ds: list) -> pd.DataFrame:  # noqa: ANN001
        if ordered:  # rows are sorted by date: each split is one slice, no copy of the rest
            lo, hi = dates.searchsorted(ds[0], "left"), dates.searchsorted(ds[-1], "right")
            return frame.iloc[lo:hi].reset_index(drop=True)
        return frame[frame["report_date"].isin(ds)].reset_index(drop=True)

    return Splits(
        train=pick(train_d),
        valid=pick(valid_d),
        holdout=pick(holdout_d),
        dates={
            "train": [str(d) for d in train_d],
            "valid": [str(d) for d in valid_d],
            "holdout": [str(d) for d in holdout_d],
        },
    )


def training_splits(warehouse, cfg: dict, snapshot_date: date) -> Splits:  # noqa: ANN001
    """A model's examples for the snapshot, checked and split by time (what training reads).

    Reads only the label and feature source columns, refuses bad labels, drops rows with no
    trials, splits by date and refuses a training split without positives.
    """
    from adctr.model.contract import source_columns

    num, den, table_id = cfg["label_numerator"], cfg["label_denominator"], cfg["examples_table"]
    frame = load_examples(warehouse, table_id, snapshot_date, [num, den, *source_columns()])
    check_labels(frame, num, den, table_id)
    if (frame[den] <= 0).any():
        frame = frame[frame[den] > 0]
    splits = split_by_date(frame, int(cfg["holdout_days"]), int(cfg["validation_days"]))
    check_positives(splits.train, num, f"training split of {table_id} ({', '.join(splits.dates['train'][:1])} ..)")
    return splits
