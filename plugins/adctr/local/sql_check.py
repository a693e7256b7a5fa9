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


def fixture_library(day: date, media: list[str]) -> dict:
    """Raw asset-library partitions for one day from the simulator's world, listed as the
    nightly pull lists them (as of the next day), through the ingestion row checks."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from adctr.core.table_schemas import get_schema
    from adctr.ingestion.adapters.asset_library import AssetLibrary, Listing
    from adctr.ingestion.library_checks import (
        LIBRARY_QUARANTINE_TABLE,
        LibraryRules,
        check_library,
        with_partition,
    )
    from adctr.simulator.world import world_from_config

    world = world_from_config(settings.load_config("simulator"))
    as_of = day + timedelta(days=1)

    def listing(endpoint: str, table: pa.Table) -> Listing:
        text = pa.table({c: pc.cast(table[c], pa.string()) for c in table.column_names})
        return Listing(endpoint, as_of, text.num_rows, text)

    assets, ads = listing("assets", world.asset_table(as_of)), listing("ads", world.creative_table(as_of))
    rules = LibraryRules.from_config(settings.load_config("media")["asset_library"])
    schemas = {t: get_schema(t) for t in ("raw.ad_assets", "raw.ad_creatives", LIBRARY_QUARANTINE_TABLE)}
    parts: dict[str, list] = {t: [] for t in schemas}
    pulled = datetime.now(timezone.utc)
    for medium in media:
        checked = check_library(AssetLibrary(medium, "1001", as_of, f"fixture-{medium}", assets, ads), rules, schemas)
        for table, data in zip(schemas, (checked.assets, checked.creatives, checked.quarantined), strict=True):
            parts[table].append(with_partition(data, schemas[table], day, f"fixture-{medium}", pulled))
    return {t: pa.concat_tables(tables) for t, tables in parts.items()}


SCORES = "scoring.combination_scores"  # written by batch scoring's Python task, not by a SQL file


def fixture_scores(wh: object, day: date):  # noqa: ANN201 - pa.Table
    """Scores for every candidate of `day` as one slot would write them (a fixed pseudo-random
    score per row), so the SQL models that read scores run on data."""
    import numpy as np
    import pyarrow as pa

    from adctr.core.table_schemas import get_schema

    keys = ["medium", "device", "ad_group_id", "headline_asset_id", "description_asset_id", "image_asset_id",
            "creative_id", "served"]  # fmt: skip
    cand = wh.query_arrow(
        f"select {', '.join(keys)} from scoring.candidates where scoring_date = @d order by {', '.join(keys[:6])}",
        {"d": day},
    )
    n = cand.num_rows
    fixed = {"scoring_date": pa.array([day] * n, pa.date32()), "slot": pa.array(["ctr0"] * n),
             "model": pa.array(["ctr"] * n), "variant": pa.array(["main"] * n), "version": pa.array([1] * n, pa.int64())}  # fmt: skip
    score = pa.array(np.random.default_rng(day.toordinal()).random(n))
    columns = {**fixed, **{k: cand[k] for k in keys}, "score": score}
    return pa.table({c: columns[c] for c in get_schema(SCORES).column_names})


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
    others.sort(key=lambda m: SCORES in m.depends_on)  # scores come from the candidates built first
    window = [end - timedelta(days=i) for i in range(days - 1, -1, -1)]
    print(f"sql-check on DuckDB: {len(models)} models, fixture data for {window[0]} .. {end}")
    failures: dict[str, str] = {}
    rows: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        wh = DuckDBWarehouse(Path(tmp) / "sqlcheck.duckdb")
        media = list(configured_media())
        for day in window:
            wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), day, fixture_raw(day, media))
            for table_id, data in fixture_library(day, media).items():
                wh.replace_partition_from_arrow(get_schema(table_id), day, data)
            for model in daily + (others if day == end else []):
                if model.table_id in failures:
                    continue
                try:
                    if SCORES in model.depends_on:
                        wh.replace_partition_from_arrow(get_schema(SCORES), day, fixture_scores(wh, day))
                    for table_id in model.depends_on:  # other tables Python tasks write: empty ones
                        if table_id not in models:
                            wh.ensure_table(get_schema(table_id))
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
