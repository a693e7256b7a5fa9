"""The one place that touches Great Expectations internals (see DESIGN.md, Compatibility).

GX 1.x runs each metric query on a connection it closes before reading the result; with
duckdb-engine, closing rolls back the open transaction and the rows vanish, so every
expectation "fails" with MetricResolutionError and no counts (GX issues 10738, 11579).
GX already keeps one persisted connection for sqlite/mssql/bigquery/databricks; adding
`duckdb` to that list makes it do the same for DuckDB (and use a StaticPool).

This is private API: GX is pinned in requirements.txt, and tests/unit/test_gx_compat.py
fails the day upstream changes the symbol or the fix stops producing real counts.
"""

from __future__ import annotations

from typing import Any

TESTED_GX_VERSION = "1.24.1"


class _DialectName(str):
    """A str that also answers `.value`, like GX's GXSqlDialect enum members."""

    value = property(str.__str__)


def enable_duckdb_persisted_connection() -> None:
    from great_expectations.execution_engine import sqlalchemy_execution_engine as engine_module

    current = engine_module._PERSISTED_CONNECTION_DIALECTS
    if any(str(getattr(d, "value", d)) == "duckdb" for d in current):
        return
    engine_module._PERSISTED_CONNECTION_DIALECTS = (*current, _DialectName("duckdb"))


def release(datasource: Any) -> None:
    """Close GX's persisted connection and dispose its engines, so the DuckDB file is free."""
    engine = datasource.get_execution_engine()
    if getattr(engine, "_connection", None) is not None:
        engine._connection.close()
        engine._connection = None
    engine.close()
    datasource.get_engine().dispose()
