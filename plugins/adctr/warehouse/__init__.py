"""The warehouse: backends behind one interface (`base.Warehouse`): DuckDB, the embedded
default (`duckdb_backend`), and BigQuery (`bigquery_backend`), picked by `factory`; and the
SQL model runner (`elt`): discovers `sql/**/*.sql`, orders them by the tables they read,
renders, checks and builds one partition.

May import: `adctr.core`. Never ingestion, quality, training, serving or release.
"""

from adctr.warehouse.base import Warehouse, WarehouseConfigError, WarehouseError
from adctr.warehouse.factory import get_warehouse

__all__ = ["Warehouse", "WarehouseConfigError", "WarehouseError", "get_warehouse"]
