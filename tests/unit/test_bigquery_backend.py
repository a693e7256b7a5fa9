"""BigQuery backend: the job configurations it sends, checked with the real client types.

No offline emulator replaces a partition correctly (DESIGN.md), so what is tested is what
the client would send: destination decorator, write disposition, dialect, labels.
"""

from __future__ import annotations

from datetime import date

import pytest
from adctr.core.table_schemas import get_schema
from adctr.warehouse import WarehouseConfigError
from adctr.warehouse.base import JobLabels
from adctr.warehouse.bigquery_backend import (
    BigQueryWarehouse,
    load_job_configuration,
    query_job_configuration,
)
from google.cloud import bigquery

LABELS = JobLabels(dag_id="ad_performance_daily", task_id="build__staging__ad_performance", run_date="2026-11-20")


def test_query_job_replaces_one_partition_with_standard_sql() -> None:
    schema = get_schema("staging.ad_performance")
    config = query_job_configuration("proj", schema, date(2026, 11, 20), "select 1", LABELS)
    job = bigquery.QueryJobConfig.from_api_repr(config)
    assert job.destination.table_id == "ad_performance$20261120"
    assert job.destination.dataset_id == "staging" and job.destination.project == "proj"
    assert job.write_disposition == bigquery.WriteDisposition.WRITE_TRUNCATE
    assert job.use_legacy_sql is False
    assert job.time_partitioning.field == "report_date"
    assert job.clustering_fields == ["medium", "creative_id"]
    assert job.labels == {
        "dag_id": "ad_performance_daily",
        "task_id": "build__staging__ad_performance",
        "run_date": "2026-11-20",
        "variant": "main",
    }
    assert job.maximum_bytes_billed is None  # only set when the cost guard computed one
    guarded = query_job_configuration("proj", schema, date(2026, 11, 20), "select 1", LABELS, None, 11 * 2**20)
    assert bigquery.QueryJobConfig.from_api_repr(guarded).maximum_bytes_billed == 11 * 2**20


def test_load_job_replaces_one_partition_from_parquet() -> None:
    schema = get_schema("raw.ad_performance")
    config = load_job_configuration("proj", schema, date(2026, 11, 20), LABELS)
    job = bigquery.LoadJobConfig.from_api_repr(config)
    assert config["load"]["destinationTable"]["tableId"] == "ad_performance$20261120"
    assert job.source_format == bigquery.SourceFormat.PARQUET
    assert job.write_disposition == bigquery.WriteDisposition.WRITE_TRUNCATE
    assert [f.name for f in job.schema] == schema.column_names


def test_missing_connection_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_GCP", raising=False)
    with pytest.raises(WarehouseConfigError, match="connection 'no_such_gcp' is not defined"):
        BigQueryWarehouse("no_such_gcp", project="p", location="asia-northeast1")


def test_values_travel_as_typed_query_parameters() -> None:
    from datetime import datetime, timezone

    schema = get_schema("features.creative_daily")
    config = query_job_configuration(
        "proj", schema, date(2026, 11, 20), "select @ds", LABELS,
        {"ds": date(2026, 11, 20), "n": 7, "rate": 0.5, "name": "見出し", "at": datetime(2026, 11, 20, tzinfo=timezone.utc)},
    )  # fmt: skip
    job = bigquery.QueryJobConfig.from_api_repr(config)
    params = {p.name: (p.type_, p.value) for p in job.query_parameters}
    assert params == {
        "ds": ("DATE", date(2026, 11, 20)),
        "n": ("INT64", 7),
        "rate": ("FLOAT64", 0.5),
        "name": ("STRING", "見出し"),
        "at": ("TIMESTAMP", datetime(2026, 11, 20, tzinfo=timezone.utc)),
    }
    assert config["query"]["parameterMode"] == "NAMED"


def test_tables_are_created_from_the_schema_files() -> None:
    from adctr.warehouse.bigquery_backend import table_definition

    schema = get_schema("raw.ad_performance")
    table = table_definition("proj", schema)
    assert (table.project, table.dataset_id, table.table_id) == ("proj", "raw", "ad_performance")
    assert table.time_partitioning.type_ == "DAY" and table.time_partitioning.field == "partition_date"
    assert table.clustering_fields == ["medium", "creative_id"]
    assert [(f.name, f.field_type, f.mode) for f in table.schema][:2] == [
        ("partition_date", "DATE", "REQUIRED"), ("report_date", "DATE", "NULLABLE")
    ]
