"""Rebuild every daily SQL layer on DuckDB through the pipeline's path, against the floor of
the same SQL hand-run in one DuckDB connection.

    python bench/elt_rebuild.py --rows-per-day 1000000 --days 30

Ours = `adctr.warehouse.elt.build` per model and day (render, sqlglot checks and transpile, file
lock, staged insert with column and partition checks, delete+insert in one transaction).
Floor = the transpiled SQL of each model run as a plain `delete` + `insert ... select`.
Reports the newest day alone and the whole backfill; overhead = ours / floor - 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from adctr.core.table_schemas import get_schema
from adctr.warehouse import elt
from adctr.warehouse.duckdb_backend import DuckDBWarehouse, transpile

DAG = "ad_performance_daily"
# Each synthetic ad group's asset library (10 creatives each: distinct combinations of these).
HEADLINES, DESCRIPTIONS, IMAGES = 4, 3, 3
DEVICES = np.array(["mobile", "desktop", "tablet"])
MEDIA = np.array(["yahoo_ads", "google_ads"])


def raw_day(day: date, rows: int, seed: int) -> pa.Table:
    """`rows` raw rows: creatives x 2 media x 3 devices, 10 creatives per ad group."""
    rng = np.random.default_rng(seed)
    creatives = rows // 6
    idx = np.arange(creatives * 6)
    creative = idx // 6
    imps = rng.integers(0, 3000, len(idx))
    clicks = rng.binomial(imps, 0.03)
    n = len(idx)
    return pa.table({
        "partition_date": pa.array([day] * n, pa.date32()),
        "report_date": pa.array([day] * n, pa.date32()),
        "medium": pa.array(MEDIA[idx % 2]),
        "account_id": pa.array(np.full(n, "1001")),
        "advertiser_id": pa.array(np.char.add("adv", (creative // 1000).astype(str))),
        "industry": pa.array(np.full(n, "games")),
        "campaign_id": pa.array(np.char.add("c", (creative // 100).astype(str))),
        "campaign_objective": pa.array(np.full(n, "traffic")),
        "ad_group_id": pa.array(np.char.add("g", (creative // 10).astype(str))),
        "placement": pa.array(np.full(n, "search")),
        "creative_id": pa.array(np.char.add("cr", creative.astype(str))),
        "headline": pa.array(np.full(n, "話題のゲーム今すぐチェック")),
        "description": pa.array(np.full(n, "説明")),
        "ad_format": pa.array(np.full(n, "image")),
        "label": pa.nulls(n, pa.string()),
        "device": pa.array(DEVICES[(idx // 2) % 3]),
        "impressions": pa.array(imps), "clicks": pa.array(clicks),
        "conversions": pa.array(rng.binomial(clicks, 0.05)),
        "cost_micros": pa.array(clicks * 50_000_000), "currency": pa.array(np.full(n, "JPY")),
        "source_job_id": pa.array(np.full(n, "job")),
        "ingested_at": pa.array([datetime(2026, 12, 1, tzinfo=timezone.utc)] * n, pa.timestamp("us", tz="UTC")),
    }).cast(get_schema("raw.ad_performance").arrow_schema())  # fmt: skip


def _raw_library():  # noqa: ANN202
    path = Path(__file__).with_name("raw_library.py")
    spec = importlib.util.spec_from_file_location("raw_library", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def library_day(rows: int, launched: date) -> tuple[pa.Table, pa.Table]:
    """The asset library of `raw_day`'s creatives in World.asset_table / creative_table
    columns: per ad group HEADLINES x DESCRIPTIONS x IMAGES assets, creative j of the group
    (0..9) made of headline j % 4, description j // 4 % 3, image j % 3; all launched on
    `launched` and serving."""
    creatives = rows // 6
    groups = -(-creatives // 10)
    kinds = [("HEADLINE", "h", HEADLINES), ("DESCRIPTION", "d", DESCRIPTIONS), ("IMAGE", "i", IMAGES)]
    parts = []
    for kind, prefix, n in kinds:
        group = np.repeat(np.arange(groups), n)
        number = np.tile(np.arange(1, n + 1), groups)
        ad_group = np.char.add("g", group.astype(str))
        parts.append({
            "asset_id": np.char.add(np.char.add(ad_group, f"-{prefix}"), number.astype(str)),
            "ad_group_id": ad_group, "campaign_id": np.char.add("c", (group // 10).astype(str)),
            "advertiser_id": np.char.add("adv", (group // 100).astype(str)),
            "asset_type": np.full(len(group), kind),
            "asset_text": None if kind == "IMAGE" else np.char.add(f"{kind.lower()} ", number.astype(str)),
            "asset_format": np.full(len(group), "image") if kind == "IMAGE" else None,
        })  # fmt: skip
    assets = pa.concat_tables(
        pa.table({
            **{k: pa.array(v, pa.string()) if v is not None else pa.nulls(len(p["asset_id"]), pa.string())
               for k, v in p.items()},
            "launch_date": pa.array([launched] * len(p["asset_id"]), pa.date32()),
        })
        for p in parts
    ).sort_by("asset_id")  # fmt: skip
    k = np.arange(creatives)
    j = k % 10
    ad_group = np.char.add("g", (k // 10).astype(str))
    creative_table = pa.table({
        "creative_id": np.char.add("cr", k.astype(str)), "ad_group_id": ad_group,
        "headline_asset_id": np.char.add(np.char.add(ad_group, "-h"), (j % HEADLINES + 1).astype(str)),
        "description_asset_id": np.char.add(
            np.char.add(ad_group, "-d"), (j // HEADLINES % DESCRIPTIONS + 1).astype(str)
        ),
        "image_asset_id": np.char.add(np.char.add(ad_group, "-i"), (j % IMAGES + 1).astype(str)),
        "launch_date": pa.array([launched] * creatives, pa.date32()),
        "end_date": pa.nulls(creatives, pa.date32()), "status": np.full(creatives, "ENABLED"),
    })  # fmt: skip
    return assets, creative_table


def load_raw(wh: DuckDBWarehouse, days: list[date], rows: int) -> None:
    """Each day's report rows and asset library into the raw layer (the library through the
    DAG's check, landing and load path: bench/raw_library.py)."""
    loader = _raw_library()
    assets, creatives = library_day(rows, days[0] - timedelta(days=30))
    for i, day in enumerate(days):
        wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), day, raw_day(day, rows, i))
        loader.load_library_day(wh, day, assets, creatives, as_of=day + timedelta(days=1))


