"""What a branch variant costs next to main: time and bytes of its first deployment (it
backfills the window its training sets read) and of its nightly run, on DuckDB, with the
bytes BigQuery would process for the same queries (the dry-run estimate computed on DuckDB's
rows: adctr.warehouse.cost.estimate_on_duckdb).

    python bench/variant_cost.py --rows-per-day 100000 --days 35

Main's history (raw, staging, features) is built for `days` days, then main's nightly SQL is
measured: the daily DAG's models for the new day plus the training sets. The SQL variant
adds a 14-day creative CTR to features.creative_daily (so it rebuilds that model and the
training sets, and reads everything else from production); a config-only variant rebuilds
nothing. Each build is followed by its quality gate, as in the DAGs. Training itself is left
out: it costs main and every variant the same.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NEW_COLUMN = "creative_ctr_14d"
TRAINING = ("training.ctr_examples", "training.cvr_examples")


def edit_once(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in a file (a branch's edit; refuses if not exactly one)."""
    text = path.read_text("utf-8")
    if text.count(old) != 1:
        raise AssertionError(f"{path}: expected one {old!r}")
    path.write_text(text.replace(old, new), "utf-8")


def add_trailing_ctr(checkout: Path) -> None:
    """The SQL branch: a new trailing statistic, the creative's CTR over 14 days, in
    features.creative_daily's SQL, its schema files (and the training sets', which select
    every feature column) and their suites."""
    edit_once(checkout / "sql/features/creative_daily.sql", "\nfinal as (", """
creative_trailing_14d as (
    select
        creative_id,
        sum(impressions) as impressions_14d,
        sum(clicks) as clicks_14d
    from history
    where report_date >= date_sub(@ds, interval 14 day)
    group by creative_id
),

final as (""")
    edit_once(checkout / "sql/features/creative_daily.sql", "        today.conversions\n    from today\n",
          f"        today.conversions,\n        safe_divide(creative_trailing_14d.clicks_14d, "
          f"creative_trailing_14d.impressions_14d) as {NEW_COLUMN}\n    from today\n"
          "    left join creative_trailing_14d on today.creative_id = creative_trailing_14d.creative_id\n")  # fmt: skip
    column = f"  - {{name: {NEW_COLUMN}, type: FLOAT64, description: Clicks / impressions of the creative over 14 days}}\n"
    for table in ("features/creative_daily", "training/ctr_examples", "training/cvr_examples"):
        path = checkout / f"sql/{table}.yml"
        path.write_text(path.read_text("utf-8").rstrip("\n") + "\n" + column, "utf-8")
        suite_path = checkout / f"expectations/{table.replace('/', '.')}.json"
        suite = json.loads(suite_path.read_text("utf-8"))
        for e in suite["expectations"]:
            if e["type"] == "expect_table_columns_to_match_set":
                e["kwargs"]["column_set"].append(NEW_COLUMN)
        suite["expectations"].append({"type": "expect_column_values_to_be_between", "kwargs": {
            "column": NEW_COLUMN, "min_value": 0, "max_value": 1}, "meta": {"severity": "critical"}})  # fmt: skip
        suite_path.write_text(json.dumps(suite, indent=2), "utf-8")


def _elt_rebuild() -> Any:
    spec = importlib.util.spec_from_file_location("elt_rebuild", Path(__file__).with_name("elt_rebuild.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _deployment(dags: Path, name: str, sql_change: bool) -> Path:
    folder = dags / "variants" / name
    for part in ("sql", "expectations", "config"):
        shutil.copytree(ROOT / part, folder / part)
    (folder / "VARIANT").write_text(name + "\n")
    (folder / "GIT_COMMIT").write_text("bench\n")
    if sql_change:
        add_trailing_ctr(folder)
    else:
        models = folder / "config/models.yaml"
        models.write_text(models.read_text() + "\n# the branch: a config change only\n")
    return folder


class Meter:
    """Seconds and estimated BigQuery bytes of the builds (and gates) of one run."""

    def __init__(self, wh: Any) -> None:
        self.wh, self.seconds, self.bytes, self.partitions = wh, 0.0, 0, 0

    def estimate(self, table_id: str, day: date, params: dict[str, Any], scope: Any = None) -> None:
        from adctr.warehouse import cost, elt

        sql, _ = elt.checked_query(table_id, day, elt.param_overrides(table_id, params), scope)
        self.bytes += cost.estimate_on_duckdb(sql, elt.query_params(day), self.wh).processed
        self.partitions += 1

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 2), "bytes": self.bytes, "gb": round(self.bytes / 1e9, 3), "partitions": self.partitions}


