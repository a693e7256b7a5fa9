"""The validation's speed-ups keep its output: SUMMARY results from a BASIC run, and Data Docs
whose templates are compiled once (bench/dq_validate.py measures the time saved)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import jinja2
import pyarrow.compute as pc
import pytest
from adctr import quality
from adctr.core.table_schemas import get_schema
from adctr.quality import runner
from adctr.warehouse.duckdb_backend import DuckDBWarehouse
from great_expectations.core import validation_definition
from great_expectations.execution_engine import execution_engine

from tests.helpers import raw_rows

DAY = date(2026, 11, 5)


def _failing_partition(var: Any) -> DuckDBWarehouse:
    """Two failing checks with unexpected-value samples: a column pair and a value set."""
    wh = DuckDBWarehouse(var / "warehouse.duckdb")
    table = raw_rows(DAY, 40)
    tablet = pc.equal(table["device"], "tablet")
    for name, value in (("clicks", pc.add(table["impressions"], 1)), ("currency", "XXX")):
        column = pc.if_else(tablet, value, table[name])
        table = table.set_column(table.schema.get_field_index(name), name, column)
    wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), DAY, table)
    return wh


def _gx_results(monkeypatch: pytest.MonkeyPatch, result_format: str | None) -> list[Any]:
    """Capture the GX result of validate_partition's run (forcing a result format if given)."""
    captured: list[Any] = []
    run = validation_definition.ValidationDefinition.run

    def capture(self: Any, **kwargs: Any) -> Any:
        if result_format:
            kwargs["result_format"] = result_format
        captured.append(run(self, **kwargs))
        return captured[-1]

    monkeypatch.setattr(validation_definition.ValidationDefinition, "run", capture)
    return captured


def test_results_are_gx_summary_results_without_its_unused_metrics(isolated_var, monkeypatch) -> None:  # noqa: ANN001
    wh = _failing_partition(isolated_var)
    resolved: list[str] = []
    resolve = execution_engine.ExecutionEngine.resolve_metrics

    def record(self: Any, metrics_to_resolve: Any, *args: Any, **kwargs: Any) -> Any:
        metrics_to_resolve = list(metrics_to_resolve)
        resolved.extend(m.metric_name for m in metrics_to_resolve)
        return resolve(self, metrics_to_resolve, *args, **kwargs)

    monkeypatch.setattr(execution_engine.ExecutionEngine, "resolve_metrics", record)
    ours = _gx_results(monkeypatch, None)
    fast = quality.validate_partition(wh, "raw.ad_performance", DAY, "fast", build_docs=False)
    # The metrics SUMMARY computes and then drops (no index columns) are not computed.
    assert resolved and not [m for m in resolved if m.endswith((".unexpected_index_query", ".unexpected_index_list"))]

    # GX's own SUMMARY run of the same suite is the reference, result for result.
    monkeypatch.setattr(runner, "_as_summary", lambda result, ctx: result)
    reference = _gx_results(monkeypatch, "SUMMARY")
    slow = quality.validate_partition(wh, "raw.ad_performance", DAY, "fast", build_docs=False)

    def dicts(results: list[Any]) -> list[str]:
        return [json.dumps(r.result, sort_keys=True, default=str) for r in results[0].results]

    assert dicts(ours) == dicts(reference)
    assert any(r.result.get("partial_unexpected_counts") for r in ours[0].results)
    assert fast.to_json() == slow.to_json()
    assert not fast.success and len(fast.blocking_failures) + len(fast.warnings) == 2


def test_data_docs_templates_are_compiled_once(isolated_var, monkeypatch) -> None:  # noqa: ANN001
    wh = _failing_partition(isolated_var)
    quality.validate_partition(wh, "raw.ad_performance", DAY, "first")
    compiled: list[str | None] = []
    compile_ = jinja2.Environment.compile

    def record(self: jinja2.Environment, source: Any, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        compiled.append(name)
        return compile_(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", record)
    result = quality.validate_partition(wh, "raw.ad_performance", DAY, "second")
    assert result.docs and "Status: Failed" in _validation_text(result.docs)
    assert compiled == [], f"Data Docs recompiled {len(compiled)} templates"
    assert list((isolated_var / "cache").rglob("*.cache"))  # on disk: later task processes reuse it


def _validation_text(docs: str) -> str:
    """The validation page's words (tags and styles dropped, as a reader sees them)."""
    import re
    from pathlib import Path

    (page,) = Path(docs).parent.glob("validations/**/*.html")
    text = re.sub(r"<style.*?</style>|<script.*?</script>", " ", page.read_text("utf-8"), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))
