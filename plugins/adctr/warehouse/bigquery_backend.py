"""Production warehouse: BigQuery through the Google provider's BigQueryHook.

Partition replacement writes to the partition decorator `table$YYYYMMDD` with
WRITE_TRUNCATE (queries and loads alike), so a run for date D replaces D and nothing else.
Standard SQL only (`useLegacySql: false`), job labels name the DAG, task and date.
"""

from __future__ import annotations

import io
import logging
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from adctr.warehouse.base import (
    JobLabels,
    QueryParams,
    Warehouse,
    WarehouseConfigError,
    WarehouseError,
)

if TYPE_CHECKING:
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
    return {"query": query, "labels": labels.as_dict()}


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
    return table


class BigQueryWarehouse(Warehouse):
    name = "bigquery"

    def __init__(self, gcp_conn_id: str, project: str | None, location: str) -> None:
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

    def __repr__(self) -> str:
        return f"BigQueryWarehouse(project={self.project!r}, location={self.location!r})"

    def _client(self) -> Any:
        return self.hook.get_client(project_id=self.project, location=self.location)

    def ensure_table(self, schema: "TableSchema") -> None:
        from google.cloud import bigquery

        client = self._client()
        client.create_dataset(bigquery.Dataset(f"{self.project}.{schema.dataset}"), exists_ok=True)
        client.create_table(table_definition(self.project, schema), exists_ok=True)

    def _run(self, configuration: dict[str, Any]) -> Any:
        job = self.hook.insert_job(
            configuration=configuration, project_id=self.project, location=self.location
        )
        job.result()
        if job.error_result:
            raise WarehouseError(f"BigQuery job {job.job_id} failed: {job.error_result}")
        return job

    def replace_partition_from_query(
        self,
        schema: "TableSchema",
        partition: date,
        sql: str,
        labels: JobLabels = JobLabels(),
        query_params: QueryParams | None = None,
    ) -> int:
        self.ensure_table(schema)
        job = self._run(
            query_job_configuration(self.project, schema, partition, sql, labels, query_params)
        )
        dest = job.destination
        table = self._client().get_table(f"{dest.project}.{dest.dataset_id}.{schema.table}")
        log.info("bigquery: replaced %s$%s (job %s)", schema.table_id, f"{partition:%Y%m%d}", job.job_id)
        return int(getattr(job, "num_dml_affected_rows", None) or table.num_rows or 0)

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

    def query_arrow(self, sql: str, query_params: QueryParams | None = None) -> "pa.Table":
        config = self._query_config(query_params)
        return self._client().query(sql, job_config=config, location=self.location).result().to_arrow()

    def column_types(self, schema: "TableSchema") -> dict[str, str]:
        legacy = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}
        table = self._client().get_table(f"{self.project}.{schema.table_id}")
        return {f.name: legacy.get(f.field_type, f.field_type) for f in table.schema}

    def sqlalchemy_url(self) -> str:
        """For SQL-pushdown validation (sqlalchemy-bigquery, Application Default Credentials)."""
        return f"bigquery://{self.project}"

    def dry_run_bytes(self, sql: str, query_params: QueryParams | None = None) -> int:
        """Bytes a query would process (BigQuery dry run)."""
        config = self._query_config(query_params, dry_run=True, use_query_cache=False)
        job = self._client().query(sql, job_config=config, location=self.location)
        return int(job.total_bytes_processed or 0)
