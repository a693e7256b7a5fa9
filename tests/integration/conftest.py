"""Integration tier: DAGs run through Airflow (`dag.test`) on a migrated local metadata DB."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from filelock import FileLock

# The report dates the end-to-end tests start from: six days, enough for a retrain whose CVR
# labels mature after one day (attribution_window_days 1).
HISTORY_DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(6)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@dataclass(frozen=True)
class DailyHistory:
    """A var/ (warehouse, landing, DQ results, run summaries) after the daily DAG ran once for
    each of `days`, in order, through Airflow; `runs` holds each run's (run_id, state)."""

    var: Path
    days: list[date]
    runs: list[tuple[str, str]]

    def copy_into(self, var: Path) -> None:
        """Give a test its own copy: it may write anything, the shared history stays as built."""
        shutil.copytree(self.var, var, dirs_exist_ok=True)


@pytest.fixture(scope="session")
def daily_history(runner, tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> DailyHistory:  # noqa: ANN001
    """The six-day history, built once per test session instead of once per end-to-end test
    (each daily run is 30 Airflow tasks). Under xdist the first worker that asks builds it,
    under a file lock in the session's shared temporary root; the others wait for it and read
    the same directory. Every consumer copies it (DailyHistory.copy_into) before writing."""
    base = tmp_path_factory.getbasetemp()
    root = base if worker_id == "master" else base.parent  # parent: shared by this session's workers
    built = root / "daily-history"
    done = built / "runs.json"
    with FileLock(str(root / "daily-history.lock")):
        if not done.exists():
            var = built / "var"
            shutil.rmtree(built, ignore_errors=True)
            var.mkdir(parents=True)
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("ADCTR_VAR_DIR", str(var))
                outcomes = [runner.run("ad_performance_daily", day) for day in HISTORY_DAYS]
            done.write_text(json.dumps([[o.run_id, o.state] for o in outcomes]))
    runs = [tuple(r) for r in json.loads(done.read_text())]
    return DailyHistory(built / "var", HISTORY_DAYS, runs)
