"""
### ad_performance_daily

Ingests one **report date** of ad-media performance, re-pulls recent dates whose conversions
may still grow, and builds the warehouse layers for every date that changed:

`report_date`, `media` → `plan_pull` (the report date plus lookback dates) →
`extract__<medium>` (one task per medium in `config/media.yaml`, in its own pool
`admedia__<medium>`, mapped over the dates) → `load_raw` (one partition per date, then
reconciled against the source's totals) → `validate__raw__*` gates → SQL models of
`sql/staging` and `sql/features`: one `build__<dataset>__<table>` task per file, each
followed by its `validate__<dataset>__<table>` gate, mapped over the dates to rebuild.

**Asset library.** Alongside, `extract_library__<medium>` pulls each medium's asset library
and creative compositions (`GET /api/v1/assets`, `/api/v1/ads`) for the report date only, and
`load_library` replaces that date's partition of `raw.ad_assets`, `raw.ad_creatives` and
`raw.ad_library_quarantine`; the staging models `staging.assets` and
`staging.creative_assets` start after those gates. The API lists the library as of its own
today: a backfill of an old date gets today's library, of which staging keeps what had
launched by that date (status on that date from launch and end dates).

**Report date.** Calendar day in the account time zone (`config/pipeline.yaml`). The run whose
data interval starts on day *D* processes *D*; it is scheduled after *D* has closed. The
`report_date` Param overrides it for a manual run.

**Lookback and restatements.** Conversions of day *D* keep arriving for the medium's
attribution window (`restatement_window_days`, 7). Each run re-pulls, within the last
`lookback_days` (Param, default 7), every date whose last pull was not final. A date whose
content changed is reloaded, and the models of that date and every later date up to *D* are
rebuilt (trailing-window features read earlier partitions). Unchanged dates are not rebuilt.

**Reconciliation.** After each load the warehouse totals per (medium, date) — rows loaded plus
rows quarantined, impressions, clicks, conversions, cost — must equal the totals the source
reported for that pull; a mismatch fails `load_raw` with both numbers.

**Bad rows** go to `raw.ad_performance_quarantine` with the reason and source job id; the
rest load. **Schema drift** (a missing or renamed field) fails `extract__<medium>` with the
column diff; extra fields load only if `schema_drift.allow_additive_fields` is set.

**Without the APIs.** Trigger with `skip_ingest` to rebuild and re-validate a date from the raw
partition already loaded (after a SQL change, or to re-check a gate): no extract runs.

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
from adctr.orchestration import dag_helpers, lineage
from adctr.orchestration.pools import WAREHOUSE_POOL, pool_name
from airflow.sdk import Param, dag, task

DAG_ID = "ad_performance_daily"
LIBRARY_TABLES = ("raw.ad_assets", "raw.ad_creatives", "raw.ad_library_quarantine")


@dag(
    dag_id=DAG_ID,
    schedule=dag_helpers.account_timetable("daily_schedule_cron"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    default_args=dag_helpers.default_args("data-eng"),
    tags=["ads", "ingestion", "elt", "owner:data-eng"],
    doc_md=__doc__,
    deadline=dag_helpers.deadline_alert(DAG_ID),
    params={
        "report_date": dag_helpers.date_param(
            "Process this report date (YYYY-MM-DD) instead of the run's interval.", title="Report date"
        ),
        "media": Param(
            dag_helpers.media_names(),
            type="array",
            items={"type": "string", "enum": dag_helpers.media_names()},
            minItems=1,
            uniqueItems=True,
            examples=dag_helpers.media_names(),  # the trigger form's multi-select pick list
            title="Media",
            description="Media to ingest (config/media.yaml); all configured media by default.",
        ),
        "lookback_days": dag_helpers.optional_int_param(
            "Lookback days",
            "Re-pull not-yet-final report dates this many days back (the report date "
            "included), 1 to 30; empty = lookback_days of config/pipeline.yaml.",
            minimum=1,
            maximum=30,
        ),
        "skip_ingest": dag_helpers.switch_param(
            "Skip ingest",
            "Rebuild and re-validate the report date from the raw data already loaded, "
            "without calling the media APIs (e.g. after changing a SQL model).",
        ),
    },
)
def ad_performance_daily() -> None:
    @task
    def media(params=None) -> list:  # noqa: ANN001
        from adctr.orchestration.tasks.daily import resolve_media

        return resolve_media(params)

    @task
    def plan_pull(report_date: str, media: list, params=None) -> list:  # noqa: ANN001
        from adctr.orchestration.tasks.daily import plan_pull as run

        return run(report_date, media, params)

    @task(map_index_template=dag_helpers.DATE_MAP_INDEX)
    def extract(medium: str, report_date: str, selected: list) -> dict:
        from adctr.orchestration.tasks.daily import extract as run

        return run(medium, report_date, selected)

    @task(
        trigger_rule="none_failed",
        pool=WAREHOUSE_POOL,
        outlets=[lineage.table_asset("raw.ad_performance"), lineage.table_asset("raw.ad_performance_quarantine")],
    )
    def load_raw(report_date: str, dates: list, media: list, **context) -> list:  # noqa: ANN003
        from adctr.orchestration.tasks.daily import load_raw as run

        return run(report_date, dates, media, context)

    @task
    def plan_library(report_date: str, params=None) -> list:  # noqa: ANN001
        from adctr.orchestration.tasks.daily import plan_library as run

        return run(report_date, params)

    @task(map_index_template=dag_helpers.DATE_MAP_INDEX)
    def extract_library(medium: str, report_date: str, selected: list) -> dict:
        from adctr.orchestration.tasks.daily import extract_library as run

        return run(medium, report_date, selected)

    @task(
        trigger_rule="none_failed",
        pool=WAREHOUSE_POOL,
        outlets=[lineage.table_asset(t) for t in LIBRARY_TABLES],
    )
    def load_library(report_date: str, build_dates: list, pulled: list, media: list, **context) -> list:  # noqa: ANN003
        from adctr.orchestration.tasks.daily import load_library as run

        return run(report_date, build_dates, pulled, media, context)

    day, chosen = dag_helpers.report_date_task("report_date", "report_date")(), media()
    dates = plan_pull(day, chosen)
    extracts = [
        extract.override(task_id=f"extract__{medium}", pool=pool_name(medium), inlets=[lineage.source_asset(medium)])
        .partial(medium=medium, selected=chosen)
        .expand(report_date=dates)
        for medium in dag_helpers.media_names()
    ]
    build_dates = load_raw(day, dates, chosen)
    extracts >> build_dates
    raw_gate = dag_helpers.validate_dates_task("raw.ad_performance", build_dates)
    quarantine_gate = dag_helpers.validate_dates_task("raw.ad_performance_quarantine", build_dates)
    build_dates >> [raw_gate, quarantine_gate]

    library_dates = plan_library(day)
    library_extracts = [
        extract_library.override(
            task_id=f"extract_library__{medium}", pool=pool_name(medium), inlets=[lineage.library_source_asset(medium)]
        )
        .partial(medium=medium, selected=chosen)
        .expand(report_date=library_dates)
        for medium in dag_helpers.library_media_names()
    ]
    library_built = load_library(day, build_dates, library_dates, chosen)
    library_extracts >> library_built
    library_gates = {t: dag_helpers.validate_dates_task(t, library_built) for t in LIBRARY_TABLES}
    library_built >> list(library_gates.values())
    dag_helpers.sql_model_tasks(DAG_ID, build_dates, upstream=raw_gate, mapped=True, producers=library_gates)


with ad_performance_daily() as this_dag:
    dag_helpers.summary_task(this_dag, ["load_raw", "report_date"])
