"""What every DAG's tasks share: turning the project's `PermanentError`s into a failed task,
run facts (labels, run type, actor), the report date of a run, building and validating one
table partition, and the run summary written last."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, NoReturn

from adctr.core.errors import PermanentError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def permanent_errors() -> Iterator[None]:
    """Turn the project's non-retryable errors (`PermanentError`) into AirflowFailException:
    Airflow fails the task at once with one clear sentence instead of retrying. Anything
    else (network, locks, an upstream partition not built yet) is retried."""
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # Airflow 3.1
        from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

    try:
        yield
    except PermanentError as exc:
        raise AirflowFailException(str(exc)) from exc


def skip(reason: str) -> NoReturn:
    """End the task as skipped (no asset events, downstream decided by trigger rules)."""
    try:
        from airflow.sdk.exceptions import AirflowSkipException
    except ImportError:  # Airflow 3.1
        from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef]
    raise AirflowSkipException(reason)


def job_labels(context: dict[str, Any], run_date: date) -> Any:
    """Warehouse job labels naming the DAG, task and report date (cost attribution)."""
    from adctr.warehouse.base import JobLabels

    ti = context.get("ti")
    return JobLabels(
        dag_id=getattr(ti, "dag_id", "manual"),
        task_id=getattr(ti, "task_id", "manual"),
        run_date=run_date.isoformat(),
    )


def run_type(dag_run: Any) -> str:
    """`scheduled`, `manual`, `backfill`, `asset_triggered` (DagRunType.MANUAL -> manual)."""
    return str(getattr(dag_run, "run_type", "unknown")).split(".")[-1].lower()


def actor(context: dict[str, Any], action: str) -> dict[str, Any]:
    """Who did what, for audit records."""
    dag_run = context.get("dag_run")
    return {
        "action": action,
        "run_id": str(context.get("run_id")),
        "run_type": run_type(dag_run),
        "triggered_by": getattr(dag_run, "triggering_user_name", None),
        "dag_id": getattr(context.get("ti"), "dag_id", None),
    }


def resolve_report_date(
    params: dict[str, Any], data_interval_start: datetime, date_param: str
) -> str:
    """The report date a run processes (Param override, else its interval), if complete."""
    from adctr.core import dates

    with permanent_errors():
        override = params.get(date_param)
        report_date = (
            dates.parse_report_date(override)
            if override
            else dates.report_date_for_interval(data_interval_start)
        )
        dates.check_complete(report_date)
        log.info("report date: %s", report_date)
        return report_date.isoformat()


def build_table(table_id: str, report_date: str, context: dict[str, Any]) -> int:
    """Build one partition of a SQL model's table, once the partitions it reads are built."""
    from adctr.warehouse import elt, get_warehouse

    day = date.fromisoformat(report_date)
    overrides = elt.param_overrides(table_id, dict(context.get("params") or {}))
    with permanent_errors(), get_warehouse() as wh:
        elt.require_upstream(elt.all_sql_models()[table_id], day, wh)
        return elt.build(table_id, day, wh, params=overrides, labels=job_labels(context, day))


def validate(table_id: str, report_date: str, context: dict[str, Any]) -> dict[str, Any]:
    """Run the table's expectation suite on one partition; critical failures fail the task."""
    from adctr import quality
    from adctr.warehouse import get_warehouse

    run_id = str(context.get("run_id") or "manual")
    with permanent_errors(), get_warehouse() as wh:
        result = quality.validate_partition(wh, table_id, date.fromisoformat(report_date), run_id)
        quality.raise_if_blocking(result)
        return result.summary()


def summarize(date_task_ids: list[str], context: dict[str, Any]) -> str:
    """Write this run's summary (orchestration.run_summary) and return it as markdown.

    Runs last, whatever failed: the report dates come from the first of `date_task_ids`
    whose XCom exists (a list of dates, or one date), the task states from Airflow.
    """
    from adctr.core.storage import get_store
    from adctr.orchestration import run_summary
    from adctr.quality.results import dq_store, latest_results
    from adctr.warehouse import get_warehouse

    ti = context["ti"]
    dag_id, run_id = ti.dag_id, str(context["run_id"])
    dates: list[str] = []
    for task_id in date_task_ids:
        value = ti.xcom_pull(task_ids=task_id, default=None)
        if value:
            dates = sorted(value) if isinstance(value, list) else [str(value)]
            break
    states = ti.get_task_states(dag_id=dag_id, run_ids=[run_id]).get(run_id, {})
    states = {t: str(s) for t, s in states.items() if t != ti.task_id}
    args = (dag_id, run_id, run_type(context.get("dag_run")), dates, states)
    try:
        with get_warehouse() as wh:
            summary = run_summary.collect(*args, wh, latest_results(), get_store("artifact"))
    except Exception as exc:  # noqa: BLE001 - the summary still says what failed, without row counts
        log.warning("run summary without warehouse rows: %s", exc)
        summary = run_summary.collect(*args, None, latest_results(), get_store("artifact"))
        summary["warehouse_error"] = str(exc)[:500]
    uri = run_summary.write(dq_store(), summary)
    text = run_summary.render_markdown(summary)
    log.info("run summary (%s):\n%s", uri, text)
    return text
