"""What every warehouse backend does, in the terms DESIGN.md fixes.

SQL handed to a backend is always BigQuery Standard SQL (a rendered SELECT); only the
backend knows its engine. Writes replace one partition atomically: re-running a date
leaves exactly the state one run leaves.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from adctr.core.errors import PermanentError
from adctr.core.names import safe_name

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa

    from adctr.core.table_schemas import TableSchema


QueryParams = dict[str, Any]


class WarehouseError(RuntimeError):
    """A warehouse operation failed; the partition it targeted is unchanged."""


class WarehouseConfigError(PermanentError, WarehouseError):
    """The configured warehouse cannot be reached (missing connection, bad settings)."""


class RowCountMismatch(WarehouseError):
    """A partition replace produced another number of rows than its caller expected; nothing
    was committed, the partition keeps its previous rows."""

    def __init__(self, table_id: str, partition: date, expected: int, actual: int) -> None:
        self.table_id, self.partition, self.expected, self.actual = table_id, partition, expected, actual
        super().__init__(
            f"{table_id} partition {partition}: the query gave {actual} rows, {expected} expected; "
            f"nothing was written (the partition keeps its previous rows)"
        )


@dataclass(frozen=True)
class JobLabels:
    """Who ran a warehouse job: BigQuery job labels, logs elsewhere."""

    dag_id: str = "manual"
    task_id: str = "manual"
    run_date: str = ""

    @classmethod
    def from_environment(cls) -> "JobLabels":
        """The running Airflow task's labels (the task runner exports AIRFLOW_CTX_* variables),
        for jobs whose caller passes none (ad-hoc queries: reconciliation, DQ counts, datasets)."""
        return cls(
            dag_id=os.environ.get("AIRFLOW_CTX_DAG_ID") or "manual",
            task_id=os.environ.get("AIRFLOW_CTX_TASK_ID") or "manual",
        )

    def as_dict(self) -> dict[str, str]:
        def clean(value: str) -> str:  # BigQuery label values: 63 characters, lowercase
            return safe_name(value.lower(), keep="-", max_length=63)

        return {
            "dag_id": clean(self.dag_id),
            "task_id": clean(self.task_id),
            "run_date": clean(self.run_date),
            "variant": clean(self.variant),
        }

    @property
    def variant(self) -> str:
        """The branch variant a job runs for: a variant's DAG is `<base>__<variant>`."""
        return self.dag_id.partition("__")[2] or "main"


class Warehouse(ABC):
    name: str

    @abstractmethod
    def ensure_table(self, schema: "TableSchema") -> None:
        """Create the table (partitioned, clustered) if it does not exist."""

    @abstractmethod
    def replace_partition_from_arrow(
        self, schema: "TableSchema", partition: date, data: "pa.Table", labels: JobLabels = JobLabels()
    ) -> int:
        """Replace one partition with these rows; return the row count written."""

    @abstractmethod
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
        """Replace one partition with the result of a BigQuery-dialect SELECT.

        `query_params` are named query parameters (`@name` in the SQL): values never go
        into SQL text. With `expected_rows`, the rows are counted before they are committed:
        another count raises RowCountMismatch and leaves the partition as it was (a check
        after the write would leave the wrong rows in place).
        """

    @abstractmethod
    def materialize(
        self,
        table_id: str,
        sql: str,
        labels: JobLabels = JobLabels(),
        query_params: QueryParams | None = None,
        expiration_hours: float = 24.0,
    ) -> None:
        """Create or replace the scratch table `table_id` (no schema file) with a SELECT's rows.

        For intermediate results of multi-job work (chunked batch scoring); the table expires
        after `expiration_hours` where the engine supports it (BigQuery), and callers drop it.
        """

    @abstractmethod
    def drop_table(self, table_id: str) -> None:
        """Drop a table if it exists (scratch tables only)."""

    @abstractmethod
    def query_arrow(self, sql: str, query_params: QueryParams | None = None) -> "pa.Table":
        """Run a BigQuery-dialect SELECT and return the result as Arrow."""

    @abstractmethod
    def query_arrow_batches(
        self, sql: str, query_params: QueryParams | None = None, rows_per_batch: int = 262_144
    ) -> "Iterator[pa.RecordBatch]":
        """Run a BigQuery-dialect SELECT and stream its result as Arrow record batches, in the
        query's order, so a reader of millions of rows never holds them all at once."""

    @abstractmethod
    def column_types(self, schema: "TableSchema") -> dict[str, str]:
        """The table's column types as it exists, in schema-file (BigQuery) type names."""

    @abstractmethod
    def sqlalchemy_url(self) -> str:
        """SQLAlchemy URL for tools that push SQL down themselves (Great Expectations)."""

    def partition_counts(self, schema: "TableSchema") -> dict[date, int]:
        """Row count per partition value (for summaries and freshness checks)."""
        pf = schema.partition_field
        result = self.query_arrow(
            f"select {pf} as p, count(*) as n from {schema.table_id} group by {pf} order by {pf}"
        )
        return dict(zip(result.column("p").to_pylist(), result.column("n").to_pylist()))

    def lock(self) -> "contextlib.AbstractContextManager[None]":
        """Exclusive access for clients that open their own connection (default: none needed)."""
        return contextlib.nullcontext()

    def close(self) -> None:
        """Release connections (no-op where there is nothing to release)."""

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
