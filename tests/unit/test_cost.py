"""The cost guard: BigQuery's billing rounding, per-DAG budgets, and the offline estimate of
what a SQL file scans (logical bytes of referenced columns over pruned partitions)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from adctr.core.errors import ConfigError, PermanentError
from adctr.core.table_schemas import get_schema
from adctr.warehouse import cost
from adctr.warehouse.cost import MB, CostPolicy, QueryOverBudget
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

GiB = 1024**3
DAY = date(2026, 11, 20)


def test_byte_sizes_in_config_are_parsed() -> None:
    assert cost.parse_bytes("10 GiB") == 10 * GiB
    assert cost.parse_bytes("500 MB") == 500 * 1000**2
    assert cost.parse_bytes(1234) == 1234
    with pytest.raises(ConfigError):
        cost.parse_bytes("ten gigs")


def test_billing_rounds_up_per_table_with_minimums() -> None:
    # Documented rule: up to the next MB per table, 10 MB minimum per table and per query.
    assert cost.billed_bytes({"a": 1}) == 10 * MB
    assert cost.billed_bytes({"a": 10 * MB + 1}) == 11 * MB
    assert cost.billed_bytes({"a": 1, "b": 15 * MB}) == 25 * MB
    assert cost.billed_bytes({}) == 0


def test_the_upper_bound_covers_every_split_of_a_dry_run_total() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        tables = rng.randint(1, 5)
        cuts = sorted(rng.randint(0, 80 * MB) for _ in range(tables - 1))
        total = rng.randint(cuts[-1] if cuts else 0, 80 * MB)
        split = [b - a for a, b in zip([0, *cuts], [*cuts, total])]
        billed = cost.billed_bytes({str(i): b for i, b in enumerate(split)})
        assert billed <= cost.billed_upper_bound(total, tables), (split, total)
    # and it is tight: one table holding (almost) everything, the others near nothing
    worst = cost.billed_bytes({"a": 15 * MB - 1, "b": 1})
    assert cost.billed_upper_bound(15 * MB, 2) - worst <= MB


def test_maximum_bytes_billed_has_headroom_and_stops_at_the_budget() -> None:
    policy = CostPolicy({"default": 10 * GiB, "ctr_cvr_retrain": 50 * GiB}, growth_headroom=0.1)
    # The bare dry-run estimate would fail on BigQuery ("... or higher required"): never sent.
    assert policy.max_bytes_billed(3 * MB, 1, "x", "f.sql") == 11 * MB
    assert (
        policy.max_bytes_billed(int(9.5 * GiB), 1, "x", "f.sql") == 10 * GiB
    )  # capped at the budget
    assert policy.max_bytes_billed(40 * GiB, 2, "ctr_cvr_retrain", "f.sql") > 40 * GiB
    with pytest.raises(QueryOverBudget) as err:
        policy.max_bytes_billed(
            12 * GiB, 1, "ad_performance_daily", "sql/staging/ad_performance.sql"
        )
    assert isinstance(err.value, PermanentError)
    text = str(err.value)
    assert "sql/staging/ad_performance.sql" in text and "12.00 GiB processed" in text
    assert "'ad_performance_daily' budget of 10.00 GiB" in text


def test_the_shipped_budgets_load() -> None:
    from adctr.core import settings

    policy = CostPolicy.from_config(settings.load_config("warehouse")["bigquery"]["cost"])
    assert policy.budget_for("ad_performance_daily") == 20 * GiB
    with pytest.raises(ConfigError, match="default"):
        CostPolicy.from_config({"query_budget": {"ad_performance_daily": "1 GiB"}})


def test_table_scans_keep_referenced_columns_and_the_partition_filter() -> None:
    sql = """
        with src as (select * from staging.ad_performance where report_date = @ds and clicks > 0),
        hist as (
            select creative_id, impressions from staging.ad_performance
            where report_date between date_sub(@ds, interval 7 day) and date_sub(@ds, interval 1 day)
        )
        select src.creative_id, src.headline, hist.impressions
        from src join hist using (creative_id)
        join staging.creative_snapshot as s on s.creative_id = src.creative_id
    """
    scans = cost.table_scans(sql)
    perf = scans["staging.ad_performance"]
    # `select *` in a CTE costs only what the query uses downstream; filters count as use.
    assert perf.columns == {"report_date", "clicks", "creative_id", "headline", "impressions"}
    assert len(perf.partition_filters) == 2
    assert perf.partition_filters[0] == '("report_date" = $ds)'  # `clicks > 0` prunes no partition
    assert "between" in perf.partition_filters[1].lower()
    snap = scans["staging.creative_snapshot"]
    assert snap.columns == {"creative_id"} and snap.partition_filters == [
        "true"
    ]  # no filter: every partition


def _perf_rows(day: date, headlines: list[str | None]) -> pa.Table:
    schema = get_schema("staging.ad_performance")
    base = {
        c.name: (0 if c.type == "INT64" else 0.0 if c.type == "FLOAT64" else "x")
        for c in schema.columns
    }
    rows = [
        {
            **base,
            "report_date": day,
            "creative_id": f"c{i}",
            "headline": h,
            "clicks": 2,
            "ingested_at": datetime(2026, 11, 21, tzinfo=timezone.utc),
        }
        for i, h in enumerate(headlines)
    ]
    return pa.Table.from_pylist(rows, schema=schema.arrow_schema())


def test_offline_estimate_uses_bigquery_logical_sizes_after_pruning(tmp_path: Path) -> None:
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    schema = get_schema("staging.ad_performance")
    wh.replace_partition_from_arrow(schema, DAY, _perf_rows(DAY, ["見出し", "ab", None]))
    wh.replace_partition_from_arrow(
        schema, DAY - timedelta(days=1), _perf_rows(DAY - timedelta(days=1), ["zzzz"] * 50)
    )
    sql = "select clicks, headline from staging.ad_performance where report_date = @ds"
    estimate = cost.estimate_on_duckdb(sql, {"ds": DAY}, wh)
    # clicks: 3 x INT64 (8); headline: 2 + UTF-8 bytes ("見出し" is 9), NULL is 0; report_date is
    # referenced (in the filter), DATE 8. The filter prunes the other day's 50 rows.
    expected = 3 * 8 + (2 + 9) + (2 + 2) + 3 * 8
    assert estimate.per_table == {"staging.ad_performance": expected}
    assert estimate.billed == 10 * MB
    # A data engineer widening the window sees the scan grow.
    wider = sql.replace("report_date = @ds", "report_date >= date_sub(@ds, interval 1 day)")
    assert cost.estimate_on_duckdb(wider, {"ds": DAY}, wh).processed == expected + 50 * (8 + 6 + 8)