def ours(wh: DuckDBWarehouse, days: list[date]) -> list[float]:
    per_day = []
    for day in days:
        t = time.perf_counter()
        for model in elt.sql_models_for_dag(DAG):
            elt.build(model.table_id, day, wh)
        per_day.append(time.perf_counter() - t)
    return per_day


def floor(path: Path, days: list[date], dag: str = DAG) -> list[float]:
    models = elt.sql_models_for_dag(dag)
    per_day = []
    con = duckdb.connect(str(path))
    try:
        for day in days:
            sqls = [(m, transpile(elt.render(m, day))) for m in models]  # rendering is not timed
            t = time.perf_counter()
            for model, sql in sqls:
                table = model.table_id
                pf = model.schema.partition_field
                cols = ", ".join(model.schema.column_names)
                con.execute(f"delete from {table} where {pf} = $ds", {"ds": day})
                con.execute(f"insert into {table} ({cols}) select {cols} from ({sql})", {"ds": day})
            per_day.append(time.perf_counter() - t)
    finally:
        con.close()
    return per_day


def run(rows_per_day: int, days: int) -> dict[str, float]:
    window = [date(2026, 10, 1) + timedelta(days=i) for i in range(days)]
    with tempfile.TemporaryDirectory() as tmp:
        a = DuckDBWarehouse(Path(tmp) / "ours.duckdb")
        b = DuckDBWarehouse(Path(tmp) / "floor.duckdb")
        for wh in (a, b):
            load_raw(wh, window, rows_per_day)
            for model in elt.sql_models_for_dag(DAG):
                wh.ensure_table(model.schema)
        ours_s = ours(a, window)
        floor_s = floor(b.path, window)
    return {
        "rows_per_day": rows_per_day, "days": days,
        "ours_last_day_s": ours_s[-1], "floor_last_day_s": floor_s[-1],
        "ours_total_s": sum(ours_s), "floor_total_s": sum(floor_s),
        "overhead_last_day": ours_s[-1] / floor_s[-1] - 1,
        "overhead_total": sum(ours_s) / sum(floor_s) - 1,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    r = run(args.rows_per_day, args.days)
    print(
        f"ELT rebuild on DuckDB, {r['rows_per_day']:,} raw rows/day:\n"
        f"  newest day alone : ours {r['ours_last_day_s']:.2f}s, floor {r['floor_last_day_s']:.2f}s, "
        f"overhead {r['overhead_last_day']:+.1%}\n"
        f"  {r['days']}-day backfill : ours {r['ours_total_s']:.1f}s, floor {r['floor_total_s']:.1f}s, "
        f"overhead {r['overhead_total']:+.1%}"
    )


if __name__ == "__main__":
    main()
