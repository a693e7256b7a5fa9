"""Partition replacement cost on the embedded warehouse, against a bare insert as the floor.

    python bench/partition_replace.py --rows 1000000 [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
from adctr.core.table_schemas import get_schema
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

DAY = date(2026, 11, 20)


def raw_partition(rows: int) -> pa.Table:
    """The same generated raw partition as bench/elt_rebuild.py uses."""
    spec = importlib.util.spec_from_file_location("elt_rebuild", Path(__file__).with_name("elt_rebuild.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.raw_day(DAY, rows, seed=1)


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
