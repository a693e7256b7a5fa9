"""Each benchmark runs at a tiny size, so the scripts in bench/ keep working."""

from __future__ import annotations

from tests.helpers import load_bench


def test_partition_replace_bench_smoke() -> None:
    result = load_bench("partition_replace").run(rows=3000, repeat=1)
    assert result["rows"] == 3000 and result["replace_s"] > 0 and result["floor_s"] > 0


def test_elt_rebuild_bench_smoke() -> None:
    result = load_bench("elt_rebuild").run(rows_per_day=600, days=2)
    assert result["ours_total_s"] > 0 and result["floor_total_s"] > 0


def test_dq_validate_bench_smoke(isolated_var) -> None:  # noqa: ANN001
    result = load_bench("dq_validate").run(rows=600)
    assert set(result["ours"]) == set(result["floor"]) and result["ratio"] > 0


def test_ingest_http_bench_smoke() -> None:
    result = load_bench("ingest_http").run(rows=3000, page_size=400)
    assert result["rows"] >= 3000 and result["ours_s"] > 0 and result["floor_s"] > 0 and result["ratio"] > 0


def test_train_speed_bench_smoke() -> None:
    result = load_bench("train_speed").run(rows=20000, rounds=5)
    assert result["trees"] >= 1 and result["ours_s"] > 0 and result["floor_s"] > 0



def test_serving_latency_bench_smoke() -> None:
    result = load_bench("serving_latency").run(rounds=5, requests_n=5, batch=50, train_rows=2000)
    assert result["service"]["1"]["p50_ms"] > 0 and result["floor"]["50"]["p50_ms"] > 0
    assert result["ratio_p50_batch"] > 0 and result["service"]["50 columnar"]["n"] == 5
    assert result["ratio_p50_batch_arrow"] > 0 and result["service"]["50 arrow"]["handler_mean_ms"] > 0
    assert result["predictor"]["kind"] == result["service_predictor"]["kind"] == "compiled"


def test_batch_scoring_bench_smoke(tmp_path) -> None:
    result = load_bench("batch_scoring").run(
        sizes=(3000,),
        trees=5,
        train_rows=3000,
        cost_rows=1_000_000,
        cost_sample_rows=2000,
        workdir=tmp_path,
    )
    (size,) = result["sizes"]
    assert size["rows"] == 3000 and size["ours_s"] > 0 and size["floor_s"] > 0 and size["ratio"] > 0  # floor_s to 0.1 ms
    assert size["ours_peak_rss_mb"] > 0
    assert size["jobs"][-1]["job"] == "replace scoring.combination_scores"
    bq = result["bigquery"]
    assert bq["rows"] == 1_000_000 and bq["billed_bytes"] >= 2 * 10 * 1024**2 and bq["usd"] >= 0


def test_backfill_bench_stage_accounting() -> None:
    """bench/backfill.py drives a real Airflow stack for minutes, so it runs by hand
    (`make bench-backfill`); its accounting is checked here: every task of the two DAGs it
    drives counts to the stage its work belongs to, and busy time is an interval union."""
    from airflow.models import DagBag

    bench = load_bench("backfill")
    bag = DagBag(dag_folder=str(bench.ROOT / "dags"))
    stages = {
        (dag_id, t.task_id): bench.stage_of(dag_id, t.task_id)
        for dag_id in (bench.DAILY, bench.RETRAIN) for t in bag.dags[dag_id].tasks
    }  # fmt: skip
    assert set(stages.values()) == set(bench.STAGES)
    daily = {t: s for (d, t), s in stages.items() if d == bench.DAILY}
    assert daily["extract__yahoo_ads"] == daily["extract_library__google_ads"] == daily["load_raw"] == daily["load_library"] == daily["plan_pull"] == "ingest"
    assert daily["build__features__creative_daily"] == "elt" and daily["validate__raw__ad_performance"] == "dq"
    retrain = {t: s for (d, t), s in stages.items() if d == bench.RETRAIN}
    assert retrain["train__ctr"] == retrain["publish__cvr"] == retrain["check_inputs"] == "training"
    assert daily["summarize"] == retrain["snapshot_date"] == "other"
    assert retrain["build__training__ctr_examples"] == "elt" and retrain["validate__training__cvr_examples"] == "dq"
    assert bench.union_seconds([(0, 10), (5, 12), (20, 21), (21, 22)]) == 14
    assert bench.union_seconds([]) == 0
    tis = [
        {"dag_id": bench.DAILY, "task_id": "load_raw", "start_date": "2026-11-01T00:00:00Z", "end_date": "2026-11-01T00:00:04Z"},
        {"dag_id": bench.DAILY, "task_id": "extract__meta", "start_date": "2026-11-01T00:00:02Z", "end_date": "2026-11-01T00:00:05Z"},
        {"dag_id": bench.DAILY, "task_id": "extract__meta", "start_date": None, "end_date": None},  # skipped
    ]  # fmt: skip
    assert bench.stage_times(tis)["ingest"] == {"task_s": 7.0, "busy_s": 5.0, "tasks": 2}
    wh = [
        {"task_id": task, "pool": "warehouse", "start_date": f"2026-11-01T00:00:{a:02d}Z", "end_date": f"2026-11-01T00:00:{b:02d}Z"}
        for task, a, b in [("build__x", 0, 4), ("validate__q", 5, 6), ("build__x", 8, 12), ("validate__q", 12, 13)]
    ] + [{"task_id": "extract__meta", "pool": "admedia__meta", "start_date": "2026-11-01T00:00:00Z",
          "end_date": "2026-11-01T00:00:30Z"}]  # fmt: skip
    assert bench.pool_profile(wh) == {
        "tasks": 4, "task_s": 10.0, "busy_s": 10.0, "handoff_gaps_s": 3.0, "handoff_gap_median_s": 1.5,
        "task_median_s": 2.5, "lightest_task": "validate__q", "lightest_task_median_s": 1.0,
    }  # fmt: skip
    assert bench.pool_profile(wh[-1:]) == {"tasks": 0}
    # Overlapping tasks (a pool of several slots): a gap is time in which none of them ran,
    # not the time after the previous task to start had ended.
    wide = [{**wh[0], "end_date": "2026-11-01T00:00:20Z"}, *wh[1:4]]
    assert bench.pool_profile(wide)["handoff_gaps_s"] == 0.0 and bench.pool_profile(wide)["busy_s"] == 20.0


def test_variant_cost_bench_smoke(isolated_var) -> None:  # noqa: ANN001
    result = load_bench("variant_cost").run(rows_per_day=600, days=3, attribution_window_days=1)
    assert result["sql_variant_first_deployment"]["partitions"] == 3 + 2  # every day of creative_daily, 2 sets
    assert result["sql_variant_nightly"]["partitions"] == 3 and result["sql_variant_rerun"]["partitions"] == 0
    assert result["config_variant_first_deployment"]["partitions"] == 0
    assert result["main_nightly"]["bytes"] > result["sql_variant_nightly"]["bytes"] > 0
