"""Embedded warehouse: one DuckDB file, BigQuery SQL transpiled with sqlglot.

DuckDB allows one writing process per file, so every connection is taken under an
exclusive file lock; parallel tasks (backfills, several workers) queue on it instead
of failing. Partition replacement is delete + insert in one transaction, after the new
rows were checked to belong to the partition and to match the table's columns.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import filelock

from adctr.warehouse import bigquery_to_duckdb
from adctr.warehouse.base import (
    JobLabels,
    QueryParams,
    RowCountMismatch,
    Warehouse,
    WarehouseError,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from adctr.core.table_schemas import TableSchema

log = logging.getLogger(__name__)


def transpile(sql: str, source: str = "<query>") -> str:
    """BigQuery Standard SQL -> DuckDB SQL with BigQuery's values (one statement), or
    UntranslatableSql naming `source`, the line and the construct (see bigquery_to_duckdb)."""
    return bigquery_to_duckdb.translate(sql, source)


def _split_table_id(table_id: str) -> tuple[str, str]:
    """`dataset.table` (plain identifiers only: scratch tables are named by code, not users)."""
    parts = table_id.split(".")
    if len(parts) != 2 or not all(p.replace("_", "a").isalnum() and p.isascii() for p in parts):
        raise WarehouseError(f"not a dataset.table name: {table_id!r}")
    return parts[0], parts[1]


def _int64_sums(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """BigQuery's SUM/COUNTIF of INT64 is INT64 (an overflow is an error); DuckDB widens them to
    HUGEINT, which Arrow carries as decimal128. Cast back, raising where BigQuery would."""
    types = [str(t) for t in rel.types]
    if not any("HUGEINT" in t for t in types):
        return rel
    columns = [
        f'CAST("{c}" AS {t.replace("HUGEINT", "BIGINT")}) AS "{c}"' if "HUGEINT" in t else f'"{c}"'
        for c, t in zip(rel.columns, types)
    ]
    return rel.project(", ".join(columns))


class DuckDBWarehouse(Warehouse):
    name = "duckdb"

    def __init__(
        self,
        path: str | os.PathLike[str],
        lock_timeout_seconds: float = 600.0,
        config: dict[str, str | int] | None = None,
    ) -> None:
        self.path = Path(path)
        self.lock_timeout_seconds = lock_timeout_seconds
        # DuckDB settings for every connection (memory_limit, threads): DuckDB's default memory
        # limit is 80% of RAM, and its buffer pool keeps pages up to it, so without a limit a
        # process's RSS grows with the data it touches (e.g. the rows batch scoring writes).
        self.config = {k: v for k, v in (config or {}).items() if v is not None}
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"DuckDBWarehouse({str(self.path)!r})"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the file's exclusive lock (for any client of the file, e.g. GX's engine).

        Not re-entrant: each call takes a new flock on its own descriptor (a fresh FileLock, not a
        singleton), so a nested call, even from the same thread, waits like any other writer and
        fails after `lock_timeout_seconds`.
        """
        lock_path = self.path.with_suffix(self.path.suffix + ".lock")
        # A negative timeout means one try (FileLock would read it as "wait forever").
        timeout = max(self.lock_timeout_seconds, 0.0)
        file_lock = filelock.FileLock(lock_path, timeout=timeout, poll_interval=0.2)
        try:
            file_lock.acquire()
        except filelock.Timeout:
            raise WarehouseError(
                f"DuckDB warehouse {self.path} stayed locked by another writer for "
                f"{self.lock_timeout_seconds:.0f}s"
            ) from None
        try:
            yield
        finally:
            file_lock.release()

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection held under the file's exclusive lock (released on exit).

        Sessions run in UTC, BigQuery's default time zone, whatever the machine's is (DuckDB
        would take the local one for TIMESTAMP casts, EXTRACT and truncation), with the
        functions the BigQuery translation calls.
        """
        with self.lock():
            con = duckdb.connect(str(self.path), config=self.config)
            con.execute("set TimeZone = 'UTC'")
            bigquery_to_duckdb.register_functions(con)
            try:
                yield con
            finally:
                con.close()

    def column_types(self, schema: "TableSchema") -> dict[str, str]:
        from adctr.core.table_schemas import DUCKDB_TYPES

        back = {v: k for k, v in DUCKDB_TYPES.items()} | {"TIMESTAMP WITH TIME ZONE": "TIMESTAMP"}
        rows = self.execute_native(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema.dataset, schema.table],
        )
        return {name: back.get(kind, kind) for name, kind in rows}

    def sqlalchemy_url(self) -> str:
        return f"duckdb:///{self.path}"

    def _ensure(self, con: duckdb.DuckDBPyConnection, schema: "TableSchema") -> None:
        """Create the table if it does not exist; add the schema file's new NULLABLE columns to
        one that has every other column (as BigQuery adds them: at the end; writes name their
        columns). Any other difference is refused."""
        from adctr.core.table_schemas import DUCKDB_TYPES

        con.execute(f'create schema if not exists "{schema.dataset}"')
        target = f'"{schema.dataset}"."{schema.table}"'
        con.execute(f"create table if not exists {target} ({schema.duckdb_columns_ddl()})")
        existing = [
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema.dataset, schema.table],
            ).fetchall()
        ]
        new = [c for c in schema.columns if c.name not in existing]
        if new and set(existing) <= set(schema.column_names) and not any(c.required for c in new):
            for c in new:
                kind = DUCKDB_TYPES[c.type]
                con.execute(f'alter table {target} add column if not exists "{c.name}" {kind}')
            log.info("duckdb: added columns %s to %s", [c.name for c in new], schema.table_id)
            existing += [c.name for c in new]
        if sorted(existing) != sorted(schema.column_names):
            raise WarehouseError(
                f"{schema.table_id} in {self.path} has columns {existing}, its schema file says "
                f"{schema.column_names}; migrate the table (or rebuild it) before loading"
            )

    def ensure_table(self, schema: "TableSchema") -> None:
        with self.connect() as con:
            self._ensure(con, schema)

    def _replace(
        self,
        con: duckdb.DuckDBPyConnection,
        schema: "TableSchema",
        partition: date,
        source: str,
        query_params: QueryParams | None = None,
        expected_rows: int | None = None,
    ) -> int:
        """Swap partition `partition` for the rows of `source` (a DuckDB query), or change nothing.

        Columns are checked from the query's plan before anything is written; rows that would
        land outside the partition, or an inserted count other than `expected_rows`, are
        detected after the insert and roll the whole transaction back.
        """
        target = f'"{schema.dataset}"."{schema.table}"'
        pf = schema.partition_field
        params = query_params or {}
        cols = [d[0] for d in con.execute(f"select * from ({source}) limit 0", params).description]
        missing = [c for c in schema.column_names if c not in cols]
        extra = [c for c in cols if c not in schema.column_names]
        if missing or extra:
            raise WarehouseError(
                f"rows for {schema.table_id} do not match its schema file: "
                f"missing columns {missing}, unexpected columns {extra}"
            )
        column_list = ", ".join(f'"{c}"' for c in schema.column_names)
        con.execute("begin transaction")
        try:
            con.execute(f'delete from {target} where "{pf}" = $partition', {"partition": partition})
            (count,) = con.execute(
                f"insert into {target} ({column_list}) select {column_list} from ({source})", params
            ).fetchone()
            (inside,) = con.execute(
                f'select count(*) from {target} where "{pf}" = $partition', {"partition": partition}
            ).fetchone()
            if inside != count:
                raise WarehouseError(
                    f"{count - inside} rows for {schema.table_id} partition {partition} have another "
                    f"{pf}; refusing to write outside the partition"
                )
            if expected_rows is not None and count != expected_rows:
                raise RowCountMismatch(schema.table_id, partition, expected_rows, int(count))
            con.execute("commit")
        except Exception as exc:
            con.execute("rollback")
            if isinstance(exc, WarehouseError):
                raise
            raise WarehouseError(
                f"replacing {schema.table_id} partition {partition} failed: {exc}"
            ) from exc
        log.info("duckdb: replaced %s partition %s with %d rows", schema.table_id, partition, count)
        return int(count)

    def replace_partition_from_arrow(
        self, schema: "TableSchema", partition: date, data: "pa.Table", labels: JobLabels = JobLabels()
    ) -> int:
        with self.connect() as con:
            self._ensure(con, schema)
            con.register("_arrow_source", data)
            try:
                return self._replace(con, schema, partition, "select * from _arrow_source")
            finally:
                con.unregister("_arrow_source")

    def replace_partition_from_query(
        self,
        schema: "TableSchema",
        partition: date,
        sql: str,
        labels: JobLabels = JobLabels(),
        query_params: QueryParams | None = None,
        *,
        expected_rows: int | None = None,
    ) -> int:
        duck_sql = transpile(sql)
        with self.connect() as con:
            self._ensure(con, schema)
            return self._replace(
                con, schema, partition, f"select * from ({duck_sql})", query_params, expected_rows
            )

    def materialize(
        self,
        table_id: str,
        sql: str,
        labels: JobLabels = JobLabels(),
        query_params: QueryParams | None = None,
        expiration_hours: float = 24.0,
    ) -> None:
        dataset, table = _split_table_id(table_id)
        duck_sql = transpile(sql)
        with self.connect() as con:
            con.execute(f'create schema if not exists "{dataset}"')
            try:
                con.execute(f'create or replace table "{dataset}"."{table}" as {duck_sql}', query_params or None)
            except duckdb.Error as exc:
                raise WarehouseError(f"materializing {table_id} failed on DuckDB: {exc}") from exc

    def drop_table(self, table_id: str) -> None:
        dataset, table = _split_table_id(table_id)
        with self.connect() as con:
            con.execute(f'drop table if exists "{dataset}"."{table}"')

    def query_arrow(self, sql: str, query_params: QueryParams | None = None) -> "pa.Table":
        duck_sql = transpile(sql)
        with self.connect() as con:
            try:
                return _int64_sums(con.sql(duck_sql, params=query_params or None)).to_arrow_table()
            except duckdb.Error as exc:
                raise WarehouseError(f"query failed on DuckDB: {exc}\n{duck_sql}") from exc

    def query_arrow_batches(
        self, sql: str, query_params: QueryParams | None = None, rows_per_batch: int = 262_144
    ) -> "Iterator[pa.RecordBatch]":
        """Batches of DuckDB's streaming result; the connection (and the file's lock) is held
        until the last batch is read or the iterator is closed."""
        duck_sql = transpile(sql)
        with self.connect() as con:
            try:
                reader = _int64_sums(con.sql(duck_sql, params=query_params or None)).fetch_record_batch(rows_per_batch)
                yield from reader
            except duckdb.Error as exc:
                raise WarehouseError(f"query failed on DuckDB: {exc}\n{duck_sql}") from exc

    def execute_native(self, sql: str, params: list[object] | dict[str, object] | None = None) -> list[tuple]:
        """Run DuckDB SQL as is (tests, checksums, hand inspection)."""
        with self.connect() as con:
            result = con.execute(sql, params) if params else con.execute(sql)
            return result.fetchall() if result.description else []
