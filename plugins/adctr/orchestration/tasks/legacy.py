"""What each DAG task does, as plain functions of plain values (DAG files stay wiring only).

Permanent problems (bad input, missing configuration, failed quality gates) raise
`AirflowFailException` so Airflow fails the task at once with one clear sentence instead
of retrying; transient ones (network, locks) raise normally and are retried.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@contextlib.contextmanager
def permanent_errors() -> Iterator[None]:
    """Turn the project's non-retryable errors into AirflowFailException."""
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # Airflow 3.1
        from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

    from adctr.ingestion.adapters.base import SourceError
    from adctr.ingestion.connections import MissingConnectionError
    from adctr.core.dates import ReportDateError
    from adctr.warehouse.elt import ModelError
    from adctr.ingestion.raw_load import IngestionError
    from adctr.quality import QualityGateError
    from adctr.core.settings import ConfigError
    from adctr.warehouse import WarehouseConfigError
    from training.champion import GateError
    from training.dataset import DatasetError
    from training.features import FeatureError

    permanent = (
        SourceError, MissingConnectionError, ReportDateError, ModelError, IngestionError,
        QualityGateError, ConfigError, WarehouseConfigError, DatasetError, FeatureError, GateError,
    )  # fmt: skip
    try:
        yield
    except permanent as exc:
        raise AirflowFailException(str(exc)) from exc


def _labels(context: dict[str, Any], run_date: date) -> Any:
    from adctr.warehouse.base import JobLabels

    ti = context.get("ti")
    return JobLabels(
        dag_id=getattr(ti, "dag_id", "manual"),
        task_id=getattr(ti, "task_id", "manual"),
        run_date=run_date.isoformat(),
    )


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


def resolve_media(params: dict[str, Any]) -> list[str]:
    """The media a run ingests: all configured, or the requested subset (validated)."""
    from adctr.ingestion import raw_load as ingestion

    with permanent_errors():
        return ingestion.resolve_media(params.get("media"))


def plan_pull(report_date: str, media: list[str], params: dict[str, Any]) -> list[str]:
    """The report dates this run pulls: its own plus lookback dates that may still change."""
    from adctr.ingestion import raw_load as ingestion
    from adctr.core.storage import get_store

    if params.get("skip_ingest"):
        log.info("skip_ingest: no report is pulled; models are rebuilt from the loaded raw data")
        return []
    with permanent_errors():
        lookback = params.get("lookback_days")
        if lookback is None:
            lookback = _default_lookback_days()
        days = ingestion.plan_pull_dates(date.fromisoformat(report_date), int(lookback), media, get_store("landing"))
        log.info("pulling %s for %s (lookback %s days)", [d.isoformat() for d in days], media, lookback)
        return [d.isoformat() for d in days]


def _default_lookback_days() -> int:
    from adctr.core import settings

    return int(settings.load_config("pipeline").get("lookback_days", 7))


def extract(medium: str, report_date: str, selected: list[str]) -> dict[str, Any]:
    """Pull one medium's report for one date into the landing store (skipped if not selected)."""
    from dataclasses import asdict

    from adctr.ingestion import raw_load as ingestion
    from adctr.core.storage import get_store

    if medium not in selected:
        try:
            from airflow.sdk.exceptions import AirflowSkipException
        except ImportError:  # Airflow 3.1
            from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef]
        raise AirflowSkipException(f"{medium} is not among this run's media {selected}")
    with permanent_errors():
        adapter = ingestion.build_adapter(medium)
        landed = ingestion.extract_to_landing(adapter, date.fromisoformat(report_date), get_store("landing"))
        result = asdict(landed)
        # XCom carries counts and ids only (never the report rows or anything secret).
        return {k: result[k] for k in ("medium", "report_date", "source_job_id", "accepted_rows",
                                       "quarantined_rows", "final", "ingested_at")}  # fmt: skip


def load_raw(report_date: str, dates: list[str], media: list[str], context: dict[str, Any]) -> list[str]:
    """Load every pulled date's raw partition; return the dates whose models must be rebuilt."""
    from dataclasses import asdict

    from adctr.ingestion import raw_load as ingestion
    from adctr.core.storage import get_store
    from adctr.warehouse import get_warehouse

    day = date.fromisoformat(report_date)
    store = get_store("landing")
    loads = []
    with permanent_errors(), get_warehouse() as wh:
        for pulled in sorted(dates):
            d = date.fromisoformat(pulled)
            load = ingestion.load_raw_partition(d, media, store, wh, _labels(context, d))
            log.info("raw.ad_performance %s: %s%s", pulled, load.media, "" if load.changed else " (unchanged)")
            loads.append(load)
    ti = context.get("ti")
    if ti is not None:
        ti.xcom_push(key="loads", value=[asdict(p) for p in loads])
    build = ingestion.dates_to_build(day, loads, store)
    log.info("downstream models rebuild %s", build)
    return build


