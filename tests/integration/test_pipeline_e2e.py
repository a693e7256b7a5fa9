"""Both DAGs end to end on the embedded default: tables, DQ gate, published models,
idempotent re-runs and reproducible training."""

from __future__ import annotations

import json

from adctr import quality
from adctr.core.storage import get_store
from adctr.local import demo_report as summary
from adctr.orchestration import run_summary
from adctr.quality.results import dq_store
from adctr.release import artifacts
from adctr.warehouse import get_warehouse

from tests.helpers import table_checksums
from tests.integration.conftest import HISTORY_DAYS as DAYS

RETRAIN_CONF = {"attribution_window_days": 1}  # 6 days of data: CVR labels mature after 1 day


def test_daily_and_retrain_end_to_end_idempotent_and_reproducible(runner, simulator, daily_history, isolated_var) -> None:  # noqa: ANN001
    # The daily runs of DAYS, in order (the shared history; see tests/integration/conftest.py).
    assert daily_history.days == DAYS and [state for _, state in daily_history.runs] == ["success"] * len(DAYS)
    daily_history.copy_into(isolated_var)

    with get_warehouse() as wh:
        rows = summary.warehouse_rows(wh)
    world = simulator.state.world  # media x creatives serving that day x devices
    expected = {d.isoformat(): 2 * len(world.active(d)) * 3 for d in DAYS}
    for table in ("raw.ad_performance", "staging.ad_performance", "features.creative_daily"):
        assert rows[table] == expected, table

    dq = {(r["table"], r["partition"]): r for r in quality.latest_results()}
    for day in DAYS:
        result = dq[("raw.ad_performance", day.isoformat())]
        assert result["success"] and result["warnings"] == 0 and result["evaluated"] >= 20
        assert result["docs"] and result["docs"].endswith("index.html")

    first = runner.run("ctr_cvr_retrain", DAYS[-1], conf=RETRAIN_CONF)
    store = get_store("artifact")
    for model in ("ctr", "cvr"):
        assert artifacts.complete_versions(store, model, "main") == [1]
        manifest = artifacts.verify(store, model, "main", 1)
        assert manifest["run_id"] == first.run_id and manifest["git_commit"]
        metrics = json.loads(artifacts.read_file(store, model, "main", 1, "metrics.json"))
        overall = metrics["holdout"]["overall"]
        assert 0 < overall["log_loss"] < 1 and 0.5 < overall["auc"] <= 1
        assert metrics["decision"]["reasons"]

    # Every run leaves a readable summary (shown in the UI's "Run summary" tab of the run).
    daily = run_summary.read(dq_store(), "ad_performance_daily", daily_history.runs[-1][0])
    last = DAYS[-1].isoformat()
    assert daily["report_dates"][-1] == last and daily["tasks"]["failed"] == []
    assert daily["rows"]["raw.ad_performance"][last] == expected[last]
    assert daily["rows"]["features.creative_daily"][last] == expected[last]
    assert {(r["table"], r["success"]) for r in daily["dq"] if r["partition"] == last} >= {
        ("raw.ad_performance", True), ("staging.ad_performance", True), ("features.creative_daily", True)}
    assert all(r["docs"] for r in daily["dq"])
    retrain = run_summary.read(dq_store(), "ctr_cvr_retrain", first.run_id)
    assert [(m["model"], m["version"]) for m in retrain["models"]] == [("ctr", 1), ("cvr", 1)]
    assert retrain["no_model_because"] is None and retrain["models"][0]["holdout"]["auc"] > 0.5
    page = run_summary.render_html(retrain, dq_store(), "/adctr/data-docs")
    assert "ctr/main v1" in page and "Rows per layer" in page and "training.ctr_examples" in page

    # Re-running a date leaves the same content, and no duplicate keys anywhere.
    with get_warehouse() as wh:
        before = table_checksums(wh)
        jobs_before = wh.execute_native(
            "select distinct source_job_id from raw.ad_performance where report_date = ?", [DAYS[2]]
        )
    runner.run("ad_performance_daily", DAYS[2])
    with get_warehouse() as wh:
        assert table_checksums(wh) == before
        assert all(dupes == 0 for (_, _, dupes) in before.values())
        jobs_after = wh.execute_native(
            "select distinct source_job_id from raw.ad_performance where report_date = ?", [DAYS[2]]
        )
    assert set(jobs_after).isdisjoint(jobs_before)  # the date really was pulled again

    # Same data + config -> the same model bytes, published as a new version.
    runner.run("ctr_cvr_retrain", DAYS[-1], conf=RETRAIN_CONF)
    for model in ("ctr", "cvr"):
        assert artifacts.complete_versions(store, model, "main") == [1, 2]
        assert artifacts.read_file(store, model, "main", 1, "model.txt") == artifacts.read_file(
            store, model, "main", 2, "model.txt"
        )
        metrics = json.loads(artifacts.read_file(store, model, "main", 2, "metrics.json"))
        assert metrics["champion"]["version"] == 1  # evaluated against the champion
