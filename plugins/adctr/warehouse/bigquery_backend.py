"""Production warehouse: BigQuery through the Google provider's BigQueryHook.

Partition replacement writes to the partition decorator `table$YYYYMMDD` with
WRITE_TRUNCATE (queries and loads alike), so a run for date D replaces D and nothing else.
A replace that must produce a known row count queries into a staging table's partition first
and copies it over `table$YYYYMMDD` only when the count is right (copy jobs are free).
Standard SQL only (`useLegacySql: false`), job labels name the DAG, task and date. Every
query job is dry-run first and carries `maximumBytesBilled` from adctr.warehouse.cost: a
query over its DAG's budget fails before it runs.
"""

from __future__ import annotations

import io
import logging
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from adctr.core import settings
from adctr.warehouse.base import (
    JobLabels,
    QueryParams,
    RowCountMismatch,
    Warehouse,
    WarehouseConfigError,
    WarehouseError,
)
from adctr.warehouse.cost import CostPolicy, sql_file_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa

    from adctr.core.table_schemas import TableSchema

log = logging.getLogger(__name__)


def partition_destination(project: str, schema: "TableSchema", partition: date) -> dict[str, str]:
    return {
        "projectId": project,
        "datasetId": schema.dataset,
        "tableId": f"{schema.table}${partition:%Y%m%d}",
    }


def query_parameters(values: QueryParams | None) -> list[dict[str, Any]]:
    """Named BigQuery query parameters (API representation) from Python values."""
    out = []
    for name, value in sorted((values or {}).items()):
        if isinstance(value, bool):
            kind, text = "BOOL", str(value).lower()
        elif isinstance(value, datetime):
            kind, text = "TIMESTAMP", value.isoformat()
        elif isinstance(value, date):
            kind, text = "DATE", value.isoformat()
        elif isinstance(value, int):
            kind, text = "INT64", str(value)
        elif isinstance(value, float):
            kind, text = "FLOAT64", repr(value)
        elif isinstance(value, str):
            kind, text = "STRING", value
        else:
            raise WarehouseError(f"query parameter {name!r} has unsupported type {type(value).__name__}")
        out.append({"name": name, "parameterType": {"type": kind}, "parameterValue": {"value": text}})
    return out


def query_job_configuration(
    project: str,
    schema: "TableSchema",
    partition: date,
    sql: str,
    labels: JobLabels,
    query_params: QueryParams | None = None,
    maximum_bytes_billed: int | None = None,
) -> dict[str, Any]:
    """The insert-job configuration that replaces one partition with a query's result."""
    query: dict[str, Any] = {
        "query": sql,
        "useLegacySql": False,
        "parameterMode": "NAMED",
        "queryParameters": query_parameters(query_params),
        "destinationTable": partition_destination(project, schema, partition),
        "writeDisposition": "WRITE_TRUNCATE",
        "createDisposition": "CREATE_NEVER",
        "timePartitioning": {"type": "DAY", "field": schema.partition_field},
    }
    if schema.cluster_by:
        query["clustering"] = {"fields": list(schema.cluster_by)}
    if maximum_bytes_billed is not None:
        query["maximumBytesBilled"] = str(maximum_bytes_billed)  # int64 travels as a JSON string
    return {"query": query, "labels": labels.as_dict()}


def scratch_job_configuration(
    project: str,
    table_id: str,
    sql: str,
    labels: JobLabels,
    query_params: QueryParams | None = None,
    maximum_bytes_billed: int | None = None,
) -> dict[str, Any]:
    """The insert-job configuration that creates or replaces a scratch table with a query's result."""
    dataset, table = table_id.split(".")
    query: dict[str, Any] = {
        "query": sql,
        "useLegacySql": False,
        "parameterMode": "NAMED",
        "queryParameters": query_parameters(query_params),
        "destinationTable": {"projectId": project, "datasetId": dataset, "tableId": table},
        "writeDisposition": "WRITE_TRUNCATE",
        "createDisposition": "CREATE_IF_NEEDED",
    }
    if maximum_bytes_billed is not None:
        query["maximumBytesBilled"] = str(maximum_bytes_billed)
    return {"query": query, "labels": labels.as_dict()}