def validate(table_id: str, report_date: str, context: dict[str, Any]) -> dict[str, Any]:
    from adctr import quality
    from adctr.warehouse import get_warehouse

    run_id = str(context.get("run_id") or "manual")
    with permanent_errors(), get_warehouse() as wh:
        result = quality.validate_partition(wh, table_id, date.fromisoformat(report_date), run_id)
        quality.raise_if_blocking(result)
        return result.summary()


def check_training_inputs(snapshot_date: str, params: dict[str, Any], dag_id: str) -> str:
    """The snapshot date to train on, after checking the inputs passed their quality gates.

    Every partition of every table upstream of the training sets (features, staging, raw),
    within the training window, must have a passing validation: a date whose raw data failed
    on a re-run is refused even if older downstream partitions of it still exist. Otherwise the run fails, unless the `use_last_good_data`
    Param asks to fall back to the newest snapshot date whose inputs all passed.
    """
    from datetime import timedelta

    from adctr.warehouse import elt
    from adctr.quality import QualityGateError
    from adctr.quality.results import load_result
    from adctr.core.table_schemas import get_schema
    from adctr.warehouse import get_warehouse

    if params.get("force_publish") and not str(params.get("force_reason") or "").strip():
        from training.champion import GateError

        with permanent_errors():  # refused before anything is read or trained
            raise GateError("force_publish is set but force_reason is empty: a forced publish needs a written reason")
    models = elt.models_for_dag(dag_id)
    inputs = elt.inputs_of([m.table_id for m in models])
    span = max(
        int(p.get("window_days", 0)) + int(p.get("attribution_window_days", 0))
        for p in ({**m.schema.params, **model_param_overrides(m.table_id, params)} for m in models)
    )

    # Partitions are listed once; the fallback search below re-checks up to 14 earlier dates.
    with permanent_errors(), get_warehouse() as wh:
        partitions = {t: set(wh.partition_counts(get_schema(t))) for t in inputs}

    def problems(day: date) -> list[str]:
        found = []
        for table_id in inputs:
            window = sorted(d for d in partitions[table_id] if day - timedelta(days=span) <= d <= day)
            if day not in partitions[table_id]:
                found.append(f"{table_id} has no partition {day}")
            for d in window:
                result = load_result(table_id, d.isoformat())
                if result is None:
                    found.append(f"{table_id} {d} was never validated")
                elif not result["success"]:
                    found.append(f"{table_id} {d} failed: {'; '.join(result['failed'])[:300]}")
        return found

    with permanent_errors():
        day = date.fromisoformat(snapshot_date)
        found = problems(day)
        if not found:
            return snapshot_date
        if not params.get("use_last_good_data"):
            raise QualityGateError(
                f"training inputs for {day} did not pass their data-quality gates ("
                + " | ".join(found[:5]) + "); re-run ad_performance_daily for those dates, or "
                "trigger with use_last_good_data=true to train on the newest date whose inputs passed"
            )
        for back in range(1, 15):
            candidate = day - timedelta(days=back)
            if not problems(candidate):
                log.warning("inputs for %s failed (%s); training on last good date %s as requested",
                            day, " | ".join(found[:3]), candidate)  # fmt: skip
                return candidate.isoformat()
        raise QualityGateError(f"no snapshot date in the 14 days before {day} has inputs that passed")


