"""Validate one table partition against its suite, as SQL pushdown on the warehouse.

The batch is a query asset selecting exactly the partition (`where <partition_field> =
date 'D'`), so GX's metric queries run in the warehouse (DuckDB locally, BigQuery in
production) and only aggregates come back: nothing pulls the table into pandas.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from adctr.core import settings
from adctr.core.names import safe_name
from adctr.core.table_schemas import get_schema
from adctr.quality.results import ExpectationOutcome, ValidationSummary, save

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
        why=(config.meta or {}).get("why"),
        success=bool(result.success),
        observed=body.get("observed_value"),
        unexpected_count=body.get("unexpected_count"),
        examples=list(body.get("partial_unexpected_list") or [])[:10],
        error=error,
    )


def _unexpected_value_counts(sample: list[Any]) -> list[dict[str, Any]] | None:
    """GX's SUMMARY value counts of a BASIC sample (its own Counter and order), or None where
    GX gives none (values that cannot be hashed or ordered)."""
    from collections import Counter

    values = [tuple(v.values()) if isinstance(v, dict) else v for v in sample]
    try:
        return [
            {"value": value, "count": n}
            for value, n in sorted(Counter(values).most_common(len(values)), key=lambda x: (-x[1], x[0]))
        ]
    except TypeError:
        return None


def _as_summary(result: Any, ctx: Any) -> Any:
    """The SUMMARY result (and Data Docs page) from a BASIC run, at BASIC's cost.

    On SQL, SUMMARY adds only the value counts of the sample BASIC already returns; it also
    compiles an unexpected-rows query and index list per expectation, which it drops unless
    index columns are configured (they are not): about a fifth of a validation's time.
    The counts are added here, and the stored copy that Data Docs render is replaced.
    """
    for outcome in result.results:
        body = outcome.result or {}
        if "partial_unexpected_list" in body:
            counts = _unexpected_value_counts(body["partial_unexpected_list"] or [])
            if counts is not None:
                body["partial_unexpected_counts"] = counts
    store = ctx.validation_results_store
    (key,) = store.list_keys()  # an ephemeral context holds this one validation only
    store.set(key, result)
    return result


def _quiet_progress_bars(ctx: Any) -> None:
    """Task logs get the summary line, not per-metric progress bars."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)


def suite_parameters(
    warehouse: Any, schema: Any, suite_dict: dict[str, Any], partition: date, now: datetime
) -> dict[str, Any]:
    """Runtime values the suite refers to as {"$PARAMETER": name}."""
    from adctr.core import dates

    params: dict[str, Any] = {"report_date": partition.isoformat()}
    for exp in suite_dict.get("expectations", []):
        meta = exp.get("meta") or {}
        if "volume" in meta:
            params.update(_volume_bounds(warehouse, schema, partition, meta["volume"]))
        if "freshness" in meta:
            max_age = float(meta["freshness"]["max_age_hours"])
            params["fresh_after"] = (now - timedelta(hours=max_age)).isoformat()
    day_end = datetime.combine(partition + timedelta(days=1), time.min, dates.account_timezone())
    params["day_closed_at"] = day_end.astimezone(timezone.utc).isoformat()
    return params


def _volume_bounds(warehouse: Any, schema: Any, partition: date, cfg: dict[str, Any]) -> dict[str, Any]:
    """Row-count bounds from the median of the table's previous partitions (if enough exist)."""
    pf = schema.partition_field
    days = int(cfg.get("trailing_days", 7))
    counts = warehouse.query_arrow(
        f"select {pf} as p, count(*) as n from {schema.table_id} "
        f"where {pf} between date_sub(@d, interval {days} day) and date_sub(@d, interval 1 day) "
        f"group by {pf}",
        {"d": partition},
    ).column("n").to_pylist()
    if len(counts) < int(cfg.get("min_history_days", 3)):
        return {"volume_min": 0, "volume_max": 2**62}  # not enough history to judge volume
    median = statistics.median(counts)
    return {
        "volume_min": int(math.floor(median * (1 - float(cfg["max_drop"])))),
        "volume_max": int(math.ceil(median * (1 + float(cfg["max_spike"])))),
    }


def _apply_media_exemptions(suite_dict: dict[str, Any]) -> dict[str, Any]:
    """Pair checks marked `exempt_media_with: <flag>` skip media whose config sets the flag."""
    from great_expectations.expectations.row_conditions import Column

    media = settings.load_config("media").get("media") or []
    out = json.loads(json.dumps(suite_dict))
    for exp in out.get("expectations", []):
        flag = (exp.get("meta") or {}).get("exempt_media_with")
        exempt = [m["name"] for m in media if flag and m.get(flag)]
        if exempt:
            exp["kwargs"]["row_condition"] = Column("medium").is_not_in(exempt)
    return out


