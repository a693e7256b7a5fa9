"""Run DAGs through Airflow itself (`dag.test`) on the project-local Airflow environment.

Used by the demo and the end-to-end tests. The environment (adctr.local.airflow_env) must be in
os.environ before Airflow is first imported, and the metadata DB migrated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from adctr.core import settings
from adctr.local import airflow_env as localenv

# The config/pipeline.yaml key of each DAG's schedule (see the DAG files).
CRON_KEYS = {
    "ad_performance_daily": "daily_schedule_cron",
    "ctr_cvr_retrain": "retrain_schedule_cron",
    "batch_scoring": "scoring_schedule_cron",
    "abn_experiment": "experiment_schedule_cron",
}


class DagRunFailed(RuntimeError):
    """A DAG run ended in a state other than success."""


@dataclass(frozen=True)
class RunOutcome:
    dag_id: str
    run_id: str
    report_date: date | None
    state: str
    task_states: dict[str, str]


def prepare(simulator_url: str | None = None, quiet: bool = True) -> dict[str, str]:
    """Export the local Airflow env into this process and migrate the metadata DB."""
    env = localenv.airflow_env(simulator_url)
    if quiet:
        env.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ.update(env)
    localenv.write_passwords_file(localenv.airflow_home())
    airflow_bin = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow_bin), "db", "migrate"], env=os.environ.copy(), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout}\n{result.stderr}")
    from adctr.orchestration.pools import import_pools

    import_pools(os.environ.copy())
    return env


class DagRunner:
    """Runs the project's DAGs for report dates via dag.test.

    The dags folder is parsed afresh for every run: `dag.test(run_conf=...)` writes the conf
    into the DAG's shared Param objects, so a parsed DAG must not be reused across runs.
    """

    def __init__(self) -> None:
        self._parse()

    def _parse(self) -> Any:
        from airflow.models import DagBag

        bag = DagBag(dag_folder=str(settings.dags_folder()))
        if bag.import_errors:
            raise RuntimeError(f"DAG import errors: {bag.import_errors}")
        return bag

    def run(
        self,
        dag_id: str,
        report_date: date | None,
        conf: dict[str, Any] | None = None,
        check: bool = True,
        mark_success_pattern: str | None = None,
    ) -> RunOutcome:
        """Run a DAG for one report date; with `check`, raise unless the run succeeded."""
        from adctr.core import dates

        dag = self._parse().get_dag(dag_id)
        if dag is None:
            raise KeyError(f"no DAG {dag_id!r} in {settings.dags_folder()}")
        # Airflow 3.3.2's dag.test cannot finish a run of a DAG with deadline alerts (its
        # in-process run looks the alerts up by id but holds their specs: AttributeError 'hex').
        # An in-process run has no triggerer to fire them anyway; the scheduler tiers keep them.
        dag.deadline = None
        kwargs: dict[str, Any] = {"run_conf": conf}
        if mark_success_pattern:  # tasks matching it are marked success without running
            kwargs["mark_success_pattern"] = mark_success_pattern
        base_id = dag_id.split("__")[0]  # ctr_cvr_retrain__<variant> runs on main's schedule key
        if base_id in CRON_KEYS:
            cron = settings.load_config("pipeline")[CRON_KEYS[base_id]]
            kwargs["logical_date"] = dates.manual_logical_date(report_date, cron)
        else:  # not a per-report-date DAG (serving_slot_sync): a fresh run each time
            from datetime import datetime, timezone

            kwargs["logical_date"] = datetime.now(timezone.utc)
        dr = dag.test(**kwargs)
        states = {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
            for ti in dr.get_task_instances()
        }
        outcome = RunOutcome(dag_id, dr.run_id, report_date, str(dr.state), states)
        if check and outcome.state != "success":
            failed = {k: v for k, v in states.items() if v != "success"}
            raise DagRunFailed(f"{dag_id} for {report_date} ended {outcome.state}: {failed}")
        return outcome
