"""Partition replacement cost on the embedded warehouse, against a bare insert as the floor.

    python bench/partition_replace.py --rows 1000000 [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from adctr.schema import get_schema
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

DAY = date(2026, 11, 20)


def raw_partition(rows: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    imps = rng.integers(0, 5000, rows)
    clicks = rng.binomial(imps, 0.03)
    idx = np.arange(rows)
    cols = {
        "partition_date": pa.array([DAY] * rows, pa.date32()),
        "report_date": pa.array([DAY] * rows, pa.date32()),
        "medium": pa.array(np.where(idx % 2 == 0, "yahoo_ads", "google_ads")),
        "account_id": pa.array(["1001"] * rows),
        "advertiser_id": pa.array([f"adv{i % 500:03d}" for i in idx]),
        "industry": pa.array(["games"] * rows),
        "campaign_id": pa.array([f"c{i % 2000}" for i in idx]),
        "campaign_objective": pa.array(["traffic"] * rows),
        "ad_group_id": pa.array([f"g{i % 8000}" for i in idx]),
        "creative_id": pa.array([f"cr{i // 6}" for i in idx]),
        "headline": pa.array(["話題のゲーム今すぐチェック"] * rows),
        "description": pa.array(["説明"] * rows),
        "ad_format": pa.array(["image"] * rows),
        "device": pa.array([("mobile", "desktop", "tablet")[(i // 2) % 3] for i in idx]),
        "impressions": pa.array(imps), "clicks": pa.array(clicks),
        "conversions": pa.array(rng.binomial(clicks, 0.05)),
        "cost_micros": pa.array(clicks * 50_000_000), "currency": pa.array(["JPY"] * rows),
        "source_job_id": pa.array(["job"] * rows),
        "ingested_at": pa.array([datetime(2026, 11, 21, tzinfo=timezone.utc)] * rows, pa.timestamp("us", tz="UTC")),
    }  # fmt: skip
    return pa.table(cols).cast(get_schema("raw.ad_performance").arrow_schema())


def run(rows: int, repeat: int) -> dict[str, float]:
    schema = get_schema("raw.ad_performance")
    data = raw_partition(rows)
    with tempfile.TemporaryDirectory() as tmp:
        wh = DuckDBWarehouse(Path(tmp) / "bench.duckdb")
        wh.ensure_table(schema)
        replace, floor = [], []
        for _ in range(repeat):
            t = time.perf_counter()
            wh.replace_partition_from_arrow(schema, DAY, data)
            replace.append(time.perf_counter() - t)
            with wh.connect() as con:
                con.execute("create or replace table raw.floor as select * from raw.ad_performance limit 0")
                con.register("src", data)
                t = time.perf_counter()
                con.execute("insert into raw.floor select * from src")
                floor.append(time.perf_counter() - t)
    r, f = statistics.median(replace), statistics.median(floor)
    return {"rows": rows, "replace_s": r, "floor_s": f, "ratio": r / f, "rows_per_s": rows / r}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    res = run(args.rows, args.repeat)
    print(
        f"partition replace, {res['rows']:,} rows: {res['replace_s']:.3f}s "
        f"({res['rows_per_s']:,.0f} rows/s); floor (bare insert) {res['floor_s']:.3f}s; "
        f"ratio {res['ratio']:.2f}x (median of {args.repeat})"
    )


if __name__ == "__main__":
    main()
