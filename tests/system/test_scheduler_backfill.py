"""A real Airflow 3 scheduler runs a 3-date backfill created through REST API v2."""

from __future__ import annotations

from datetime import date

from adctr.warehouse import get_warehouse
from tests.system.airflow_stack import AirflowStack

DAG_ID = "ad_performance_daily"
REPORT_DATES = [date(2026, 11, 5), date(2026, 11, 6), date(2026, 11, 7)]


def test_backfill_three_dates_through_the_rest_api(simulator, isolated_var) -> None:  # noqa: ANN001
    stack = AirflowStack(simulator.url)
    try:
        stack.start()
        stack.wait_for(lambda: stack._get(f"/api/v2/dags/{DAG_ID}").status_code == 200, "DAG parsed", 120)
        stack.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
        # Data-interval timetable in Asia/Tokyo: logical date = interval start = report date 06:00.
        backfill = stack.api(
            "POST",
            "/api/v2/backfills",
            json={
                "dag_id": DAG_ID,
                "from_date": f"{REPORT_DATES[0]}T06:00:00+09:00",
                "to_date": f"{REPORT_DATES[-1]}T06:00:00+09:00",
                "run_backwards": False,
                "dag_run_conf": {},
                "reprocess_behavior": "none",
                "max_active_runs": 3,
            },
        )
        assert backfill["dag_id"] == DAG_ID

        def backfill_runs_done() -> list[dict] | None:
            runs = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]
            runs = [r for r in runs if r["run_type"] == "backfill"]
            failed = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
            if failed:
                raise AssertionError(f"backfill runs failed: {failed}")
            return runs if len(runs) == 3 and all(r["state"] == "success" for r in runs) else None

        runs = stack.wait_for(backfill_runs_done, "3 successful backfill runs", 420)
        assert len(runs) == 3
    except BaseException as exc:
        print(f"system test failed: {exc!r}\n{stack.logs()}")
        raise
    finally:
        stack.stop()

    with get_warehouse() as wh:
        partitions = {
            d: n
            for d, n in wh.execute_native(
                "select report_date, count(*) from raw.ad_performance group by 1 order by 1"
            )
        }
    for day in REPORT_DATES:
        assert partitions.get(day) == 2 * len(simulator.state.world.active(day)) * 3, partitions
