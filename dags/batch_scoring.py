"""
### batch_scoring

Scores **every combination of every ad group's assets** (headline × description × image) for
one **scoring date**, with the model version each configured slot serves, inside the
warehouse, and keeps the best ones per ad group:

`scoring_date` → `build__scoring__candidates` (`sql/scoring/candidates.sql`: every
combination of the assets launched by the date, for each scoring context of
`config/scoring.yaml`, with the model's features from history strictly before the date) →
its gate → `score_combinations` → `build__scoring__best_combinations` (top-k per ad group and
slot) → its gate → `evaluate_against_truth` → `summarize`.

**Where it runs.** On the warehouse engine: DuckDB locally, BigQuery in production. Each
slot's model (LightGBM, verified against its manifest's sha256) is compiled into SQL
(`adctr.scoring.tree_sql`: the trees as CASE expressions, LightGBM's missing-value and
categorical rules, the re-calibration of negative down-sampling) and run as query jobs; no
row leaves the warehouse. A model larger than BigQuery's query length limit runs as several
jobs, each summing a group of trees into a scratch table, and one job that adds them up.
Every BigQuery job is dry-run first and carries `maximumBytesBilled` (budget `batch_scoring`
in `config/warehouse.yaml`).

**Scoring date.** A report date whose feature partitions the daily DAG has built: features
are what was known at the start of that day. The run whose data interval starts on day *D*
scores *D*; the `scoring_date` Param overrides it.

**When it runs.** When the feature tables it reads have been rebuilt (all of them), and when
`serving_slot_sync` moves a configured slot to another version (`announce__<slot>`).

**Outputs.** `scoring.combination_scores` (one row per candidate and slot: score, model,
variant, version, slot) and `scoring.best_combinations` (the `top_k` per ad group, context
and slot). Each run replaces the date's partition: re-runs and backfills are idempotent.

**Backfill.** Trigger a backfill over a range of dates (UI: *Trigger → Backfill*): each run
scores its date with the versions the slots serve *now* (the scores record which), and
replaces that date's partitions only.

**A failure.** `score_combinations` fails, writing nothing, when a slot serves no version yet
(run `serving_slot_sync`), when a served version's files do not match its manifest (the
version is refused: re-publish or pin another), when the model reads a column
`scoring.candidates` lacks (add it to `sql/scoring/candidates.sql`), when the date has no
candidates, or when a BigQuery job would bill over the budget. A failed gate
(`validate__scoring__*`) means the candidates or the scores break their suite; the log names
the check. Fix the cause and clear the failed task: the run replaces its partitions again.

**Is it right?** Where the source is the project's simulator (`truth_source: simulator` in
`config/scoring.yaml`), `evaluate_against_truth` asks it for the true CTR/CVR of the chosen
combinations and reports, per slot, the share of the best combination's true rate that the
model's top-1 reaches, next to a random choice and to the creatives serving that day (run
summary tab).
"""

from __future__ import annotations

import pendulum
from adctr.orchestration import dag_helpers, lineage
from adctr.orchestration.pools import WAREHOUSE_POOL
from airflow.sdk import dag, task

DAG_ID = "batch_scoring"


@dag(
    dag_id=DAG_ID,
    schedule=dag_helpers.scoring_schedule(DAG_ID),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=dag_helpers.default_args("ml-eng"),
    tags=["ads", "scoring", "owner:ml-eng"],
    doc_md=__doc__,
    deadline=dag_helpers.deadline_alert(DAG_ID),
    params={
        "scoring_date": dag_helpers.date_param(
            "Score this date (YYYY-MM-DD) instead of the run's interval: a report date the daily DAG has built.",
            title="Scoring date",
        ),
    },
)
def batch_scoring() -> None:
    @task(
        pool=WAREHOUSE_POOL,
        inlets=[lineage.slot_asset(s) for s in dag_helpers.scoring_slots()],
        outlets=[lineage.table_asset("scoring.combination_scores")],
    )
    def score_combinations(scoring_date: str, **context) -> dict:  # noqa: ANN003
        from adctr.orchestration.tasks.scoring import score_combinations as run

        return run(scoring_date, context)

    @task
    def evaluate_against_truth(scoring_date: str, **context) -> dict:  # noqa: ANN003
        from adctr.orchestration.tasks.scoring import evaluate_against_truth as run

        return run(scoring_date, context)

    day = dag_helpers.report_date_task("scoring_date", "scoring_date")()
    scored = score_combinations(day)
    gates = dag_helpers.sql_model_tasks(DAG_ID, day, producers={"scoring.combination_scores": scored})
    gates["scoring.candidates"] >> scored
    gates["scoring.best_combinations"] >> evaluate_against_truth(day)


with batch_scoring() as this_dag:
    dag_helpers.summary_task(this_dag, ["scoring_date"])
