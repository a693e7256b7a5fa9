"""Pick the configured warehouse; the embedded DuckDB when nothing is configured."""

from __future__ import annotations

import os

from adctr.core import settings
from adctr.warehouse.base import Warehouse


def get_warehouse() -> Warehouse:
    """The deployment's warehouse. A branch variant's tasks get main's (its config/warehouse.yaml
    is not read): variants share production's warehouse and are held to its cost guard."""
    with settings.deployment(None):
        cfg = settings.load_config("warehouse")
        backend = settings.selected_backend("warehouse")
    if backend == "duckdb":
        from adctr.warehouse.duckdb_backend import DuckDBWarehouse

        duck = cfg.get("duckdb") or {}
        path = os.environ.get("ADCTR_DUCKDB_PATH") or duck.get("path") or "warehouse.duckdb"
        return DuckDBWarehouse(
            settings.resolve_var_path(path),
            float(duck.get("lock_timeout_seconds", 600)),
            {k: duck.get(k) for k in ("memory_limit", "threads")},
        )
    if backend == "bigquery":
        from adctr.warehouse.bigquery_backend import BigQueryWarehouse
        from adctr.warehouse.cost import CostPolicy

        bq = cfg.get("bigquery") or {}
        return BigQueryWarehouse(
            gcp_conn_id=bq.get("gcp_conn_id", "google_cloud_default"),
            project=os.environ.get("ADCTR_BQ_PROJECT") or bq.get("project"),
            location=os.environ.get("ADCTR_BQ_LOCATION") or bq.get("location", "US"),
            cost=CostPolicy.from_config(bq.get("cost") or {}),
            storage_read_api=bool(bq.get("storage_read_api", True)),
        )
    raise AssertionError(backend)  # selected_backend only returns known backends
