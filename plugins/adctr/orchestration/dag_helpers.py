"""Small, import-light helpers DAG files share (timetables, default args, model tasks)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from adctr.core import settings
from adctr.orchestration.pools import WAREHOUSE_POOL

try:  # Airflow 3.2+ exports timetables from the SDK
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.1 (Cloud Composer today)
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]


def retrain_schedule(deployment: str | None, examples_tables: list[str]) -> Any:
    """The retraining schedule: its nightly time, or, with `retrain_on_assets: true` in
    config/pipeline.yaml, its nightly time *or* as soon as every input table of the training
    sets has been updated (Assets), whichever comes first."""
    timetable = account_timetable("retrain_schedule_cron", deployment)
    with settings.deployment(deployment):
        on_assets = bool(settings.load_config("pipeline").get("retrain_on_assets"))
    if not on_assets:
        return timetable
    from airflow.sdk import AssetAll

    try:
        from airflow.sdk import AssetOrTimeSchedule
    except ImportError:  # Airflow 3.1
        from airflow.timetables.assets import AssetOrTimeSchedule  # type: ignore[no-redef]
    from adctr.orchestration import lineage
    from adctr.warehouse import elt

    inputs = elt.inputs_of(examples_tables)
    return AssetOrTimeSchedule(timetable=timetable, assets=AssetAll(*(lineage.table_asset(t) for t in inputs)))


def scoring_schedule(dag_id: str) -> Any:
    """Batch scoring's schedule: its nightly time (`scoring_schedule_cron` of
    config/pipeline.yaml), or as soon as every table its SQL models read directly has been rebuilt, or
    as soon as the slot sync moves one of the slots it scores, whichever comes first."""
    from airflow.sdk import AssetAll, AssetAny

    try:
        from airflow.sdk import AssetOrTimeSchedule
    except ImportError:  # Airflow 3.1
        from airflow.timetables.assets import AssetOrTimeSchedule  # type: ignore[no-redef]
    from adctr.orchestration import lineage
    from adctr.warehouse import elt

    models = elt.sql_models_for_dag(dag_id)
    # Tables its SQL reads directly, except its own outputs (scoring.*): those never trigger it.
    inputs = sorted({d for m in models for d in m.depends_on if not d.startswith("scoring.")})
    tables = AssetAll(*(lineage.table_asset(t) for t in inputs))
    slots = [lineage.slot_asset(s) for s in scoring_slots()]
    assets = AssetAny(tables, *slots) if slots else tables
    return AssetOrTimeSchedule(timetable=account_timetable("scoring_schedule_cron"), assets=assets)


def experiment_schedule() -> Any:
    """The ABn loop's schedule: as soon as batch scoring has rebuilt its best combinations, or
    at `experiment_schedule_cron` of config/pipeline.yaml, whichever comes first."""
    try:
        from airflow.sdk import AssetOrTimeSchedule
    except ImportError:  # Airflow 3.1
        from airflow.timetables.assets import AssetOrTimeSchedule  # type: ignore[no-redef]
    from adctr.orchestration import lineage

    return AssetOrTimeSchedule(
        timetable=account_timetable("experiment_schedule_cron"), assets=lineage.table_asset("scoring.best_combinations")
    )


def scoring_slots() -> list[str]:
    """The serving slots batch scoring scores with (`slots` of config/scoring.yaml)."""
    return list(settings.load_config("scoring").get("slots") or [])


def deployment_variant(deployment: str | None) -> str:
    """The serving variant the deployment in `deployment` (None = main) publishes to."""
    with settings.deployment(deployment):
        return settings.variant()


def account_timetable(cron_key: str, deployment: str | None = None) -> CronDataIntervalTimetable:
    """A daily data-interval timetable in the account time zone (config/pipeline.yaml of the
    main deployment, or of the variant deployment folder `deployment`)."""
    with settings.deployment(deployment):
        cfg = settings.load_config("pipeline")
    return CronDataIntervalTimetable(cfg[cron_key], timezone=cfg["account_timezone"])


def default_args(owner: str) -> dict[str, Any]:
    """Retries with exponential backoff, a timeout, and an alert on a task's final failure."""
    from adctr.orchestration.alerts import OpsAlertNotifier

    return {
        "owner": owner,
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=1),
        "on_failure_callback": [OpsAlertNotifier("task failed")],
    }


def deadline_alert(dag_id: str) -> Any:
    """A DeadlineAlert (Airflow 3.1+): alert when a run is not done `deadline_minutes[dag_id]`
    (config/pipeline.yaml) after it was queued. None where unconfigured or unsupported."""
    minutes = (settings.load_config("pipeline").get("deadline_minutes") or {}).get(dag_id)
    if not minutes:
        return None
    try:
        from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference
    except ImportError:  # Airflow < 3.1 has no deadline alerts
        return None
    from adctr.orchestration.alerts import OpsAlertNotifier

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=int(minutes)),
        callback=AsyncCallback(OpsAlertNotifier, kwargs={"headline": f"run not finished {minutes} min after it was queued"}),
    )