def copy_job_configuration(
    project: str, source: "TableSchema", schema: "TableSchema", partition: date, labels: JobLabels
) -> dict[str, Any]:
    """The copy-job configuration that replaces one partition with the same partition of a
    staging table of the same schema (a copy job bills no bytes)."""
    return {
        "copy": {
            "sourceTable": partition_destination(project, source, partition),
            "destinationTable": partition_destination(project, schema, partition),
            "writeDisposition": "WRITE_TRUNCATE",
            "createDisposition": "CREATE_NEVER",
        },
        "labels": labels.as_dict(),
    }


def load_job_configuration(
    project: str, schema: "TableSchema", partition: date, labels: JobLabels
) -> dict[str, Any]:
    """The load-job configuration that replaces one partition from a Parquet file."""
    load: dict[str, Any] = {
        "destinationTable": partition_destination(project, schema, partition),
        "sourceFormat": "PARQUET",
        "writeDisposition": "WRITE_TRUNCATE",
        "createDisposition": "CREATE_NEVER",
        "timePartitioning": {"type": "DAY", "field": schema.partition_field},
        "schema": {"fields": schema.bigquery_schema()},
    }
    if schema.cluster_by:
        load["clustering"] = {"fields": list(schema.cluster_by)}
    return {"load": load, "labels": labels.as_dict()}


def table_definition(project: str, schema: "TableSchema") -> Any:
    """The BigQuery table a schema file describes: day-partitioned, clustered, documented."""
    from google.cloud import bigquery

    table = bigquery.Table(
        f"{project}.{schema.table_id}",
        schema=[bigquery.SchemaField.from_api_repr(f) for f in schema.bigquery_schema()],
    )
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field=schema.partition_field
    )
    if schema.cluster_by:
        table.clustering_fields = list(schema.cluster_by)
    table.description = schema.description
    if schema.variant:
        table.labels = variant_labels(schema.variant)
    return table


def variant_labels(variant: str) -> dict[str, str]:
    """Labels of a branch variant's scoped datasets and tables (cost and ownership by variant)."""
    from adctr.core.names import safe_name

    return {"variant": safe_name(variant.lower(), keep="-", max_length=63)}


def dataset_definition(project: str, schema: "TableSchema") -> Any:
    from google.cloud import bigquery

    dataset = bigquery.Dataset(f"{project}.{schema.dataset}")
    if schema.variant:
        dataset.labels = variant_labels(schema.variant)
    return dataset


