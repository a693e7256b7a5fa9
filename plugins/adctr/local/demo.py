"""The main job on the embedded default: simulator -> DuckDB -> models -> artifacts.

    python -m adctr.local.demo [--days 14] [--end-date YYYY-MM-DD]

Starts the ad-media simulator, runs `ad_performance_daily` for each report date of the
window, `ctr_cvr_retrain` for the newest one, `serving_slot_sync` and `batch_scoring` (every
asset combination scored by the slots' new versions), all through Airflow (`dag.test` on a
project-local, migrated metadata DB), and prints what it produced. Re-runnable: a second
run leaves the same warehouse contents and publishes a new model version.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import date, timedelta

from adctr.core import settings

DEMO_PROMOTE_REASON = "make demo: local end-to-end run on simulator data"


@contextlib.contextmanager
def simulator_process(today: date | None = None) -> Iterator[str]:
    """Run the simulator in a child process on a free loopback port; yield its base URL."""
    url_file = settings.var_dir() / "simulator.url"
    url_file.parent.mkdir(parents=True, exist_ok=True)
    url_file.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(settings.project_root() / "plugins")}
    cmd = [sys.executable, "-m", "adctr.simulator", "--url-file", str(url_file)]
    if today:
        cmd += ["--today", today.isoformat()]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not url_file.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"simulator exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                raise RuntimeError("simulator did not start within 30s")
            time.sleep(0.05)
        yield url_file.read_text().strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def quiet_third_party_deprecations() -> None:
    """Keep libraries' deprecation warnings (Airflow's own use of pathspec prints one per DAG
    parse) out of the demo's output: they are for those libraries' developers, and the demo's
    reader wants its own lines. Airflow installs "show" filters for its modules when it is
    first imported, so this runs after that and goes in front of them. The test tier keeps
    every warning."""
    import airflow.configuration  # noqa: F401 - installs Airflow's filters first

    for category in (DeprecationWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adctr.local.demo", description=__doc__)
    parser.add_argument("--days", type=int, default=14, help="report dates to ingest (default 14)")
    parser.add_argument("--end-date", type=date.fromisoformat, help="newest report date (default yesterday, account time zone)")
    args = parser.parse_args(argv)

    from adctr.core import dates

    end = args.end_date or dates.today_local() - timedelta(days=1)
    window = [end - timedelta(days=i) for i in range(args.days - 1, -1, -1)]
    started = time.monotonic()
    print(f"ad CTR/CVR demo: report dates {window[0]} .. {end} ({len(window)} days)", flush=True)

    with simulator_process() as sim_url:
        from adctr.local.airflow_runner import DagRunner, prepare

        prepare(sim_url)
        quiet_third_party_deprecations()  # after prepare(): Airflow reads its env on import
        print(f"simulator at {sim_url}; Airflow home {os.environ['AIRFLOW_HOME']}", flush=True)
        runner = DagRunner()
        for day in window:
            t = time.monotonic()
            outcome = runner.run("ad_performance_daily", day)
            print(f"  ad_performance_daily {day}: {outcome.state} ({time.monotonic() - t:.1f}s)", flush=True)
        t = time.monotonic()
        # A manual run promotes only with a reason (the nightly scheduled run needs none).
        retrain = runner.run("ctr_cvr_retrain", end, conf={"promote_reason": DEMO_PROMOTE_REASON})
        print(f"  ctr_cvr_retrain {end}: {retrain.state} ({time.monotonic() - t:.1f}s)", flush=True)
        t = time.monotonic()
        sync = runner.run("serving_slot_sync", end)
        print(f"  serving_slot_sync: {sync.state} ({time.monotonic() - t:.1f}s)", flush=True)
        t = time.monotonic()
        scoring = runner.run("batch_scoring", end)
        print(f"  batch_scoring {end}: {scoring.state} ({time.monotonic() - t:.1f}s)", flush=True)

    from adctr import quality
    from adctr.core.storage import get_store
    from adctr.local import demo_report as summary
    from adctr.orchestration import run_summary
    from adctr.quality.results import dq_store
    from adctr.release import artifacts
    from adctr.warehouse import get_warehouse

    with get_warehouse() as wh:
        rows = summary.warehouse_rows(wh)
    dq = quality.latest_results()
    store = get_store("artifact")
    models = artifacts.published_versions(store, retrain.run_id)
    print(summary.render(rows, dq, models))
    print(summary.render_slots(store))
    with get_warehouse() as wh:
        print(summary.render_scoring(wh, run_summary.read(dq_store(), "batch_scoring", scoring.run_id), end))
    print(f"\ndone in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