def date_param(description: str, title: str) -> Any:
    """An optional YYYY-MM-DD Param (the trigger form shows a date picker)."""
    from airflow.sdk import Param

    return Param(None, type=["null", "string"], format="date", title=title, description=description)


def optional_int_param(title: str, description: str, minimum: int, maximum: int | None = None) -> Any:
    """An integer Param left empty (null) by default: empty = the configured default."""
    from airflow.sdk import Param

    bounds = {"minimum": minimum, **({"maximum": maximum} if maximum is not None else {})}
    return Param(None, type=["null", "integer"], title=title, description=description, **bounds)


def switch_param(title: str, description: str, **schema: Any) -> Any:
    """A boolean Param, off by default (extra JSON-schema keys such as `x-requires` pass through)."""
    from airflow.sdk import Param

    return Param(False, type="boolean", title=title, description=description, **schema)


def reason_param(description: str, title: str) -> Any:
    """An optional free-text reason; when given, at least 10 characters (it is audited)."""
    from airflow.sdk import Param

    return Param(None, type=["null", "string"], minLength=10, title=title, description=description)


def requires(**rules: list[str]) -> dict[str, Any]:
    """Schema keyword for cross-field rules (`adctr.orchestration.conf_guard`): requires(pin=["reason"]) means
    "when this Param is pin, reason must be set"; `true`/`false` name a switch's values."""
    from adctr.orchestration.conf_guard import REQUIRES

    return {REQUIRES: dict(rules)}


def report_date_task(task_id: str, param: str) -> Any:
    """A task resolving the run's report date: the `param` override, else its data interval."""
    from airflow.sdk import task

    @task(task_id=task_id, doc_md="Fixes the report date this run processes (account time zone).")
    def resolve(params: Any = None, data_interval_start: Any = None) -> str:
        from adctr.orchestration.tasks.common import resolve_report_date

        return resolve_report_date(params, data_interval_start, param)

    return resolve


def deployment_root(dag_file: str) -> str | None:
    """The variant deployment folder a DAG file runs from (it holds a VARIANT file), else None."""
    from pathlib import Path

    folder = Path(dag_file).resolve().parent
    return str(folder) if (folder / settings.VARIANT_FILE).is_file() else None


def variant_dag_id(base: str, deployment: str | None) -> str:
    """`base` for the main deployment, `base__<variant>` for a variant deployment."""
    if deployment is None:
        return base
    with settings.deployment(deployment):
        return f"{base}__{settings.variant()}"


# Label of a task instance mapped over report dates (shown in the UI instead of 0, 1, ...).
DATE_MAP_INDEX = "{{ task.op_kwargs['report_date'] }}"


def media_names() -> list[str]:
    """Media configured in config/media.yaml (a small YAML read, fine at parse time)."""
    from adctr.ingestion.raw_load import configured_media

    return list(configured_media())


def library_media_names() -> list[str]:
    """Configured media whose API lists an asset library (a small YAML read, fine at parse time)."""
    from adctr.ingestion.landing import library_media

    return library_media()


def slot_models() -> list[tuple[str, str]]:
    """(model, variant) pairs the configured slots serve; [] if slots.yaml is malformed (the
    sync task then fails with the problem named, instead of the DAG failing to parse)."""
    from adctr.release import slots
    from adctr.variants.deployment import slot_claims

    try:
        return sorted({(spec.model, spec.variant) for spec in slots.load_slots(slot_claims(settings.dags_folder()))})
    except Exception:  # noqa: BLE001
        return []


def slot_names() -> list[str]:
    """Serving slots configured in config/slots.yaml (a small YAML read, fine at parse time)."""
    return sorted(settings.load_config("slots").get("slots") or {})


def validate_dates_task(table_id: str, report_dates: Any) -> Any:
    """`validate_task` mapped over a list (XCom) of report dates, one instance per date."""
    return validate_task(table_id).override(map_index_template=DATE_MAP_INDEX).expand(report_date=report_dates)


def validate_task(table_id: str) -> Any:
    """A task that gates one table partition with its suite (expectations/<table>.json)."""
    from airflow.sdk import task

    @task(
        task_id="validate__" + table_id.replace(".", "__"),
        doc_md=f"Data-quality gate: `expectations/{table_id}.json` on the run's partition.",
        pool=WAREHOUSE_POOL,
    )
    def validate(report_date: str, **context: Any) -> dict:
        from adctr.orchestration.tasks.common import validate as run

        return run(table_id, report_date, context)

    return validate


def physical_table(table_id: str, deployment: str | None) -> str:
    """Where the deployment reads `table_id`: a variant's scoped table if it rebuilds it."""
    from adctr.variants.plan import deployment_plan

    plan = deployment_plan(deployment)
    return plan.physical(table_id) if plan is not None else table_id


def variant_doc(doc: str, deployment: str | None) -> str:
    """A DAG's docs, and for a branch variant what the branch changes against main (its diff)."""
    if deployment is None:
        return doc
    from adctr.variants import diff

    return doc + "\n\n" + diff.markdown(diff.describe(Path(deployment)))


