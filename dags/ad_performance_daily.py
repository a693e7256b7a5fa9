"""
### ad_performance_daily

Ingests one **report date** of ad-media performance and builds the warehouse layers for it:

`report_date`, `media` → `extract` (one mapped task per medium) → `load_raw` →
`validate__raw__ad_performance` (Great Expectations gate) → SQL models of `sql/staging` and
`sql/features`: one `build__<dataset>__<table>` task per file, each followed by its own
`validate__<dataset>__<table>` gate, ordered by the tables each file reads.

**Report date.** Calendar day in the account time zone (`config/pipeline.yaml`). The run whose
data interval starts on day *D* processes *D*; it is scheduled after *D* has closed. The
`report_date` Param overrides it for a manual run.

**Backfill.** Trigger a backfill over a logical-date range (UI: *Trigger → Backfill*, or
`POST /api/v2/backfills`). Every task replaces exactly its date's partition, so re-running or
overlapping backfills leave the same state as one clean run.

**A failed gate** (`validate__*`) means the partition breaks a blocking expectation
(`meta.severity: critical` in `expectations/<table>.json`); the task log lists each failed
check with its column and observed value and links the Data Docs page. Nothing downstream
runs, and retraining refuses that date. Fix the source (re-run the date) or, if the data is
right and the expectation wrong, change the suite in review; then clear the failed task.
Warning-level expectations are logged and never block.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from adctr import dag_support

DAG_ID = "ad_performance_daily"


@dag(
    dag_id=DAG_ID,
    schedule=dag_support.account_timetable("daily_schedule_cron"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    default_args=dag_support.default_args("data-eng"),
    tags=["ads", "ingestion", "elt", "owner:data-eng"],
    doc_md=__doc__,
    params={
        "report_date": dag_support.date_param(
            "Process this report date (YYYY-MM-DD) instead of the run's interval."
        ),
        "media": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            description="Media to ingest (config/media.yaml names); empty = all configured.",
        ),
    },
)
def ad_performance_daily() -> None:
    @task
    def media(params=None) -> list:  # noqa: ANN001
        from adctr.tasks import resolve_media

        return resolve_media(params)

    @task(map_index_template="{{ task.op_kwargs['medium'] }}")
    def extract(medium: str, report_date: str) -> dict:
        from adctr.tasks import extract as run

        return run(medium, report_date)

    @task
    def load_raw(report_date: str, media: list, landed: list, **context) -> dict:  # noqa: ANN003
        from adctr.tasks import load_raw as run

        return run(report_date, media, context)

    day, chosen = dag_support.report_date_task("report_date", "report_date")(), media()
    landed = extract.partial(report_date=day).expand(medium=chosen)
    loaded = load_raw(day, chosen, landed)
    raw_gate = dag_support.validate_task("raw.ad_performance")(day)
    quarantine_gate = dag_support.validate_task("raw.ad_performance_quarantine")(day)
    loaded >> [raw_gate, quarantine_gate]
    dag_support.sql_model_tasks(DAG_ID, day, upstream=raw_gate)

ad_performance_daily()
