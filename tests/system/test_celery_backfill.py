"""The production topology, natively: Airflow on PostgreSQL with the CeleryExecutor (Redis
broker, two Celery workers, triggerer). A 4-day backfill of the daily pipeline through REST
API v2 (max_active_runs 3, so the limit binds) runs on the Celery stack; a second backfill then
reprocesses the last two dates while manual runs re-run the first two, all at once. The
warehouse must equal a clean serial run of the same dates: each date's DAG run in order,
in-process (`dag.test`), on a warehouse of its own. Concurrency, reprocessing and the executor
must change nothing.

Airflow 3.3 queues no task of a paused DAG, backfill runs included, so the DAG is unpaused;
unpausing would also let the scheduler start the DAG's latest scheduled run (today's
interval), whose trailing-window models read the backfilled dates at whatever moment it
runs. The stack therefore runs with [scheduler] use_job_schedule off (backfills run as
usual): only the backfills and the manual runs write, and whole tables are compared (the backfilled dates'
partitions are compared too, for the diagnostics). Wall times are printed (-s), recorded as
properties (junit XML) and written to backfill_wall_times.json in the test's tmp_path.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from adctr.core import settings
from adctr.warehouse import get_warehouse

from tests.helpers import table_checksums
from tests.system.celery_stack import PostgresStack

DAILY = "ad_performance_daily"
REPORT_DATES = [date(2026, 11, 2) + timedelta(days=i) for i in range(4)]
MAX_ACTIVE_RUNS = 3
# After the first backfill: a second backfill reprocessing the last two dates while manual
# runs of the first two run at the same time. The tables must still equal the serial run's.
OVERLAP = REPORT_DATES[2:]
MANUAL = REPORT_DATES[:2]
BACKFILL_TIMEOUT = 1500  # 30 tasks per date since the asset library


def _backfill(stack: PostgresStack) -> dict:
    """Create the backfill of REPORT_DATES through the REST API and wait until every run succeeded."""
    stack.wait_for(lambda: stack._get(f"/api/v2/dags/{DAILY}").status_code == 200, f"{DAILY} parsed", 180)
    stack.api("PATCH", f"/api/v2/dags/{DAILY}", json={"is_paused": False})
    body = {
        "dag_id": DAILY,
        # Data-interval timetable in Asia/Tokyo: logical date = interval start = report date + cron time.
        "from_date": f"{REPORT_DATES[0]}T06:00:00+09:00",
        "to_date": f"{REPORT_DATES[-1]}T06:00:00+09:00",
        "run_backwards": False, "dag_run_conf": {}, "reprocess_behavior": "none",
        "max_active_runs": MAX_ACTIVE_RUNS,
    }  # fmt: skip
    started = time.monotonic()
    backfill = stack.api("POST", "/api/v2/backfills", json=body)
    assert backfill["dag_id"] == DAILY and backfill["max_active_runs"] == MAX_ACTIVE_RUNS, backfill
    peak = 0

    def done() -> list[dict] | None:
        nonlocal peak
        runs = stack.api("GET", f"/api/v2/dags/{DAILY}/dagRuns", params={"limit": 100})["dag_runs"]
        failed = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
        if failed:
            raise AssertionError(f"runs failed: {failed}")
        peak = max(peak, sum(r["state"] == "running" for r in runs))
        ok = len(runs) == len(REPORT_DATES) and all(r["state"] == "success" for r in runs)
        return runs if ok else None

    runs = stack.wait_for(done, f"{len(REPORT_DATES)} successful backfill runs", BACKFILL_TIMEOUT)
    wall = time.monotonic() - started
    tis = []
    for run in runs:
        path = f"/api/v2/dags/{DAILY}/dagRuns/{quote(run['dag_run_id'], safe='')}/taskInstances"
        tis += stack.api("GET", path, params={"limit": 100})["task_instances"]
    return {"wall": wall, "runs": runs, "peak_running": peak, "tis": tis}


def _overlapping_runs(stack: PostgresStack) -> float:
    """A second backfill that reprocesses dates the first one ran, while manual runs of other
    dates run at the same time; waits until everything succeeded. Returns the wall time."""
    started = time.monotonic()
    body = {
        "dag_id": DAILY, "from_date": f"{OVERLAP[0]}T06:00:00+09:00", "to_date": f"{OVERLAP[-1]}T06:00:00+09:00",
        "run_backwards": False, "dag_run_conf": {}, "reprocess_behavior": "completed",
        "max_active_runs": MAX_ACTIVE_RUNS,
    }  # fmt: skip
    # Airflow runs one backfill per DAG at a time and marks the first one complete shortly
    # after its last run (until then a new one answers 409): wait for that, as an operator would.
    stack.wait_for(
        lambda: all(b["completed_at"] for b in stack.api("GET", "/api/v2/backfills", params={"dag_id": DAILY})["backfills"]),
        "the first backfill to be marked complete", 180,
    )  # fmt: skip
    stack.api("POST", "/api/v2/backfills", json=body)
    manual = [
        stack.api("POST", f"/api/v2/dags/{DAILY}/dagRuns",
                  json={"logical_date": None, "conf": {"report_date": d.isoformat()}})["dag_run_id"]
        for d in MANUAL
    ]  # fmt: skip

    def done() -> bool:
        runs = stack.api("GET", f"/api/v2/dags/{DAILY}/dagRuns", params={"limit": 100})["dag_runs"]
        failed = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
        if failed:
            raise AssertionError(f"runs failed: {failed}")
        backfills = stack.api("GET", "/api/v2/backfills", params={"dag_id": DAILY})["backfills"]
        states = {r["dag_run_id"]: r["state"] for r in runs}
        return (len(backfills) == 2 and all(b["completed_at"] for b in backfills)
                and all(states.get(m) == "success" for m in manual)
                and all(state == "success" for state in states.values()))  # fmt: skip

    stack.wait_for(done, "the overlapping backfill and the manual runs", BACKFILL_TIMEOUT)
    return time.monotonic() - started


def _warehouse_state() -> dict:
    """Whole-table and per-date checksums of the current var/'s warehouse, and raw rows per date."""
    with get_warehouse() as wh:
        return {
            "whole": table_checksums(wh),
            "written": table_checksums(wh, REPORT_DATES),
            "per_date": {d: table_checksums(wh, [d]) for d in REPORT_DATES},
            "raw_rows": dict(wh.execute_native(
                "select report_date, count(*) from raw.ad_performance group by 1 order by 1"
            )),  # fmt: skip
        }


