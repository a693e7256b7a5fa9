"""Warehouse backends behind one interface: DuckDB (embedded default) and BigQuery."""

from adctr.warehouse.base import Warehouse, WarehouseConfigError, WarehouseError
from adctr.warehouse.factory import get_warehouse

__all__ = ["Warehouse", "WarehouseConfigError", "WarehouseError", "get_warehouse"]
