"""The one place that touches Great Expectations internals (see DESIGN.md, Compatibility).

GX 1.x runs each metric query on a connection it closes before reading the result; with
duckdb-engine, closing rolls back the open transaction and the rows vanish, so every
expectation "fails" with MetricResolutionError and no counts (GX issues 10738, 11579).
GX already keeps one persisted connection for sqlite/mssql/bigquery/databricks; adding
`duckdb` to that list makes it do the same for DuckDB (and use a StaticPool).

Data Docs views also recompile their jinja templates for every page; a shared bytecode
cache (`cache_data_docs_templates`) compiles them once.

This is private API: GX is pinned in requirements.txt, and tests/unit/test_gx_compat.py
fails the day upstream changes the symbol or the fix stops producing real counts.
"""

from __future__ import annotations

from pathlib import Path
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


def cache_data_docs_templates(directory: Path) -> None:
    """Compile GX's Data Docs templates once, not once per page.

    Every GX page view (`DefaultJinjaView`) builds a fresh jinja Environment, so each Data
    Docs build re-parses and recompiles about fifty templates: most of its time. Giving each
    Environment jinja's own on-disk bytecode cache makes the first build of a process (and
    of every later Airflow task process) load compiled templates instead. jinja checks each
    entry against the template source and its own bytecode version, so a GX upgrade cannot
    serve stale pages.
    """
    import jinja2
    from great_expectations.render.view import view as view_module

    directory.mkdir(parents=True, exist_ok=True)
    cls = view_module.DefaultJinjaView
    current = getattr(cls, "_adctr_bytecode_cache", None)
    if current is not None and Path(current.directory) == directory:
        return
    cls._adctr_bytecode_cache = jinja2.FileSystemBytecodeCache(str(directory))
    if getattr(cls, "_adctr_original_init", None) is None:
        cls._adctr_original_init = cls.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            cls._adctr_original_init(self, *args, **kwargs)
            self.env.bytecode_cache = cls._adctr_bytecode_cache

        cls.__init__ = __init__