def model_param_overrides(table_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """DAG Params that override a SQL model's own params (same name, non-null value)."""
    from adctr.core.table_schemas import get_schema

    declared = get_schema(table_id).params
    return {k: params[k] for k in declared if params.get(k) is not None}


def build_model(table_id: str, report_date: str, context: dict[str, Any]) -> int:
    from adctr.warehouse import elt
    from adctr.warehouse import get_warehouse

    day = date.fromisoformat(report_date)
    overrides = model_param_overrides(table_id, dict(context.get("params") or {}))
    with permanent_errors(), get_warehouse() as wh:
        # Parallel runs (backfills) must not build a trailing window over a partition another
        # run has not built yet: wait (retry with backoff) instead of reading a partial window.
        gaps = elt.upstream_gaps(elt.all_models()[table_id], day, wh)
        if gaps:
            raise elt.UpstreamNotReady(
                f"{table_id} for {day} reads earlier partitions that are not built yet: {'; '.join(gaps[:8])}"
                f"{' ...' if len(gaps) > 8 else ''}. Another run is probably still building them and this "
                "task retries; if it keeps failing, re-run those report dates first."
            )
        return elt.build(table_id, day, wh, params=overrides, labels=_labels(context, day))


def _candidate_prefix(run_id: str, model: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)
    return f"candidates/{safe}/{model}"


def train(model: str, snapshot_date: str, context: dict[str, Any]) -> dict[str, Any]:
    import tempfile

    from adctr.release import artifacts

    from adctr.core import settings
    from adctr.core.storage import get_store
    from adctr.warehouse import get_warehouse
    from training.pipeline import train_candidate

    store = get_store("artifact")
    prefix = _candidate_prefix(str(context.get("run_id") or "manual"), model)
    with permanent_errors(), get_warehouse() as wh, tempfile.TemporaryDirectory() as tmp:
        cand = train_candidate(
            model, date.fromisoformat(snapshot_date), Path(tmp), wh, store, settings.variant()
        )
        for name in artifacts.CANDIDATE_FILES:
            store.write_bytes(f"{prefix}/{name}", (Path(tmp) / name).read_bytes())
    return {**cand.as_dict(), "directory": prefix}


def newest_input_date(dag_id: str) -> date | None:
    """The newest report date loaded into every input table of `dag_id`'s SQL models."""
    from adctr.warehouse import elt
    from adctr.core.table_schemas import get_schema
    from adctr.warehouse import get_warehouse

    inputs = elt.inputs_of([m.table_id for m in elt.models_for_dag(dag_id)])
    with get_warehouse() as wh:
        newest = [max(wh.partition_counts(get_schema(t)), default=None) for t in inputs]
    return None if not newest or None in newest else min(newest)


def dq_lineage(tables: list[str], first: date, last: date) -> dict[str, Any]:
    """The data-quality results that fed a model: per table, the dates in [first, last]
    validated, passed and failed, and the validation runs (data -> model lineage)."""
    from datetime import timedelta

    from adctr.quality.results import load_result

    out: dict[str, Any] = {}
    for table_id in tables:
        passed, failed, missing, runs = 0, [], [], set()
        day = first
        while day <= last:
            result = load_result(table_id, day.isoformat())
            if result is None:
                missing.append(day.isoformat())
            elif result["success"]:
                passed += 1
                runs.add(result["run_id"])
            else:
                failed.append(day.isoformat())
            day += timedelta(days=1)
        out[table_id] = {
            "from": first.isoformat(), "to": last.isoformat(), "passed": passed,
            "failed": failed, "not_validated": missing, "validation_runs": sorted(runs),
        }  # fmt: skip
    return out


def publish(candidate: dict[str, Any], context: dict[str, Any], dag_id: str = "ctr_cvr_retrain") -> dict[str, Any]:
    import json

    from adctr.release import artifacts, promotion

    from adctr.warehouse import elt

    from adctr.core import settings
    from adctr.core.storage import get_store
    from training.config import model_config
    from training.pipeline import publish_candidate

    store = get_store("artifact")
    prefix = candidate["directory"]
    files = {name: store.read_bytes(f"{prefix}/{name}") for name in artifacts.CANDIDATE_FILES}
    metrics_doc = json.loads(files[artifacts.METRICS_FILE])
    snapshot = date.fromisoformat(metrics_doc["snapshot_date"])
    dag_run = context.get("dag_run")
    params = dict(context.get("params") or {})
    run_type = _run_type(dag_run)
    first = min(date.fromisoformat(d) for dates in metrics_doc["split_dates"].values() for d in dates)
    examples = model_config(candidate["model"])["examples_table"]
    inputs = elt.inputs_of([examples])
    lineage = {
        "git_commit": settings.git_commit(),
        "run_id": str(context.get("run_id")),
        "run_type": run_type,
        "dag_id": getattr(context.get("ti"), "dag_id", None),
        "triggered_by": getattr(dag_run, "triggering_user_name", None),
        "snapshot_date": snapshot.isoformat(),
        "promotion": promotion.decide(
            run_type, snapshot, newest_input_date(dag_id), params.get("snapshot_date") is not None,
            params.get("promote_reason"),
        ),  # fmt: skip
        "dq_results": {
            **dq_lineage([examples], snapshot, snapshot),
            **dq_lineage(inputs, first, snapshot),
        },
    }
    force_reason = params.get("force_reason") if params.get("force_publish") else None
    with permanent_errors():
        version = publish_candidate(files, store, settings.variant(), lineage, force_reason)
    log.info("published %s/%s version %d at %s (blessed=%s, promotion: %s)",
             version.model, version.variant, version.version, version.uri, version.manifest["blessed"],
             version.manifest["promotion"]["why"])  # fmt: skip
    return {
        "model": version.model,
        "variant": version.variant,
        "version": version.version,
        "uri": version.uri,
        "blessed": version.manifest["blessed"],
        "promotable": artifacts.promotable(version.manifest),
    }


def _run_type(dag_run: Any) -> str:
    """`scheduled`, `manual`, `backfill`, `asset_triggered` (DagRunType.MANUAL -> manual)."""
    return str(getattr(dag_run, "run_type", "unknown")).split(".")[-1].lower()


def _actor(context: dict[str, Any], action: str) -> dict[str, Any]:
    dag_run = context.get("dag_run")
    return {
        "action": action,
        "run_id": str(context.get("run_id")),
        "run_type": _run_type(dag_run),
        "triggered_by": getattr(dag_run, "triggering_user_name", None),
        "dag_id": getattr(context.get("ti"), "dag_id", None),
    }


def sync_slots(context: dict[str, Any]) -> dict[str, Any]:
    """Apply config/slots.yaml (and an optional pin/unpin from the Params) to serving/."""
    from adctr.release import slots
    from adctr.core.storage import get_store

    params = dict(context.get("params") or {})
    action = params.get("action") or "sync"
    actor = _actor(context, action)
    store = get_store("artifact")
    with permanent_errors():
        specs = slots.load_slots()
        pins = slots.read_pins(store)
        if action in ("pin", "unpin"):
            slot, reason = params.get("slot"), str(params.get("reason") or "").strip()
            if slot not in {s.slot for s in specs}:
                raise slots.SlotSyncError(f"action={action} needs `slot` set to one of {sorted(s.slot for s in specs)}, not {slot!r}")
            if not reason:
                raise slots.SlotSyncError(f"action={action} of slot {slot} needs a written `reason`")
            if action == "pin" and params.get("version") is None:
                raise slots.SlotSyncError(f"action=pin of slot {slot} needs the `version` to serve")
            if action == "pin":
                pin = slots.new_pin(slot, int(params["version"]), reason, actor)
                pins = {**pins, slot: pin}
            else:
                pins = {k: v for k, v in pins.items() if k != slot}
        elif action != "sync":
            raise slots.SlotSyncError(f"unknown action {action!r}: use sync, pin or unpin")
        changes = slots.plan(store, specs, pins)  # validates everything before any write
    if action == "pin":
        slots.set_pin(store, pin)  # the very pin the plan was checked with
    elif action == "unpin":
        slots.clear_pin(store, params["slot"])
    records = slots.apply(store, changes, actor)
    for r in records:
        log.info("slot %s: %s -> %s (%s)", r["slot"], r["from"], r["to"], r["why"])
    served = {s.slot: slots.current(store, s.slot) for s in specs}
    log.info("slots now serve: %s", served)
    return {"changed": [r["slot"] for r in records], "serving": served}


def apply_retention(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Delete versions past `retention.keep_versions` that nothing uses (or only list them)."""
    from adctr.release import retention, slots
    from adctr.core import settings
    from adctr.core.storage import get_store

    dry_run = bool((context.get("params") or {}).get("retention_dry_run"))
    store = get_store("artifact")
    with permanent_errors():
        keep = int((settings.load_config("slots").get("retention") or {}).get("keep_versions", 5))
        doomed = retention.plan(store, slots.load_slots(), keep)
    for item in doomed:
        log.info("%s %s/%s v%d: %s", "would delete" if dry_run else "deleting",
                 item["model"], item["variant"], item["version"], item["why"])  # fmt: skip
    if not dry_run:
        retention.prune(store, doomed)
    return doomed


def summarize(date_task_ids: list[str], context: dict[str, Any]) -> str:
    """Write this run's summary (adctr.orchestration.run_summary) and return it as markdown.

    Runs last, whatever failed: the report dates come from the first of `date_task_ids`
    whose XCom exists (a list of dates, or one date), the task states from Airflow.
    """
    from adctr.orchestration import run_summary
    from adctr.quality.results import dq_store, latest_results
    from adctr.core.storage import get_store
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
    args = (dag_id, run_id, _run_type(context.get("dag_run")), dates, states)
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
