"""Check every SQL model in seconds: `make sql-check [DATE=YYYY-MM-DD] [DAYS=8]`.

Embedded (default): renders every file, checks it (syntax, tables, DuckDB transpile guard),
and runs it on a throwaway DuckDB filled with simulator fixture data for the days up to
DATE; prints PASS/FAIL per file with the error's file and line, and an offline estimate of
what the file would scan and bill on BigQuery for DATE (adctr.warehouse.cost: logical bytes of
the referenced columns over the pruned partitions; the fixture data is small, so what to
watch is how an edit moves it). With `--dry-run` on the BigQuery backend
(ADCTR_WAREHOUSE=bigquery), dry-runs every file and prints bytes processed, the job's
maximumBytesBilled and its DAG's budget (FAIL when over it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from adctr.core import settings
from adctr.warehouse import cost, elt

DAILY_DAG = "ad_performance_daily"


def fixture_raw(day: date, media: list[str]):  # noqa: ANN201 - pa.Table
    """Raw partition for one day from the simulator's world (no HTTP needed)."""
    import pyarrow as pa

    from adctr.core.table_schemas import get_schema
    from adctr.ingestion.adapters.base import Report
    from adctr.ingestion.normalize import normalize_report
    from adctr.simulator.state import state_from_config

    state = state_from_config(settings.load_config("simulator"), today=day + timedelta(days=1))
    tables = []
    for medium in media:
        job = state.create_job({"medium": medium, "start_date": day.isoformat(), "end_date": day.isoformat()})
        report = Report(medium, day, job.job_id, job.table)
        normalized = normalize_report(
            report, get_schema("raw.ad_performance"), get_schema("raw.ad_performance_quarantine"),
            sorted(settings.load_config("currencies")["jpy_per_unit"]), datetime.now(timezone.utc),
        )  # fmt: skip
        tables.append(normalized.accepted)
    return pa.concat_tables(tables)


def _line(status: str, model: elt.SqlModel, detail: str) -> str:
    return f"{status:<5} {elt.display_path(model.sql_path):<42} {detail}"


def check_embedded(end: date, days: int) -> int:
    from adctr.core.table_schemas import get_schema
    from adctr.ingestion.raw_load import configured_media
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    models = elt.all_sql_models()
    daily = elt.sql_models_for_dag(DAILY_DAG)
    others = [m for dag in sorted({m.dag for m in models.values()} - {DAILY_DAG, None})
              for m in elt.sql_models_for_dag(dag)]  # fmt: skip
    window = [end - timedelta(days=i) for i in range(days - 1, -1, -1)]
    print(f"sql-check on DuckDB: {len(models)} models, fixture data for {window[0]} .. {end}")
    failures: dict[str, str] = {}
    rows: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        wh = DuckDBWarehouse(Path(tmp) / "sqlcheck.duckdb")
        media = list(configured_media())
        for day in window:
            wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), day, fixture_raw(day, media))
            for model in daily + (others if day == end else []):
                if model.table_id in failures:
                    continue
                try:
                    rows[model.table_id] = elt.build(model.table_id, day, wh)
                except Exception as exc:  # report every file, then fail
                    failures[model.table_id] = str(exc).splitlines()[0]
        built = [m for m in daily + others if m.table_id not in failures]
        estimates = {m.table_id: _offline_estimate(m, end, wh) for m in built}
    print(f"{'':<5} {'file':<42} {'rows written':>28} {'BQ scans':>12} {'BQ bills':>12}")
    for model in daily + others:
        if model.table_id in failures:
            print(_line("FAIL", model, failures[model.table_id]))
        else:
            written = f"{rows.get(model.table_id, 0):>9,} rows on {end}"
            print(_line("PASS", model, f"{written} {estimates[model.table_id]}"))
    return 1 if failures else 0


def _offline_estimate(model: elt.SqlModel, day: date, wh: object) -> str:
    """What BigQuery would scan and bill for this file on `day` over the fixture rows."""
    try:
        sql = elt.render(model, day)
        estimate = cost.estimate_on_duckdb(sql, elt.query_params(day), wh)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - the estimate is advice; the check itself passed
        return f"(no estimate: {str(exc).splitlines()[0][:60]})"
    return f"{cost.human(estimate.processed):>12} {cost.human(estimate.billed):>12}"


def check_bigquery(end: date) -> int:
    from adctr.warehouse import get_warehouse

    failed = 0
    with get_warehouse() as wh:
        if not hasattr(wh, "dry_run"):
            print("--dry-run needs the BigQuery backend (ADCTR_WAREHOUSE=bigquery)")
            return 2
        for model in elt.all_sql_models().values():
            try:
                sql = elt.render(model, end)
                elt.check(model, sql)
                size, tables = wh.dry_run(sql, elt.query_params(end))
                dag = model.dag or "default"
                limit = wh.cost.max_bytes_billed(size, tables, dag, elt.display_path(model.sql_path))
                budget = cost.human(wh.cost.budget_for(dag))
                detail = f"{cost.human(size)} processed, maximumBytesBilled {cost.human(limit)}"
                print(_line("PASS", model, f"{detail} (budget {budget})"))
            except Exception as exc:
                failed = 1
                print(_line("FAIL", model, str(exc).splitlines()[0]))
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adctr.local.sql_check", description=__doc__)
    parser.add_argument("--date", type=date.fromisoformat, default=date.today() - timedelta(days=2))
    parser.add_argument("--days", type=int, default=8, help="days of fixture data (embedded)")
    parser.add_argument("--dry-run", action="store_true", help="BigQuery dry run instead")
    args = parser.parse_args(argv)
    started = time.monotonic()
    code = check_bigquery(args.date) if args.dry_run else check_embedded(args.date, args.days)
    print(f"{'OK' if code == 0 else 'FAILED'} in {time.monotonic() - started:.1f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