def sql_model_tasks(
    dag_id: str, report_date: Any, upstream: Any = None, mapped: bool = False, producers: dict[str, Any] | None = None,
    deployment: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Build + validate tasks per SQL model of `dag_id`, wired by the tables each model reads.

    A model starts after the *gates* of the models it reads, and after the task `producers`
    names for a table the DAG writes without SQL (e.g. scores); models with no upstream in
    this DAG start after `upstream`. With `mapped`, `report_date` is a list (XCom) of dates
    and each task maps over it (one instance per date). Returns each model's gate.

    For a branch variant's `deployment`, the tasks build what the variant rebuilds instead
    (`variant_model_tasks`).
    """
    if deployment is not None:
        return variant_model_tasks(dag_id, report_date, upstream, deployment)
    producers = producers or {}
    from airflow.sdk import task

    from adctr.orchestration import lineage
    from adctr.warehouse import elt

    gates: dict[str, Any] = {}
    for model in elt.sql_models_for_dag(dag_id):

        @task(
            task_id=model.task_id,
            doc_md=f"Builds `{model.table_id}` from `{model.sql_path.name}`.",
            inlets=[lineage.table_asset(d) for d in model.depends_on],
            outlets=[lineage.table_asset(model.table_id)],
            pool=WAREHOUSE_POOL,
            # waits (retries, exponential backoff up to 10 min) for earlier partitions that a
            # parallel run is still building: elt.upstream_gaps
            retries=6,
        )
        def build(table_id: str, report_date: str, **context: Any) -> int:
            from adctr.orchestration.tasks.common import build_table

            return build_table(table_id, report_date, context)

        if mapped:
            built = build.override(map_index_template=DATE_MAP_INDEX).partial(table_id=model.table_id).expand(
                report_date=report_date
            )
            gate = validate_dates_task(model.table_id, report_date)
        else:
            built = build(model.table_id, report_date)
            gate = validate_task(model.table_id)(report_date)
        built >> gate
        parents = [gates[d] for d in model.depends_on if d in gates]
        parents += [producers[d] for d in model.depends_on if d in producers]
        if not parents and upstream is not None:
            parents = [upstream]
        for parent in parents:
            parent >> built
        gates[model.table_id] = gate
    return gates


def variant_model_tasks(dag_id: str, snapshot_date: Any, upstream: Any, deployment: str) -> dict[str, Any]:
    """Build + validate tasks for each model a branch variant rebuilds (its changed models and
    everything downstream of them that its training sets need), into its scoped tables, for
    the dates the training sets read; `dag_id`'s models it does not rebuild are production's,
    read after `upstream` (the input check). Returns each of `dag_id`'s models' gates."""
    from airflow.sdk import task

    from adctr.orchestration import lineage
    from adctr.variants.plan import plan_for
    from adctr.warehouse import elt

    plan = plan_for(Path(deployment))
    with settings.deployment(deployment):
        models = elt.all_sql_models()
    gates: dict[str, Any] = {}
    for table_id in plan.rebuild:
        model = models[table_id]

        @task(
            task_id=model.task_id,
            doc_md=f"Builds `{plan.physical(table_id)}` from the branch's `{model.sql_path.name}` for every date the "
            "training sets read that is not built from the same SQL and inputs yet.",
            inlets=[lineage.table_asset(plan.physical(d)) for d in model.depends_on],
            outlets=[lineage.table_asset(plan.physical(table_id))],
            pool=WAREHOUSE_POOL,
        )  # fmt: skip
        def build(table_id: str, snapshot_date: str, **context: Any) -> dict:
            from adctr.orchestration.tasks.variants import build_scoped

            return build_scoped(table_id, snapshot_date, context, deployment)

        @task(
            task_id="validate__" + table_id.replace(".", "__"),
            doc_md=f"Data-quality gate: the branch's `expectations/{table_id}.json` on what was built.",
            pool=WAREHOUSE_POOL,
        )
        def validate(table_id: str, build: dict, snapshot_date: str, **context: Any) -> dict:
            from adctr.orchestration.tasks.variants import validate_scoped

            return validate_scoped(table_id, build, snapshot_date, context, deployment)

        built = build(table_id, snapshot_date)
        gate = validate(table_id, built, snapshot_date)
        parents = [gates[d] for d in model.depends_on if d in gates] or [upstream]
        for parent in parents:
            parent >> built
        gates[table_id] = gate
    for model in elt.order_models(models, dag_id):
        gates.setdefault(model.table_id, upstream)  # production's, checked by the input gate
    return gates


def summary_task(dag: Any, date_task_ids: list[str]) -> Any:
    """The run summary (adctr.orchestration.run_summary) as the DAG's last task: a teardown, so it runs
    whatever failed and does not decide the run's state. Wired after every other task."""
    from airflow.sdk import task

    @task(task_id="summarize", doc_md="Writes the run summary shown in the run's *Run summary* tab.")
    def summarize(**context: Any) -> str:
        from adctr.orchestration.tasks.common import summarize as run

        return run(date_task_ids, context)

    done = summarize().as_teardown()
    for task in list(dag.tasks):
        if task.task_id != "summarize" and not task.downstream_list:
            task >> done
    return done