def _serial_run(runner, var: Path, monkeypatch: pytest.MonkeyPatch) -> dict:  # noqa: ANN001
    """The reference: each report date's daily run, one after another, in-process (dag.test)."""
    var.mkdir()
    monkeypatch.setenv("ADCTR_VAR_DIR", str(var))
    started = time.monotonic()
    for day in REPORT_DATES:
        runner.run(DAILY, day)
    return {"wall": time.monotonic() - started, **_warehouse_state()}


def _celery_run(simulator, var: Path, monkeypatch: pytest.MonkeyPatch) -> dict:  # noqa: ANN001
    """The backfill, then the overlapping backfill and manual runs, on a CeleryExecutor stack."""
    var.mkdir()
    monkeypatch.setenv("ADCTR_VAR_DIR", str(var))
    stack = PostgresStack(simulator.url, executor="CeleryExecutor", workers=2, worker_concurrency=2, schedule=False)
    started = time.monotonic()
    try:
        stack.start()
        startup = time.monotonic() - started
        print(f"\nCeleryExecutor stack (Postgres {stack.database}) up in {startup:.1f}s")
        result = _backfill(stack)
        print(f"CeleryExecutor: {len(REPORT_DATES)}-day backfill done in {result['wall']:.1f}s")
        result["executed"] = stack.executed_on_workers({r["dag_run_id"] for r in result["runs"]})
        result["overlap_wall"] = _overlapping_runs(stack)
        print(f"CeleryExecutor: overlapping backfill {OVERLAP[0]}..{OVERLAP[-1]} + manual runs {MANUAL} "
              f"done in {result['overlap_wall']:.1f}s")  # fmt: skip
    except BaseException as exc:
        print(f"CeleryExecutor stack failed: {exc!r}\n{stack.logs()}")
        raise
    finally:
        stack.stop()
    # Every process of the stack ended with its component (no orphaned task process).
    assert not stack.killed_leftovers and not stack.leftover_processes(), stack.killed_leftovers
    result["startup"] = startup
    return result | _warehouse_state()


