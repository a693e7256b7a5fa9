"""Model quality against the truth: holdout log loss of the trained CTR and CVR models next to
the base-rate model and the Bayes-optimal model (the simulator's true probabilities).

    python bench/model_quality.py [--end 2026-11-20] [--window 28]

Builds a throwaway DuckDB from the simulator's world (final reports, no HTTP), runs every
SQL model for each day (with enough history before the window for the trailing features),
trains through training.pipeline exactly as the DAG does, and reports for each model the
share of the gap from base rate to Bayes-optimal that the model closes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FEATURE_WARMUP_DAYS = 28  # the longest trailing window of features.creative_daily


def final_raw(state: Any, day: date, media: list[str]) -> Any:
    """Raw partition for `day` as a final report (the attribution window has closed)."""
    import pyarrow as pa
    from adctr.core import settings
    from adctr.core.table_schemas import get_schema
    from adctr.ingestion.adapters.base import Report
    from adctr.ingestion.normalize import normalize_report
    from adctr.simulator.reports import report_table

    tables = []
    for medium in media:
        table = report_table(state.world, medium, day, day, state.world.final_day(day))
        normalized = normalize_report(
            Report(medium, day, f"{medium}-{day}", table), get_schema("raw.ad_performance"),
            get_schema("raw.ad_performance_quarantine"), sorted(settings.load_config("currencies")["jpy_per_unit"]),
            datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc),
        )  # fmt: skip
        tables.append(normalized.accepted)
    return pa.concat_tables(tables)


def build_warehouse(path: Path, end: date, window: int, attribution: int) -> Any:
    from adctr.core import settings
    from adctr.core.table_schemas import get_schema
    from adctr.ingestion.raw_load import configured_media
    from adctr.simulator.state import state_from_config
    from adctr.warehouse import elt
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    state = state_from_config(settings.load_config("simulator"), today=end + timedelta(days=1))
    wh = DuckDBWarehouse(path)
    media = list(configured_media())
    daily = elt.sql_models_for_dag("ad_performance_daily")
    span = window + attribution + FEATURE_WARMUP_DAYS
    for i in range(span - 1, -1, -1):
        day = end - timedelta(days=i)
        wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), day, final_raw(state, day, media))
        for model in daily:
            elt.build(model.table_id, day, wh)
    for model in elt.sql_models_for_dag("ctr_cvr_retrain"):
        elt.build(model.table_id, end, wh, params={"window_days": window})
    return wh, state


def truth(state: Any, frame: pd.DataFrame, column: str) -> np.ndarray:
    """The true probability of every row (report_date, medium, creative_id, device)."""
    keys = frame[["report_date", "medium"]].drop_duplicates()
    parts = [
        state.world.ground_truth(medium, pd.Timestamp(day).date()).to_pandas()
        for day, medium in keys.itertuples(index=False)
    ]
    table = pd.concat(parts)
    table["report_date"] = pd.to_datetime(table["report_date"]).dt.date
    left = frame.assign(report_date=pd.to_datetime(frame["report_date"]).dt.date)
    merged = left.merge(table, on=["report_date", "medium", "creative_id", "device"], how="left", validate="m:1")
    if merged[column].isna().any():
        raise RuntimeError(f"{int(merged[column].isna().sum())} holdout rows have no ground truth")
    return merged[column].to_numpy()


def measure(wh: Any, state: Any, end: date, models: tuple[str, ...] = ("ctr", "cvr")) -> dict[str, Any]:
    """Train each model on the warehouse's examples for `end`; its holdout log loss next to
    the base-rate and Bayes-optimal ones."""
    from training import metrics
    from training.config import model_config
    from training.dataset import training_splits
    from training.evaluate import base_rate_log_loss
    from training.trainer import fit

    result: dict[str, Any] = {}
    for model in models:
        cfg = model_config(model)
        num, den = cfg["label_numerator"], cfg["label_denominator"]
        splits = training_splits(wh, cfg, end)
        fitted, info = fit(splits.train, splits.valid, num, den, cfg)
        k = splits.holdout[num].to_numpy(dtype=float)
        n = splits.holdout[den].to_numpy(dtype=float)
        model_ll = metrics.log_loss(fitted.predict(splits.holdout), k, n)
        base_ll = base_rate_log_loss(splits.train, splits.holdout, num, den)
        bayes_ll = metrics.log_loss(truth(state, splits.holdout, f"true_{model}"), k, n)
        result[model] = {
            "train_rows": info["train_rows"], "holdout_rows": len(splits.holdout),
            "holdout_trials": float(n.sum()), "best_iteration": info["best_iteration"],
            "log_loss": round(model_ll, 6), "base_rate_log_loss": round(base_ll, 6),
            "bayes_optimal_log_loss": round(bayes_ll, 6),
            "gap_closed": round((base_ll - model_ll) / (base_ll - bayes_ll), 4),
        }  # fmt: skip
    return result


def run(end: date = date(2026, 11, 20), window: int = 28) -> dict[str, Any]:
    from training.config import model_config

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        attribution = int(model_config("cvr").get("attribution_window_days", 7))
        wh, state = build_warehouse(Path(tmp) / "quality.duckdb", end, window, attribution)
        built_s = time.perf_counter() - started
        result = {"end": end.isoformat(), "window_days": window, "build_s": round(built_s, 1)}
        result.update(measure(wh, state, end))
    result["total_s"] = round(time.perf_counter() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 20))
    parser.add_argument("--window", type=int, default=28)
    args = parser.parse_args()
    print(json.dumps(run(args.end, args.window), indent=2))


if __name__ == "__main__":
    main()
