"""Through Airflow: restated conversions land via the lookback, and a faulty source's run
completes with its bad rows quarantined while the API token stays out of logs and XCom."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from adctr.core import settings
from adctr.simulator.reports import report_table
from adctr.warehouse import get_warehouse

MEDIA = ["yahoo_ads", "google_ads"]


def raw_rows(wh, day: date, medium: str) -> list[tuple]:  # noqa: ANN001
    return wh.execute_native(
        "select creative_id, device, impressions, clicks, conversions, cost_micros from raw.ad_performance "
        "where partition_date = ? and medium = ? order by all", [day, medium],
    )  # fmt: skip


def final_report(world, medium: str, day: date) -> list[tuple]:  # noqa: ANN001
    table = report_table(world, medium, day, day, world.final_day(day))
    rows = [
        (r["AD_ID"], r["DEVICE"], r["IMPS"], r["CLICKS"], r["CONVERSIONS"], round(float(r["COST"]) * 1_000_000))
        for r in table.to_pylist()
    ]
    return sorted(rows)


def test_lookback_lands_restated_conversions(runner, simulator, isolated_var) -> None:  # noqa: ANN001
    day = date(2026, 11, 3)
    world = simulator.state.world
    try:
        simulator.state.set_today(day + timedelta(days=1))  # the morning after: few conversions known
        runner.run("ad_performance_daily", day)
        with get_warehouse() as wh:
            first = {m: raw_rows(wh, day, m) for m in MEDIA}
            first_jobs = {r[0] for r in wh.execute_native("select distinct source_job_id from raw.ad_performance")}

        simulator.state.set_today(day + timedelta(days=7))  # D's attribution window has closed
        outcome = runner.run("ad_performance_daily", day + timedelta(days=6))
    finally:
        simulator.state.set_today(None)

    # D was re-pulled (not final at its first pull) and its models rebuilt; gaps were not.
    pulled = sorted(t for t in outcome.task_states if t.startswith("extract__yahoo_ads["))
    built = sorted(t for t in outcome.task_states if t.startswith("build__staging__ad_performance["))
    assert len(pulled) == 2 and len(built) == 2, outcome.task_states
    with get_warehouse() as wh:
        for medium in MEDIA:
            final = final_report(world, medium, day)
            assert raw_rows(wh, day, medium) == final
            assert sum(r[4] for r in first[medium]) < sum(r[4] for r in final)  # conversions grew
        jobs = {r[0] for r in wh.execute_native(
            "select distinct source_job_id from raw.ad_performance where partition_date = ?", [day])}  # fmt: skip
        assert len(jobs) == 2 and jobs.isdisjoint(first_jobs)  # one current version per medium
        staged = wh.execute_native("select sum(conversions) from staging.ad_performance where report_date = ?", [day])
        assert staged[0][0] == sum(r[4] for m in MEDIA for r in final_report(world, m, day))


def test_faulty_source_completes_and_the_token_never_leaks(runner, simulator, isolated_var, capfd, caplog) -> None:  # noqa: ANN001
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    token = settings.load_config("simulator")["token"]
    day = date(2026, 11, 12)
    caplog.set_level(logging.INFO)
    simulator.state.faults.reset([
        {"kind": "http_429", "stream": "create", "medium": "yahoo_ads", "on_requests": [1], "retry_after": 0.2},
        {"kind": "drop_connection", "stream": "download", "medium": "google_ads", "on_requests": [1]},
        {"kind": "job_failed", "stream": "status", "medium": "google_ads", "on_requests": [1]},
        {"kind": "bad_rows", "stream": "job", "medium": "google_ads", "bad_rows": ["null_id", "unknown_currency"]},
    ])  # fmt: skip
    try:
        outcome = runner.run("ad_performance_daily", day)
        fired = dict(simulator.state.faults.fired)
    finally:
        simulator.state.faults.reset([])
    assert fired.keys() >= {"http_429", "drop_connection", "job_failed", "bad_rows"}
    with get_warehouse() as wh:
        reasons = sorted(r[0] for r in wh.execute_native(
            "select reason from raw.ad_performance_quarantine where report_date = ? and medium = 'google_ads'", [day]))  # fmt: skip
    assert reasons == ["null_creative_id", "unknown_currency"]

    captured = capfd.readouterr()
    logs = caplog.text + captured.out + captured.err  # task logs (dag.test runs tasks in-process)
    assert "retry 1 in" in logs  # the adapters' retries were logged and captured...
    assert token not in logs  # ...without the token
    with create_session() as session:
        values = session.scalars(select(XComModel.value).where(XComModel.run_id == outcome.run_id)).all()
    assert values and all(token not in str(v) for v in values)
