"""The main job on the embedded default: simulator -> DuckDB -> models -> artifacts.

    python -m adctr.local.demo [--days 14] [--end-date YYYY-MM-DD] [--experiment-days 3]

Starts the ad-media simulator, runs `ad_performance_daily` for each report date of the
window, `ctr_cvr_retrain` for the newest one, `serving_slot_sync` and `batch_scoring` (every
asset combination scored by the slots' new versions), then the ABn loop for a three-arm
experiment serving the newest `--experiment-days` report dates (the simulator's clock moves
day by day: each day `abn_experiment` submits the arms' creatives with tracking ids, the daily
DAG ingests their delivery, and the read-out judges the arms), all through Airflow (`dag.test` on a
project-local, migrated metadata DB), and prints what it produced. The experiment is defined
in a copy of config/ under var/demo-config/ (config/experiments.yaml keeps the planned
production experiment). Re-runnable: a second run leaves the same warehouse contents, except
what the new model version it publishes scores and chooses.
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


def demo_experiment_config(start: date, end: date, pre_period_days: int) -> None:
    """A copy of config/ (var/demo-config) whose experiments.yaml holds the demo's three-arm
    experiment, read by every later step of this process (ADCTR_CONFIG_DIR)."""
    import shutil

    import yaml

    from adctr.local.experiment_loop import experiment_entry

    target = settings.var_dir() / "demo-config"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(settings.main_config_dir(), target)
    table = yaml.safe_load((target / "experiments.yaml").read_text("utf-8"))
    table["experiments"] = [experiment_entry("demo-three-arm", start, end, pre_period_days)]
    (target / "experiments.yaml").write_text(yaml.safe_dump(table, sort_keys=False), "utf-8")
    os.environ["ADCTR_CONFIG_DIR"] = str(target)


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
    parser.add_argument("--days", type=int, default=14, help="report dates ingested before the experiment (default 14)")
    parser.add_argument("--end-date", type=date.fromisoformat, help="newest report date (default yesterday, account time zone)")
    parser.add_argument("--experiment-days", type=int, default=3, help="serving days of the demo's experiment, the newest report dates (0: none)")
    args = parser.parse_args(argv)

    from adctr.core import dates

    end = args.end_date or dates.today_local() - timedelta(days=1)
    experiment_days = max(0, args.experiment_days)
    # The experiment serves the newest `experiment_days` report dates; the history before it
    # trains the models. All are past days: a run never processes a day that has not closed.
    trained = end - timedelta(days=experiment_days)
    window = [trained - timedelta(days=i) for i in range(args.days - 1, -1, -1)]
    started = time.monotonic()
    print(f"ad CTR/CVR demo: report dates {window[0]} .. {trained} ({len(window)} days)"
          + (f", then an experiment serving {trained + timedelta(days=1)} .. {end}" if experiment_days else ""), flush=True)  # fmt: skip

    with simulator_process() as sim_url:
        from adctr.local.airflow_runner import DagRunner, prepare
        from adctr.local.experiment_loop import run_loop, set_clock

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
        retrain = runner.run("ctr_cvr_retrain", trained, conf={"promote_reason": DEMO_PROMOTE_REASON})
        print(f"  ctr_cvr_retrain {trained}: {retrain.state} ({time.monotonic() - t:.1f}s)", flush=True)
        t = time.monotonic()
        sync = runner.run("serving_slot_sync", trained)
        print(f"  serving_slot_sync: {sync.state} ({time.monotonic() - t:.1f}s)", flush=True)
        if experiment_days:
            start = trained + timedelta(days=1)
            demo_experiment_config(start, end, pre_period_days=min(7, args.days - 1))
            print(f"  ABn loop: experiment demo-three-arm serving {start} .. {end} (the simulator's clock moves day by day)",
                  flush=True)  # fmt: skip
            token = str(settings.load_config("simulator")["token"])
            try:
                loop = run_loop(runner, sim_url, token, start, end, trained, print)
            finally:
                set_clock(sim_url, token, None)
            scoring, experiment = loop[0].runs["batch_scoring"], loop[-1].runs["abn_experiment"]
        else:
            t = time.monotonic()
            scoring, experiment = runner.run("batch_scoring", trained), None
            print(f"  batch_scoring {trained}: {scoring.state} ({time.monotonic() - t:.1f}s)", flush=True)

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
        print(summary.render_scoring(wh, run_summary.read(dq_store(), "batch_scoring", scoring.run_id), trained))
        if experiment is not None:
            print(summary.render_experiment(wh, run_summary.read(dq_store(), "abn_experiment", experiment.run_id)))
    print(f"\ndone in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