@pytest.mark.timeout(2400)  # one stack, two backfills, manual runs (pyproject default 900 s)
def test_celery_backfill_on_postgres_equals_a_clean_serial_run(
    simulator, runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record_property  # noqa: ANN001
) -> None:
    test_started = time.monotonic()
    # Both runs see the same "today": the asset library's listing is as of the simulator's
    # today, so a run that crossed midnight in the account timezone would list newer assets.
    simulator.state.set_today(simulator.state.today())
    try:
        serial = _serial_run(runner, tmp_path / "serial", monkeypatch)
        celery = _celery_run(simulator, tmp_path / "celery", monkeypatch)
    finally:
        simulator.state.set_today(None)

    times = {
        "serial_in_process_runs_s": round(serial["wall"], 1),
        "celery_executor_backfill_s": round(celery["wall"], 1),
        "celery_overlapping_backfill_and_manual_runs_s": round(celery["overlap_wall"], 1),
        "celery_executor_stack_start_s": round(celery["startup"], 1),
        "whole_test_s": round(time.monotonic() - test_started, 1),
        "peak_running_backfill_runs": celery["peak_running"],
        "task_instances_per_celery_worker": {name: len(keys) for name, keys in celery["executed"].items()},
    }
    for key, value in times.items():
        record_property(key, value)
    (tmp_path / "backfill_wall_times.json").write_text(json.dumps(times, indent=2))
    print(
        f"\n{len(REPORT_DATES)}-day backfill (max_active_runs {MAX_ACTIVE_RUNS}) wall time: "
        f"CeleryExecutor (2 workers x 2) {celery['wall']:.1f}s; serial in-process runs {serial['wall']:.1f}s\n"
        f"{json.dumps(times)}\n-> {tmp_path / 'backfill_wall_times.json'}"
    )

    # Every run is one of the backfill's and succeeded; no more than max_active_runs at once.
    assert {r["run_type"] for r in celery["runs"]} == {"backfill"}
    tz = ZoneInfo(settings.load_config("pipeline")["account_timezone"])
    days = sorted(datetime.fromisoformat(r["logical_date"]).astimezone(tz).date() for r in celery["runs"])
    assert days == REPORT_DATES
    assert 1 <= celery["peak_running"] <= MAX_ACTIVE_RUNS
    for result in (serial, celery):
        for day in REPORT_DATES:  # media x creatives serving that day x devices
            expected = 2 * len(simulator.state.world.active(day)) * 3
            assert result["raw_rows"].get(day) == expected, result["raw_rows"]
        assert set(result["raw_rows"]) == set(REPORT_DATES)
        # No duplicate keys in any table.
        assert all(dupes == 0 for (_, _, dupes) in result["whole"].values()), result["whole"]

    # The Celery run's tasks really ran on the workers, on both of them.
    executed = celery["executed"]
    ran = {(ti["dag_run_id"], ti["task_id"], ti["map_index"]) for ti in celery["tis"]
           if ti["state"] == "success"}  # fmt: skip
    on_workers = {key for keys in executed.values() for key in keys}
    assert ran and ran <= on_workers, sorted(ran - on_workers)[:10]
    assert all(executed.values()), {name: len(keys) for name, keys in executed.items()}

    # The same tables, exactly (the Celery stack after its overlapping second backfill and
    # manual runs, the reference after one run per date in order).
    if serial["whole"] != celery["whole"]:
        differ = {}
        for day in REPORT_DATES:
            a, b = serial["per_date"][day], celery["per_date"][day]
            differ[day.isoformat()] = {t: (a.get(t), b.get(t)) for t in {*a, *b} if a.get(t) != b.get(t)}
        raise AssertionError(
            f"tables differ between the serial run and the CeleryExecutor stack: {serial['whole']} != "
            f"{celery['whole']}; per date (rows, checksum, duplicates): {differ}"
        )
    assert serial["written"] == celery["written"] == serial["whole"]