def _type_outcome(warehouse: Any, schema: Any) -> ExpectationOutcome:
    """Column types against the schema file (GX cannot read types of a query batch)."""
    actual = warehouse.column_types(schema)
    wrong = {
        c.name: actual.get(c.name)
        for c in schema.columns
        if c.name in actual and actual[c.name] != c.type
    }
    return ExpectationOutcome(
        expectation="expect_column_types_to_match_schema_file",
        column=",".join(sorted(wrong)) or None,
        severity="critical",
        success=not wrong,
        observed={k: f"{v} (schema file: {schema.column(k).type})" for k, v in wrong.items()} or None,
    )


def _publish_docs(local_dir: Path, store: Any, prefix: str) -> str:
    """Copy the built site into the store, files in parallel (each write is a durable local
    write or a GCS upload: waiting on I/O, not the CPU); the index last, so its link only
    resolves once the pages it links to are there."""
    from concurrent.futures import ThreadPoolExecutor

    index = local_dir / "index.html"
    files = [p for p in sorted(local_dir.rglob("*")) if p.is_file() and p != index]

    def put(path: Path) -> None:
        store.write_bytes(f"{prefix}/{path.relative_to(local_dir).as_posix()}", path.read_bytes())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, files))
    put(index)
    return store.uri(f"{prefix}/index.html")


def validate_partition(
    warehouse: Any,
    table_id: str,
    partition: date,
    run_id: str,
    now: datetime | None = None,
    build_docs: bool = True,
    physical: Any = None,
) -> ValidationSummary:
    """Run the table's suite on one partition; save the result and publish its Data Docs.

    `physical` (a TableSchema): validate that table, e.g. a branch variant's scoped copy, with
    `table_id`'s suite; the result is saved under the physical table's name.
    """
    import tempfile

    import great_expectations as gx

    from adctr.quality import gx_compat
    from adctr.quality.results import dq_store

    gx_compat.enable_duckdb_persisted_connection()
    schema = physical or get_schema(table_id)
    raw_suite = load_suite_dict(table_id)
    suite_name = raw_suite.get("name", table_id)
    params = suite_parameters(warehouse, schema, raw_suite, partition, now or datetime.now(timezone.utc))
    suite_dict = _apply_media_exemptions(raw_suite)
    safe_run = safe_name(run_id)

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
    table_id = schema.table_id  # what is read, and what the result is saved under
    query = f"select * from {table_id} where {schema.partition_field} = date '{partition.isoformat()}'"
    type_outcome = _type_outcome(warehouse, schema)
    with warehouse.lock():
        datasource = ctx.data_sources.add_sql(name="warehouse", connection_string=warehouse.sqlalchemy_url())
        try:
            asset = datasource.add_query_asset(name=table_id.replace(".", "__"), query=query)
            batch = asset.add_batch_definition_whole_table(name=partition.isoformat())
            definition = ctx.validation_definitions.add(
                gx.ValidationDefinition(name=f"{table_id}:{partition}", data=batch, suite=suite)
            )
            result = definition.run(expectation_parameters=params, result_format="BASIC")
        finally:
            gx_compat.release(datasource)
    result = _as_summary(result, ctx)
    docs = None
    if build_docs:
        gx_compat.cache_data_docs_templates(settings.var_dir() / "cache" / "gx-data-docs-templates")
        with tempfile.TemporaryDirectory() as tmp:
            ctx.add_data_docs_site(
                site_name="adctr_run",
                site_config={
                    "class_name": "SiteBuilder",
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": tmp},
                },
            )
            ctx.build_data_docs(site_names=["adctr_run"])
            docs = _publish_docs(Path(tmp), dq_store(), f"docs/{safe_run}/{table_id}/{partition.isoformat()}")
    summary = ValidationSummary(
        suite=suite_name,
        table_id=table_id,
        partition=partition.isoformat(),
        run_id=run_id,
        outcomes=[type_outcome, *(_outcome(r) for r in result.results)],
        docs=docs,
    )
    save(summary)
    log.info(
        "DQ %s on %s %s: %s (%d/%d passed, %d warnings); Data Docs: %s",
        suite_name, table_id, partition, "PASS" if summary.success else "FAIL",
        sum(o.success for o in summary.outcomes), len(summary.outcomes), len(summary.warnings), docs,
    )  # fmt: skip
    return summary
