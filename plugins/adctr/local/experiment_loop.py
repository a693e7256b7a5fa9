"""Drive the ABn loop through Airflow over simulated days (the demo and the end-to-end test).

In production the days pass by themselves: each night the daily DAG ingests D, batch scoring
scores D and abn_experiment submits for D + 1 and reads out what was delivered through D.
Locally the simulator's clock is moved instead (PUT /admin/clock): for each scoring day D the
clock is set to D + 1 (the day D's creatives serve; the medium refuses a start in the past),
then the same three DAGs run in the same order. One more day after the last serving day
ingests its delivery and reads it out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import requests

from adctr.local.airflow_runner import DagRunner, RunOutcome


def set_clock(simulator_url: str, token: str, today: date | None) -> None:
    resp = requests.put(
        f"{simulator_url.rstrip('/')}/admin/clock", json={"today": today.isoformat() if today else None},
        headers={"Authorization": f"Bearer {token}"}, timeout=30,
    )  # fmt: skip
    resp.raise_for_status()


@dataclass(frozen=True)
class LoopDay:
    scoring_date: date
    runs: dict[str, RunOutcome]
    seconds: float


def run_loop(
    runner: DagRunner,
    simulator_url: str,
    token: str,
    start: date,
    end: date,
    ingested_through: date,
    report: Callable[[str], Any] = lambda line: None,
) -> list[LoopDay]:
    """Run the loop for an experiment serving `start`..`end`, from a warehouse whose reports are
    ingested through `ingested_through` (= start - 1: the first scoring day). Leaves the
    simulator's clock at end + 1."""
    if ingested_through != start - timedelta(days=1):
        raise ValueError(f"the first scoring day is {start - timedelta(days=1)}; reports are ingested through {ingested_through}")
    days = []
    d = ingested_through
    while d <= end:
        t = time.monotonic()
        set_clock(simulator_url, token, d + timedelta(days=1))
        runs: dict[str, RunOutcome] = {}
        if d > ingested_through:
            runs["ad_performance_daily"] = runner.run("ad_performance_daily", d)
        if d < end:  # something serves on d + 1: score d for the arms to choose from
            runs["batch_scoring"] = runner.run("batch_scoring", d)
        runs["abn_experiment"] = runner.run("abn_experiment", d)
        days.append(LoopDay(d, runs, time.monotonic() - t))
        report(f"  {d}: " + ", ".join(f"{k} {v.state}" for k, v in runs.items()) + f" ({days[-1].seconds:.1f}s)")
        d += timedelta(days=1)
    return days


def experiment_entry(experiment_id: str, start: date, end: date, pre_period_days: int) -> dict[str, Any]:
    """A three-arm experiment for the demo and the end-to-end test: the random control, the
    champion slot (cvr0) and the challenger slot (cvr1)."""
    return {
        "id": experiment_id,
        "description": "Three arms end to end: a random combination, the champion CVR model, the challenger.",
        "model": "cvr", "context": {"medium": "yahoo_ads", "device": "mobile"},
        "start": start.isoformat(), "end": end.isoformat(), "pre_period_days": pre_period_days,
        "primary_metric": "cvr", "guardrails": ["ctr"],
        "arms": [{"name": "control", "slot": "random", "share": 34}, {"name": "champion", "slot": "cvr0", "share": 33},
                 {"name": "challenger", "slot": "cvr1", "share": 33}],
    }  # fmt: skip
