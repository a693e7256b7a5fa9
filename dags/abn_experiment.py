"""
### abn_experiment

The **ABn experiment loop** for one scoring day *D*: which model each unit (ad group) gets,
what it submits to the medium with which tracking id, and how each arm is doing in delivery.

`scoring_date` → `load_experiments` (`config/experiments.yaml`, validated: a bad table fails
here naming the field) → `assign_units` (each unit's arm for *D* + 1 from a salted hash over
fixed buckets; `experiments.bucket_maps`, `experiments.assignments`) → `choose_creatives` (an
arm on a slot takes the combination batch scoring ranked first for the unit with that slot's
version, the `random` control a random one; each gets a tracking id in
`experiments.tracking_ids`) → its gate → `submit_creatives` (the medium's creative-submission
API, the tracking id as the creative's label).

In parallel: `delivery_dates` → `build__experiments__unit_daily` (delivery joined back to the
tracking ids by the label the medium reports) → its gate → `build__experiments__unit_totals`
(per unit, cumulative through each look, with its pre-period for CUPED) → its gate, for every
serving day the daily DAG may have restated → `read_out` (every arm against control: CTR and
CVR lift with delta-method intervals, CUPED, sample-ratio check, sequential boundaries for
daily looks, Holm over the arms; a decision per arm: keep running, ship, stop or invalid;
`experiments.results`, `experiments.decisions`) → `summarize` (the run summary tab, with the
lift plot and, on the simulator, each arm's true lift).

**When it runs.** When batch scoring has rebuilt `scoring.best_combinations`, or at
`experiment_schedule_cron`. The run whose data interval starts on *D* handles *D*; the
`scoring_date` Param overrides it (a date batch scoring has scored). **Backfill** a range to
re-read past looks: every step replaces its day's partitions, and submissions are idempotent
per tracking id.

**A failure.** `load_experiments`: the table is wrong (the message names the field).
`choose_creatives`: a slot of an arm has no scores for *D* (run `batch_scoring`). A gate: a
delivered label no tracking id explains (`experiments.unit_daily` with a null experiment), or
counts that do not add up. `submit_creatives`: the medium refused a creative (the message
names it). Fix the cause and clear the task.
"""

from __future__ import annotations

import pendulum
from adctr.orchestration import dag_helpers, lineage
from adctr.orchestration.pools import WAREHOUSE_POOL
from airflow.sdk import dag, task

DAG_ID = "abn_experiment"


@dag(
    dag_id=DAG_ID,
    schedule=dag_helpers.experiment_schedule(),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=dag_helpers.default_args("ml-eng"),
    tags=["ads", "experiments", "owner:ml-eng"],
    doc_md=__doc__,
    deadline=dag_helpers.deadline_alert(DAG_ID),
    params={
        "scoring_date": dag_helpers.date_param(
            "Run the loop for this scoring date (YYYY-MM-DD) instead of the run's interval: a date batch scoring has scored.",
            title="Scoring date",
        ),
    },
)
def abn_experiment() -> None:
    @task
    def load_experiments(scoring_date: str) -> dict:
        from adctr.orchestration.tasks.experiments import load_table

        return load_table(scoring_date)

    @task(pool=WAREHOUSE_POOL, outlets=[lineage.table_asset("experiments.assignments")])
    def assign_units(scoring_date: str, **context) -> dict:  # noqa: ANN003
        from adctr.orchestration.tasks.experiments import assign_units as run

        return run(scoring_date, context)

    @task(pool=WAREHOUSE_POOL, outlets=[lineage.table_asset("experiments.tracking_ids")], multiple_outputs=True)
    def choose_creatives(scoring_date: str, **context) -> dict:  # noqa: ANN003
        from adctr.orchestration.tasks.experiments import choose_creatives as run

        return run(scoring_date, context)

    @task(retries=3)
    def submit_creatives(scoring_date: str) -> dict:
        from adctr.orchestration.tasks.experiments import submit_creatives as run

        return run(scoring_date)

    @task
    def delivery_dates(scoring_date: str) -> list[str]:
        from adctr.orchestration.tasks.experiments import delivery_dates as run

        return run(scoring_date)

    @task(pool=WAREHOUSE_POOL, outlets=[lineage.table_asset("experiments.results")], trigger_rule="none_failed")
    def read_out(scoring_date: str, **context) -> dict:  # noqa: ANN003
        from adctr.orchestration.tasks.experiments import read_out as run

        return run(scoring_date, context)

    day = dag_helpers.report_date_task("scoring_date", "scoring_date")()
    loaded = load_experiments(day)
    chosen = choose_creatives(day)
    checked = dag_helpers.validate_task("experiments.tracking_ids")(chosen["serve_date"])
    loaded >> assign_units(day) >> chosen >> checked >> submit_creatives(day)
    dates = delivery_dates(day)
    loaded >> dates
    gates = dag_helpers.sql_model_tasks(DAG_ID, dates, mapped=True, producers={"experiments.tracking_ids": chosen})
    gates["experiments.unit_totals"] >> read_out(day)


with abn_experiment() as this_dag:
    dag_helpers.summary_task(this_dag, ["scoring_date"])
