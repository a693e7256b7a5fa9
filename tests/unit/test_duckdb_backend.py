"""DuckDB backend: partition replacement is idempotent, guarded and atomic."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from adctr.core.table_schemas import Column, TableSchema
from adctr.warehouse.base import RowCountMismatch, WarehouseError
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

SCHEMA = TableSchema(
    table_id="staging.things",
    columns=(Column("day", "DATE", "REQUIRED"), Column("k", "STRING"), Column("n", "INT64")),
    partition_field="day",
)
D1, D2 = date(2026, 11, 1), date(2026, 11, 2)


def _rows(day: date, n: int) -> pa.Table:
    return pa.table({"day": [day] * n, "k": [f"k{i}" for i in range(n)], "n": list(range(n))})


@pytest.fixture
def wh(tmp_path) -> DuckDBWarehouse:  # noqa: ANN001
    return DuckDBWarehouse(tmp_path / "w.duckdb", lock_timeout_seconds=5)


def _count(wh: DuckDBWarehouse, day: date) -> int:
    return wh.execute_native("select count(*) from staging.things where day = ?", [day])[0][0]


def test_replace_is_idempotent_and_touches_one_partition(wh: DuckDBWarehouse) -> None:
    wh.replace_partition_from_arrow(SCHEMA, D1, _rows(D1, 3))
    wh.replace_partition_from_arrow(SCHEMA, D2, _rows(D2, 2))
    wh.replace_partition_from_arrow(SCHEMA, D1, _rows(D1, 3))
    assert (_count(wh, D1), _count(wh, D2)) == (3, 2)
    wh.replace_partition_from_arrow(SCHEMA, D1, _rows(D1, 1))
    assert (_count(wh, D1), _count(wh, D2)) == (1, 2)


def test_rows_outside_the_partition_are_refused_and_nothing_changes(wh: DuckDBWarehouse) -> None:
    wh.replace_partition_from_arrow(SCHEMA, D1, _rows(D1, 3))
    with pytest.raises(WarehouseError, match="refusing to write outside the partition"):
        wh.replace_partition_from_arrow(SCHEMA, D1, pa.concat_tables([_rows(D1, 1), _rows(D2, 1)]))
    assert _count(wh, D1) == 3


def test_query_with_wrong_columns_is_refused(wh: DuckDBWarehouse) -> None:
    wh.replace_partition_from_arrow(SCHEMA, D1, _rows(D1, 3))
    with pytest.raises(WarehouseError, match=r"missing columns \['n'\]"):
        wh.replace_partition_from_query(SCHEMA, D1, "select date '2026-11-01' as day, 'x' as k")
    assert _count(wh, D1) == 3


def test_a_query_giving_another_row_count_than_expected_changes_nothing(wh: DuckDBWarehouse) -> None:
    wh.replace_partition_from_arrow(SCHEMA, D1, _rows(D1, 3))
    two = "select date '2026-11-01' as day, k, 1 as n from unnest(['a', 'b']) as k"
    with pytest.raises(RowCountMismatch, match=r"staging.things partition 2026-11-01: .* 2 rows, 3 expected"):
        wh.replace_partition_from_query(SCHEMA, D1, two, expected_rows=3)
    assert wh.execute_native("select k from staging.things order by k") == [("k0",), ("k1",), ("k2",)]
    assert wh.replace_partition_from_query(SCHEMA, D1, two, expected_rows=2) == 2
    assert _count(wh, D1) == 2


def test_bigquery_sql_is_transpiled(wh: DuckDBWarehouse) -> None:
    wh.replace_partition_from_query(
        SCHEMA, D1,
        "select date_sub(date '2026-11-02', interval 1 day) as day, "
        "cast(cast(safe_divide(1, 0) as int64) as string) as k, 1 as n",
    )  # fmt: skip
    assert wh.execute_native("select day, k, n from staging.things") == [(D1, None, 1)]


def test_a_second_writer_waits_for_the_lock_then_fails_clearly(tmp_path) -> None:  # noqa: ANN001
    a = DuckDBWarehouse(tmp_path / "w.duckdb", lock_timeout_seconds=0.3)
    with a.lock():
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with ctx.Pool(1) as pool:
            message = pool.apply(_try_write, (str(tmp_path / "w.duckdb"),))
    assert "stayed locked by another writer" in message


def _try_write(path: str) -> str:
    try:
        DuckDBWarehouse(path, lock_timeout_seconds=0.3).ensure_table(SCHEMA)
    except WarehouseError as exc:
        return str(exc)
    return "wrote"


def test_the_lock_is_not_reentrant_and_its_timeout_names_the_file(tmp_path) -> None:  # noqa: ANN001
    # A nested lock() (same process and thread, another object) queues like any writer.
    path = tmp_path / "w.duckdb"
    with DuckDBWarehouse(path, lock_timeout_seconds=1).lock(), pytest.raises(WarehouseError) as caught:
        with DuckDBWarehouse(path, lock_timeout_seconds=1).lock():
            pass
    assert str(caught.value) == f"DuckDB warehouse {path} stayed locked by another writer for 1s"
    with DuckDBWarehouse(path, lock_timeout_seconds=1).lock():  # released after the failure
        pass


def test_sessions_run_in_utc_whatever_the_machine_zone(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    # BigQuery reads and extracts timestamps in UTC unless told otherwise; DuckDB would use TZ.
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        wh = DuckDBWarehouse(tmp_path / "w.duckdb")
        got = wh.query_arrow(
            "select extract(hour from timestamp '2024-01-07 20:00:00+00') as h, "
            "extract(day from timestamp '2024-01-07 20:00:00') as d"
        ).to_pylist()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert got == [{"h": 20, "d": 7}]


def test_duckdb_settings_from_config_apply_to_every_connection(
    tmp_path, config_copy, monkeypatch
) -> None:
    # Without a memory_limit DuckDB's buffer pool grows to 80% of RAM with the rows a job touches.
    from adctr.warehouse import get_warehouse

    path = config_copy / "warehouse.yaml"
    text = path.read_text().replace("memory_limit: 2GB", "memory_limit: 300MB")
    path.write_text(text.replace("threads: null", "threads: 1"))
    monkeypatch.setenv("ADCTR_WAREHOUSE", "duckdb")
    monkeypatch.setenv("ADCTR_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    wh = get_warehouse()
    for _ in range(2):
        got = wh.execute_native(
            "select current_setting('memory_limit'), current_setting('threads')"
        )
        assert got == [("286.1 MiB", 1)]
    other = DuckDBWarehouse(tmp_path / "other.duckdb")
    assert other.execute_native("select current_setting('memory_limit')") != [("286.1 MiB",)]


def test_a_new_nullable_column_is_added_to_the_existing_table_other_changes_are_refused(
    wh: DuckDBWarehouse,
) -> None:
    wh.replace_partition_from_arrow(SCHEMA, D1, _rows(D1, 3))
    # The schema file gains a NULLABLE column in the middle: the table gets it (at the end).
    grown = TableSchema(SCHEMA.table_id, (*SCHEMA.columns[:2], Column("label", "STRING"), SCHEMA.columns[2]), "day")
    wh.replace_partition_from_arrow(grown, D2, _rows(D2, 2).add_column(2, "label", pa.array(["a", None])))
    assert wh.column_types(grown) == {"day": "DATE", "k": "STRING", "n": "INT64", "label": "STRING"}
    got = wh.execute_native("select day, label from staging.things order by day, k")
    assert got == [(D1, None)] * 3 + [(D2, "a"), (D2, None)]  # older partitions: null
    wh.replace_partition_from_arrow(grown, D1, _rows(D1, 1).append_column("label", pa.array(["b"])))
    assert _count(wh, D1) == 1
    # A new REQUIRED column, or the table holding a column the file dropped, is refused.
    strict = TableSchema(SCHEMA.table_id, (*grown.columns, Column("m", "INT64", "REQUIRED")), "day")
    with pytest.raises(WarehouseError, match=r"migrate the table"):
        wh.ensure_table(strict)
    with pytest.raises(WarehouseError, match=r"migrate the table"):
        wh.ensure_table(SCHEMA)
    assert wh.column_types(grown).keys() == {"day", "k", "n", "label"}
