"""A catalogue of bad inputs, each injected into the raw partition and caught by name.

For every case: the raw gate fails and its message names the check, nothing downstream is
built, and retraining refuses the date, so no model is published. A clean run of the same
data passes every suite with zero warnings.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from adctr import quality
from adctr.core.storage import get_store
from adctr.release import artifacts
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

from tests.integration.conftest import HISTORY_DAYS

# Seven clean days before D (the volume check compares D with the trailing 7-day median): the
# shared six-day history, then two more days.
DAYS = [*HISTORY_DAYS, *(HISTORY_DAYS[-1] + timedelta(days=i) for i in (1, 2))]
D = DAYS[-1]
ONE_CREATIVE = "creative_id = (select min(creative_id) from raw.ad_performance where partition_date = $d)"
CASES = {
    "negative_counts": (
        f"update raw.ad_performance set impressions = -5 where partition_date = $d and {ONE_CREATIVE}",
        "expect_column_values_to_be_between on impressions",
    ),
    "clicks_gt_impressions": (
        f"update raw.ad_performance set clicks = impressions + 3 where partition_date = $d and {ONE_CREATIVE}",
        "expect_column_pair_values_a_to_be_greater_than_b on impressions,clicks",
    ),
    "null_creative_id": (
        "update raw.ad_performance set creative_id = null where partition_date = $d and device = 'tablet'",
        "expect_column_values_to_not_be_null on creative_id",
    ),
    "duplicated_keys": (
        f"insert into raw.ad_performance select * from raw.ad_performance where partition_date = $d and {ONE_CREATIVE}",
        "expect_compound_columns_to_be_unique on partition_date,medium,creative_id,device",
    ),
    "date_outside_partition": (
        f"update raw.ad_performance set report_date = report_date + 1 where partition_date = $d and {ONE_CREATIVE}",
        "expect_column_values_to_be_between on report_date",
    ),
    "unknown_medium": (
        f"update raw.ad_performance set medium = 'tiktok_ads' where partition_date = $d and {ONE_CREATIVE}",
        "expect_column_values_to_be_in_set on medium",
    ),
    "type_change": (
        "alter table raw.ad_performance alter column cost_micros type double",
        "expect_column_types_to_match_schema_file on cost_micros",
    ),
    "missing_column": (
        "alter table raw.ad_performance drop column conversions",
        "expect_table_columns_to_match_set",
    ),
    "volume_drop_90pct": (
        "delete from raw.ad_performance where partition_date = $d and hash(medium, creative_id, device) % 10 <> 0",
        "expect_table_row_count_to_be_between [volume against the trailing 7-day median",
    ),
    "empty_partition": (
        "delete from raw.ad_performance where partition_date = $d",
        "expect_table_row_count_to_be_between [an empty partition]: observed 0",
    ),
    "stale_partition": (
        "update raw.ad_performance set ingested_at = now() - interval 72 hour where partition_date = $d",
        "expect_column_max_to_be_between on ingested_at",
    ),
}


@pytest.fixture(scope="module")
def clean_history(runner, daily_history, tmp_path_factory) -> Path:  # noqa: ANN001
    """Eight clean days through the daily DAG (built once, copied per case)."""
    var = tmp_path_factory.mktemp("dq-base") / "var"
    daily_history.copy_into(var)
    mp = pytest.MonkeyPatch()
    mp.setenv("ADCTR_VAR_DIR", str(var))
    try:
        for day in DAYS[len(daily_history.days):]:
            runner.run("ad_performance_daily", day)
    finally:
        mp.undo()
    return var


def test_clean_run_passes_every_suite_with_zero_warnings(clean_history, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ADCTR_VAR_DIR", str(clean_history))
    results = quality.latest_results()
    suites = {r["suite"] for r in results}
    assert {"raw.ad_performance", "raw.ad_performance_quarantine", "staging.ad_performance",
            "staging.creative_snapshot", "features.creative_daily"} <= suites  # fmt: skip
    assert len(results) == len(suites) * len(DAYS)
    bad = [(r["suite"], r["partition"], r["failed"], r["warned"]) for r in results if not r["success"] or r["warnings"]]
    assert bad == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_caught_by_name_and_blocks_everything_downstream(
    case: str, runner, clean_history, tmp_path, monkeypatch, capfd  # noqa: ANN001
) -> None:
    var = tmp_path / "var"
    shutil.copytree(clean_history, var)
    monkeypatch.setenv("ADCTR_VAR_DIR", str(var))
    injection, check_name = CASES[case]
    DuckDBWarehouse(var / "warehouse.duckdb").execute_native(injection, {"d": D} if "$d" in injection else None)
    capfd.readouterr()

    # Re-run the date's gate on the injected partition (nothing re-pulled).
    daily = runner.run("ad_performance_daily", D, conf={"skip_ingest": True}, check=False)
    out = capfd.readouterr().out
    assert daily.task_states["validate__raw__ad_performance[0]"] == "failed", daily.task_states
    assert not any(t.startswith("extract__") and s == "success" for t, s in daily.task_states.items())
    assert f"data-quality gate failed: suite raw.ad_performance on raw.ad_performance partition {D}" in out
    assert check_name in out, out[-3000:]
    # Nothing built from the bad report ran; the asset library's own models may (they do not read it).
    from adctr.warehouse import elt

    tainted = {"build__" + m.replace(".", "__") for m in elt.all_sql_models() if "raw.ad_performance" in elt.inputs_of([m])}
    builds = {t.split("[")[0]: s for t, s in daily.task_states.items() if t.startswith("build__")}
    assert "build__features__creative_daily" in tainted and "build__staging__assets" not in tainted
    assert all(s != "success" for t, s in builds.items() if t in tainted), builds

    retrain = runner.run("ctr_cvr_retrain", D, check=False)
    assert retrain.task_states["check_inputs"] == "failed"
    assert "training inputs for" in capfd.readouterr().out
    store = get_store("artifact")
    assert artifacts.complete_versions(store, "ctr", "main") == []
    assert artifacts.complete_versions(store, "cvr", "main") == []