class BigQueryWarehouse(Warehouse):
    name = "bigquery"

    def __init__(
        self,
        gcp_conn_id: str,
        project: str | None,
        location: str,
        cost: CostPolicy | None = None,
        storage_read_api: bool = True,
    ) -> None:
        from airflow.exceptions import AirflowNotFoundException
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        try:
            self.hook = BigQueryHook(gcp_conn_id=gcp_conn_id, location=location, use_legacy_sql=False)
            self.project = project or self.hook.project_id
        except AirflowNotFoundException as exc:
            raise WarehouseConfigError(
                f"the BigQuery warehouse is selected but Airflow connection {gcp_conn_id!r} is "
                f"not defined; create it or unset ADCTR_WAREHOUSE to use the embedded DuckDB"
            ) from exc
        if not self.project:
            raise WarehouseConfigError(
                f"no BigQuery project: set ADCTR_BQ_PROJECT or the project of connection "
                f"{gcp_conn_id!r}"
            )
        self.location = location
        self.cost = cost or CostPolicy.from_config(
            (settings.load_config("warehouse").get("bigquery") or {}).get("cost") or {}
        )
        self.storage_read_api = storage_read_api

    def __repr__(self) -> str:
        return f"BigQueryWarehouse(project={self.project!r}, location={self.location!r})"

    def _client(self) -> Any:
        return self.hook.get_client(project_id=self.project, location=self.location)

    def ensure_table(self, schema: "TableSchema") -> None:
        """Create the table if it does not exist; add the schema file's new NULLABLE columns to
        one that does. A partition write's job cannot add them: a query or load job needs
        schemaUpdateOptions for that, and a copy job has none, so the table gains them first
        (tables.patch, appended at the end as BigQuery adds columns; jobs match them by name)."""
        from google.cloud import bigquery

        client = self._client()
        client.create_dataset(dataset_definition(self.project, schema), exists_ok=True)
        # On 409 (exists) the client reads the table: `table` is what BigQuery holds.
        table = client.create_table(table_definition(self.project, schema), exists_ok=True)
        have = {f.name for f in table.schema}
        missing = [c for c in schema.columns if c.name not in have]
        if not missing:
            return
        required = [c.name for c in missing if c.required]
        if required:
            raise WarehouseConfigError(
                f"{self.project}.{schema.table_id} lacks the REQUIRED columns {required} of its "
                f"schema file; BigQuery adds only NULLABLE columns to an existing table: migrate it"
            )
        added = [f for f in schema.bigquery_schema() if f["name"] not in have]
        table.schema = [*table.schema, *(bigquery.SchemaField.from_api_repr(f) for f in added)]
        client.update_table(table, ["schema"])
        log.info("bigquery: added columns %s to %s", [f["name"] for f in added], schema.table_id)

    def _run(self, configuration: dict[str, Any]) -> Any:
        from google.api_core.exceptions import GoogleAPICallError

        try:
            job = self.hook.insert_job(
                configuration=configuration, project_id=self.project, location=self.location
            )
            job.result()
        except GoogleAPICallError as exc:  # e.g. bytesBilledLimitExceeded (the data grew)
            raise WarehouseError(f"BigQuery job failed: {exc}") from exc
        if job.error_result:
            raise WarehouseError(f"BigQuery job {job.job_id} failed: {job.error_result}")
        return job

    def _max_bytes_billed(
        self, sql: str, query_params: QueryParams | None, labels: JobLabels, source: str
    ) -> int:
        """Dry-run `sql` and turn its estimate into the job's `maximumBytesBilled` (or refuse)."""
        processed, tables = self.dry_run(sql, query_params)
        return self.cost.max_bytes_billed(processed, tables, labels.dag_id, source)

    def partition_rows(self, schema: "TableSchema", partition: date) -> int:
        """Rows in one partition, from tables.get on the partition decorator `table$YYYYMMDD`.

        Not the table's numRows: after a partition write that counts every partition. A partition
        decorator references one partition of a table (https://cloud.google.com/bigquery/docs/
        managing-partitioned-table-data#partition_decorators), and the table resource read
        through it reports that partition's `numRows` (what `bq show 'dataset.table$YYYYMMDD'`
        prints). A free metadata read, unlike a COUNT(*) query (10 MB minimum).
        """
        table = self._client().get_table(f"{self.project}.{schema.table_id}${partition:%Y%m%d}")
        return int(table.num_rows or 0)

    def replace_partition_from_query(
        self,
        schema: "TableSchema",
        partition: date,
        sql: str,
        labels: JobLabels = JobLabels(),
        query_params: QueryParams | None = None,
        *,
        expected_rows: int | None = None,
        staging_expiration_hours: float = 24.0,
    ) -> int:
        """With `expected_rows`, the query writes the partition of a staging table with the
        table's schema (`<dataset>._staged_<table>_<YYYYMMDD>`, expiring after
        `staging_expiration_hours`), its rows are counted from metadata, and only an equal count
        is copied into `table$YYYYMMDD`; the staging table is dropped either way."""
        self.ensure_table(schema)
        source = sql_file_of(schema.path, schema.table_id)
        limit = self._max_bytes_billed(sql, query_params, labels, source)
        if expected_rows is not None:
            return self._replace_checked(
                schema, partition, sql, labels, query_params, limit, expected_rows,
                staging_expiration_hours,
            )  # fmt: skip
        job = self._run(
            query_job_configuration(self.project, schema, partition, sql, labels, query_params, limit)
        )
        rows = self.partition_rows(schema, partition)
        log.info(
            "bigquery: replaced %s$%s with %d rows (job %s)",
            schema.table_id, f"{partition:%Y%m%d}", rows, job.job_id,
        )  # fmt: skip
        return rows

    def _replace_checked(
        self,
        schema: "TableSchema",
        partition: date,
        sql: str,
        labels: JobLabels,
        query_params: QueryParams | None,
        limit: int,
        expected_rows: int,
        expiration_hours: float,
    ) -> int:
        """Query into a staging partition, count it, copy it over the partition if the count is
        right. Same schema, partitioning and clustering as the table, so the query job is the
        one that would write the table (REQUIRED columns, rows outside the partition refused)
        and the partition copy needs no conversion."""
        from dataclasses import replace

        client = self._client()
        staged = replace(schema, table_id=f"{schema.dataset}._staged_{schema.table}_{partition:%Y%m%d}")
        self.drop_table(staged.table_id)  # a crash's leftover
        table = table_definition(self.project, staged)
        table.expires = datetime.now(timezone.utc) + timedelta(hours=expiration_hours)
        client.create_table(table)
        try:
            job = self._run(
                query_job_configuration(self.project, staged, partition, sql, labels, query_params, limit)
            )
            rows = self.partition_rows(staged, partition)
            if rows != expected_rows:
                raise RowCountMismatch(schema.table_id, partition, expected_rows, rows)
            copy = self._run(copy_job_configuration(self.project, staged, schema, partition, labels))
        finally:
            self.drop_table(staged.table_id)
        log.info(
            "bigquery: replaced %s$%s with %d rows (query job %s, copy job %s)",
            schema.table_id, f"{partition:%Y%m%d}", rows, job.job_id, copy.job_id,
        )  # fmt: skip
        return rows

    def materialize(
        self,
        table_id: str,
        sql: str,
        labels: JobLabels = JobLabels(),
        query_params: QueryParams | None = None,
        expiration_hours: float = 24.0,
    ) -> None:
        from google.cloud import bigquery

        dataset = table_id.split(".")[0]
        client = self._client()
        client.create_dataset(bigquery.Dataset(f"{self.project}.{dataset}"), exists_ok=True)
        limit = self._max_bytes_billed(sql, query_params, labels, f"scratch table {table_id}")
        job = self._run(scratch_job_configuration(self.project, table_id, sql, labels, query_params, limit))
        table = client.get_table(f"{self.project}.{table_id}")
        table.expires = datetime.now(timezone.utc) + timedelta(hours=expiration_hours)
        client.update_table(table, ["expires"])  # a crashed run leaves nothing behind for long
        log.info("bigquery: wrote scratch table %s (job %s)", table_id, job.job_id)

    def drop_table(self, table_id: str) -> None:
        self._client().delete_table(f"{self.project}.{table_id}", not_found_ok=True)

    def replace_partition_from_arrow(
        self, schema: "TableSchema", partition: date, data: "pa.Table", labels: JobLabels = JobLabels()
    ) -> int:
        import pyarrow.parquet as pq
        from google.cloud import bigquery

        self.ensure_table(schema)
        buf = io.BytesIO()
        pq.write_table(data.cast(schema.arrow_schema()), buf)
        buf.seek(0)
        config = load_job_configuration(self.project, schema, partition, labels)
        job_config = bigquery.LoadJobConfig.from_api_repr(config)
        dest = config["load"]["destinationTable"]
        job = self._client().load_table_from_file(
            buf,
            f"{dest['projectId']}.{dest['datasetId']}.{dest['tableId']}",
            job_config=job_config,
            location=self.location,
        )
        job.result()
        return int(job.output_rows or 0)

    def _query_config(self, query_params: QueryParams | None, **kw: Any) -> Any:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig.from_api_repr(
            {"query": {"useLegacySql": False, "parameterMode": "NAMED",
                       "queryParameters": query_parameters(query_params)}}
        )  # fmt: skip
        for key, value in kw.items():
            setattr(config, key, value)
        return config

    def _guarded_query(
        self, sql: str, query_params: QueryParams | None, page_size: int | None = None
    ) -> tuple[Any, str]:
        """Run a SELECT under its DAG's budget (dry run first, maximumBytesBilled) with the
        task's labels; the finished job's row iterator, and how errors name the query."""
        labels = JobLabels.from_environment()
        first_line = " ".join(sql.split())[:80]
        source = f"query `{first_line}` (task {labels.task_id})"
        limit = self._max_bytes_billed(sql, query_params, labels, source)
        config = self._query_config(
            query_params, labels=labels.as_dict(), maximum_bytes_billed=limit
        )
        from google.api_core.exceptions import GoogleAPICallError

        try:
            job = self._client().query(sql, job_config=config, location=self.location)
            return job.result(page_size=page_size), source
        except GoogleAPICallError as exc:
            raise WarehouseError(f"BigQuery query failed ({source}): {exc}") from exc

    def query_arrow(self, sql: str, query_params: QueryParams | None = None) -> "pa.Table":
        result, _ = self._guarded_query(sql, query_params)
        # Storage Read API (gRPC) or REST pages of jobs.getQueryResults: config
        # bigquery.storage_read_api. The client waits with maxResults=0, so with the Storage
        # API on it reads every result that way, however small.
        return result.to_arrow(create_bqstorage_client=self.storage_read_api)

    def query_arrow_batches(
        self, sql: str, query_params: QueryParams | None = None, rows_per_batch: int = 262_144
    ) -> "Iterator[pa.RecordBatch]":
        """The result's pages (REST) or streams (Storage Read API, one stream when the query
        has an ORDER BY, so order is kept) as Arrow record batches; `rows_per_batch` bounds the
        REST page size, the Storage API sizes its own batches."""
        from google.api_core.exceptions import GoogleAPICallError

        result, source = self._guarded_query(sql, query_params, page_size=rows_per_batch)
        try:
            # The client's own Storage Read API client, as to_arrow(create_bqstorage_client=True) makes.
            storage = self._client()._ensure_bqstorage_client() if self.storage_read_api else None
            yield from result.to_arrow_iterable(bqstorage_client=storage)
        except GoogleAPICallError as exc:
            raise WarehouseError(f"BigQuery query failed ({source}): {exc}") from exc

    def column_types(self, schema: "TableSchema") -> dict[str, str]:
        legacy = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}
        table = self._client().get_table(f"{self.project}.{schema.table_id}")
        return {f.name: legacy.get(f.field_type, f.field_type) for f in table.schema}

    def sqlalchemy_url(self) -> str:
        """For SQL-pushdown validation (sqlalchemy-bigquery, Application Default Credentials).
        GX's queries do not pass through `_run`, so the cost guard reaches them through the URL:
        each job sqlalchemy-bigquery runs carries the calling DAG's budget as
        `maximumBytesBilled` (BigQuery refuses a query that would bill more)."""
        budget = self.cost.budget_for(JobLabels.from_environment().dag_id)
        return f"bigquery://{self.project}?maximum_bytes_billed={budget}"

    def dry_run(self, sql: str, query_params: QueryParams | None = None) -> tuple[int, int]:
        """(bytes processed, tables referenced) of a BigQuery dry run: free, nothing runs."""
        config = self._query_config(query_params, dry_run=True, use_query_cache=False)
        job = self._client().query(sql, job_config=config, location=self.location)
        return int(job.total_bytes_processed or 0), len(job.referenced_tables or [])

    def dry_run_bytes(self, sql: str, query_params: QueryParams | None = None) -> int:
        """Bytes a query would process (BigQuery dry run; free)."""
        return self.dry_run(sql, query_params)[0]