def main_nightly(wh: Any, day: date, daily: bool, params: dict[str, Any]) -> Meter:
    """Main's SQL for a night: the daily DAG's models for `day` (if `daily`) and the training sets."""
    from adctr.quality import validate_partition
    from adctr.warehouse import elt

    meter = Meter(wh)
    tables = [m.table_id for m in elt.sql_models_for_dag("ad_performance_daily")] if daily else []
    for table_id in [*tables, *TRAINING]:
        meter.estimate(table_id, day, params)
        t = time.perf_counter()
        elt.build(table_id, day, wh, params=elt.param_overrides(table_id, params))
        validate_partition(wh, table_id, day, "bench", build_docs=False)
        meter.seconds += time.perf_counter() - t
    return meter


def variant_run(wh: Any, folder: Path, day: date, params: dict[str, Any]) -> Meter:
    """The variant DAG's build and gate tasks for `day` (task bodies, without Airflow)."""
    from adctr.core import settings
    from adctr.orchestration.tasks.variants import build_scoped, validate_scoped
    from adctr.variants.plan import plan_for

    meter = Meter(wh)
    plan = plan_for(folder)
    for table_id in plan.rebuild:
        t = time.perf_counter()
        built = build_scoped(table_id, day.isoformat(), {"params": params}, str(folder))
        validate_scoped(table_id, built, day.isoformat(), {"params": params}, str(folder))
        meter.seconds += time.perf_counter() - t
        with settings.deployment(folder):
            for d in built["built"]:
                meter.estimate(table_id, date.fromisoformat(d), params, plan)
    return meter


def run(rows_per_day: int, days: int, attribution_window_days: int | None = None) -> dict[str, Any]:
    """`attribution_window_days` overrides the CVR set's (7) as the DAG's Param does: a history
    shorter than it leaves the CVR set empty."""
    params = {"attribution_window_days": attribution_window_days} if attribution_window_days is not None else {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ADCTR_VAR_DIR"] = tmp
        from adctr.warehouse import elt, get_warehouse

        elt_rebuild = _elt_rebuild()
        history = [date(2026, 10, 1) + timedelta(days=i) for i in range(days + 1)]
        snapshot, nightly = history[-2], history[-1]
        wh = get_warehouse()
        elt_rebuild.load_raw(wh, history, rows_per_day)
        elt_rebuild.ours(wh, history[:-1])  # main's daily layers, every day but the last
        main_first = main_nightly(wh, snapshot, False, params)
        sql_variant = _deployment(Path(tmp) / "dags", "exp-sql", sql_change=True)
        config_variant = _deployment(Path(tmp) / "dags", "exp-config", sql_change=False)
        first = variant_run(wh, sql_variant, snapshot, params)
        config_first = variant_run(wh, config_variant, snapshot, params)
        main_night = main_nightly(wh, nightly, True, params)
        night = variant_run(wh, sql_variant, nightly, params)
        again = variant_run(wh, sql_variant, nightly, params)  # a redeploy or re-run: nothing changed
        del elt
    return {
        "rows_per_day": rows_per_day, "days": days,
        "main_training_sets": main_first.as_dict(), "main_nightly": main_night.as_dict(),
        "sql_variant_first_deployment": first.as_dict(), "sql_variant_nightly": night.as_dict(),
        "sql_variant_rerun": again.as_dict(), "config_variant_first_deployment": config_first.as_dict(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows-per-day", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=35)
    args = parser.parse_args()
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    r = run(args.rows_per_day, args.days)
    print(f"branch variant cost on DuckDB, {r['rows_per_day']:,} raw rows/day, {r['days']} days of history "
          "(seconds of SQL builds and their gates; GB BigQuery would process):")  # fmt: skip
    for key, value in r.items():
        if isinstance(value, dict):
            print(f"  {key:34s} {value['seconds']:8.2f} s  {value['gb']:8.3f} GB  {value['partitions']:4d} partitions")


if __name__ == "__main__":
    main()
