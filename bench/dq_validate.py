"""Validation cost: every daily suite on 1,000,000-row partitions (GX, SQL pushdown on DuckDB),
against one hand-written SQL query per table that computes the same checks (the floor).

    python bench/dq_validate.py --rows 1000000

The raw partition is generated (same shape as bench/elt_rebuild.py), the staging and feature
partitions are built from it by the project's SQL; then each table's suite runs through
`adctr.quality.validate_partition` (GX, Data Docs, results) and through the floor query.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from adctr import quality
from adctr.core import settings
from adctr.core.table_schemas import get_schema
from adctr.quality.runner import suite_parameters
from adctr.warehouse import elt
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

TABLES = ["raw.ad_performance", "staging.ad_performance", "staging.creative_snapshot", "features.creative_daily"]


def _elt_bench():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("elt_rebuild", Path(__file__).with_name("elt_rebuild.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lit(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def floor_query(table_id: str, partition: date, params: dict[str, Any]) -> str:
    """One SQL query computing every check of the table's suite (what a person would write)."""
    schema = get_schema(table_id)
    suite = json.loads((settings.expectations_dir() / f"{table_id}.json").read_text())
    aggs = ["count(*) as row_count"]
    extra = []
    for i, e in enumerate(suite["expectations"]):
        kw = {k: (params[v["$PARAMETER"]] if isinstance(v, dict) else v) for k, v in e["kwargs"].items()}
        kind, col = e["type"], kw.get("column")
        if kind == "expect_column_values_to_not_be_null":
            aggs.append(f"count(*) filter (where {col} is null) as c{i}")
        elif kind == "expect_column_values_to_be_between":
            cond = [f"{col} < {_cast(kw['min_value'])}"] if kw.get("min_value") is not None else []
            cond += [f"{col} > {_cast(kw['max_value'])}"] if kw.get("max_value") is not None else []
            aggs.append(f"count(*) filter (where {' or '.join(cond)}) as c{i}")
        elif kind == "expect_column_pair_values_a_to_be_greater_than_b":
            aggs.append(f"count(*) filter (where {kw['column_A']} < {kw['column_B']}) as c{i}")
        elif kind == "expect_column_values_to_be_in_set":
            values = ", ".join(_lit(v) for v in kw["value_set"])
            aggs.append(f"count(*) filter (where {col} not in ({values})) as c{i}")
        elif kind in ("expect_column_max_to_be_between", "expect_column_min_to_be_between"):
            aggs.append(f"{kind.split('_')[2]}({col}) as c{i}")
        elif kind == "expect_compound_columns_to_be_unique":
            cols = ", ".join(kw["column_list"])
            extra.append(f"(select count(*) from (select {cols} from p group by {cols} having count(*) > 1)) as c{i}")
    pf = schema.partition_field
    return (
        f"with p as (select * from {table_id} where {pf} = date '{partition}') "
        f"select * from (select {', '.join(aggs)} from p) cross join (select {', '.join(extra) or '1 as none'})"
    )


def _cast(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def run(rows: int) -> dict[str, Any]:
    bench = _elt_bench()
    day = date(2026, 10, 1)
    with tempfile.TemporaryDirectory() as tmp:
        wh = DuckDBWarehouse(Path(tmp) / "dq.duckdb")
        history = [day - timedelta(days=i) for i in range(3, 0, -1)] + [day]
        bench.load_raw(wh, history, rows)
        for d in history:
            for model in elt.sql_models_for_dag("ad_performance_daily"):
                elt.build(model.table_id, d, wh)
        os.environ["ADCTR_VAR_DIR"] = tmp
        quality.validate_partition(wh, TABLES[0], day, "warmup")  # import GX once, outside timing
        ours, no_docs, floor, counts = {}, {}, {}, {}
        for table_id in TABLES:
            t = time.perf_counter()
            result = quality.validate_partition(wh, table_id, day, "bench")
            ours[table_id] = time.perf_counter() - t
            t = time.perf_counter()
            quality.validate_partition(wh, table_id, day, "bench", build_docs=False)
            no_docs[table_id] = time.perf_counter() - t
            suite = json.loads((settings.expectations_dir() / f"{table_id}.json").read_text())
            params = suite_parameters(wh, get_schema(table_id), suite, day, datetime.now(timezone.utc))
            sql = floor_query(table_id, day, params)
            t = time.perf_counter()
            wh.execute_native(sql)
            floor[table_id] = time.perf_counter() - t
            counts[table_id] = (len(result.outcomes), wh.execute_native(
                f"select count(*) from {table_id} where {get_schema(table_id).partition_field} = date '{day}'")[0][0])
    return {"ours": ours, "no_docs": no_docs, "floor": floor, "counts": counts,
            "ratio": sum(ours.values()) / sum(floor.values()),
            "ratio_no_docs": sum(no_docs.values()) / sum(floor.values())}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    r = run(args.rows)
    for table_id in TABLES:
        checks, n = r["counts"][table_id]
        print(f"  {table_id:<28} {n:>9,} rows, {checks:>2} checks: GX {r['ours'][table_id]:5.2f}s "
              f"(without Data Docs {r['no_docs'][table_id]:5.2f}s), floor {r['floor'][table_id]:5.2f}s")
    print(f"all suites: GX {sum(r['ours'].values()):.2f}s = {r['ratio']:.1f}x the floor "
          f"({sum(r['floor'].values()):.2f}s); without building Data Docs "
          f"{sum(r['no_docs'].values()):.2f}s = {r['ratio_no_docs']:.1f}x")


if __name__ == "__main__":
    main()
