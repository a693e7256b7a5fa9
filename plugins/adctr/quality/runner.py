"""Validate one table partition against its suite, as SQL pushdown on the warehouse.

The batch is a query asset selecting exactly the partition (`where <partition_field> =
date 'D'`), so GX's metric queries run in the warehouse (DuckDB locally, BigQuery in
production) and only aggregates come back: nothing pulls the table into pandas.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

from adctr import settings
from adctr.quality.results import ExpectationOutcome, ValidationSummary, save
from adctr.schema import get_schema

log = logging.getLogger(__name__)


def suite_path(table_id: str) -> Path:
    return settings.expectations_dir() / f"{table_id}.json"


def load_suite_dict(table_id: str) -> dict[str, Any]:
    path = suite_path(table_id)
    if not path.exists():
        raise settings.ConfigError(f"no expectation suite for {table_id} (expected {path})")
    return json.loads(path.read_text("utf-8"))


def _outcome(result: Any) -> ExpectationOutcome:
    config = result.expectation_config
    kwargs = dict(config.kwargs)
    column = kwargs.get("column") or (
        f"{kwargs['column_A']},{kwargs['column_B']}" if "column_A" in kwargs else None
    ) or (",".join(kwargs["column_list"]) if "column_list" in kwargs else None)
    info = result.exception_info or {}
    error = None
    if isinstance(info, dict) and info.get("raised_exception"):
        error = str(info.get("exception_message"))[:300]
    body = result.result or {}
    return ExpectationOutcome(
        expectation=config.type,
        column=column,
        severity=str((config.meta or {}).get("severity", "critical")),
        success=bool(result.success),
        observed=body.get("observed_value"),
        unexpected_count=body.get("unexpected_count"),
        examples=list(body.get("partial_unexpected_list") or [])[:10],
        error=error,
    )


def _quiet_progress_bars(ctx: Any) -> None:
    """Task logs get the summary line, not per-metric progress bars."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)


def validate_partition(warehouse: Any, table_id: str, partition: date, run_id: str) -> ValidationSummary:
    """Run the table's suite on one partition; save the result and build its Data Docs."""
    import great_expectations as gx

    from adctr.quality import gx_compat

    gx_compat.enable_duckdb_persisted_connection()
    schema = get_schema(table_id)
    suite_dict = load_suite_dict(table_id)
    suite_name = suite_dict.get("name", table_id)
    safe_run = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)
    docs_dir = settings.var_dir() / "dq" / "docs" / safe_run / table_id / partition.isoformat()

    ctx = gx.get_context(mode="ephemeral")
    _quiet_progress_bars(ctx)
    suite = gx.ExpectationSuite(**suite_dict)
    if len(suite.expectations) != len(suite_dict.get("expectations", [])):
        # GX drops expectations it cannot parse with only a log line; refuse instead.
        raise settings.ConfigError(
            f"{suite_path(table_id)}: {len(suite_dict['expectations']) - len(suite.expectations)} "
            f"expectation(s) are not valid for Great Expectations {gx.__version__}"
        )
    suite = ctx.suites.add(suite)
    query = (
        f"select * from {table_id} "
        f"where {schema.partition_field} = date '{partition.isoformat()}'"
    )
    with warehouse.lock():
        datasource = ctx.data_sources.add_sql(
            name="warehouse", connection_string=warehouse.sqlalchemy_url()
        )
        try:
            asset = datasource.add_query_asset(name=table_id.replace(".", "__"), query=query)
            batch = asset.add_batch_definition_whole_table(name=partition.isoformat())
            definition = ctx.validation_definitions.add(
                gx.ValidationDefinition(name=f"{table_id}:{partition}", data=batch, suite=suite)
            )
            result = definition.run(
                expectation_parameters={"report_date": partition.isoformat()},
                result_format="SUMMARY",
            )
        finally:
            gx_compat.release(datasource)
    ctx.add_data_docs_site(
        site_name="adctr_run",
        site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
        },
    )
    urls = ctx.build_data_docs(site_names=["adctr_run"])
    docs = str(docs_dir / "index.html") if urls else None
    summary = ValidationSummary(
        suite=suite_name,
        table_id=table_id,
        partition=partition.isoformat(),
        run_id=run_id,
        outcomes=[_outcome(r) for r in result.results],
        docs=docs,
    )
    save(summary)
    log.info(
        "DQ %s on %s %s: %s (%d/%d passed, %d warnings); Data Docs: %s",
        suite_name, table_id, partition, "PASS" if summary.success else "FAIL",
        sum(o.success for o in summary.outcomes), len(summary.outcomes), len(summary.warnings), docs,
    )  # fmt: skip
    return summary
