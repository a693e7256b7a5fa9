"""Task bodies of `ctr_cvr_retrain`: the data-quality gate on the training inputs, training a
candidate into the artifact store, and publishing it with its lineage and promotion rule."""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from adctr.core import settings
from adctr.orchestration.tasks.common import permanent_errors, run_type

log = logging.getLogger(__name__)


def check_training_inputs(
    snapshot_date: str, params: dict[str, Any], dag_id: str, deployment: str | None = None
) -> str:
    """The snapshot date to train on, after checking the inputs passed their quality gates.

    Every partition of every table upstream of the training sets (features, staging, raw),
    within the training window, must have a passing validation: a date whose raw data failed
    on a re-run is refused even if older downstream partitions of it still exist. Otherwise
    the run fails, unless the `use_last_good_data` Param asks to fall back to the newest
    snapshot date whose inputs all passed (searching `last_good_data_search_days` back).
    """
    from adctr.core.table_schemas import get_schema
    from adctr.quality import model_inputs
    from adctr.warehouse import elt, get_warehouse
    from training.champion import GateError

    with permanent_errors(), settings.deployment(deployment):
        if params.get("force_publish") and not str(params.get("force_reason") or "").strip():
            # refused before anything is read or trained
            raise GateError("force_publish is set but force_reason is empty: a forced publish needs a written reason")
        inputs = elt.inputs_of([m.table_id for m in elt.sql_models_for_dag(dag_id)])
        span = elt.days_spanned(dag_id, params)
        search_days = int(settings.load_config("pipeline").get("last_good_data_search_days", 14))
        with get_warehouse() as wh:  # partitions are listed once for every date checked
            partitions = {t: set(wh.partition_counts(get_schema(t))) for t in inputs}
        chosen = model_inputs.sound_snapshot_date(
            date.fromisoformat(snapshot_date), partitions, span, bool(params.get("use_last_good_data")), search_days
        )
        return chosen.isoformat()


def _candidate_prefix(run_id: str, model: str) -> str:
    from adctr.core.names import safe_name

    return f"candidates/{safe_name(run_id)}/{model}"


def train(
    model: str, snapshot_date: str, context: dict[str, Any], deployment: str | None = None
) -> dict[str, Any]:
    """Train and evaluate one model's candidate; its files go to the artifact store's
    `candidates/<run>/<model>/` (XCom carries the directory, not the files)."""
    from adctr.core.storage import get_store
    from adctr.release import artifacts
    from adctr.warehouse import get_warehouse
    from training.pipeline import train_candidate

    prefix = _candidate_prefix(str(context.get("run_id") or "manual"), model)
    with settings.deployment(deployment), permanent_errors():
        store = get_store("artifact")
        with get_warehouse() as wh, tempfile.TemporaryDirectory() as tmp:
            cand = train_candidate(
                model, date.fromisoformat(snapshot_date), Path(tmp), wh, store, settings.variant()
            )
            for name in artifacts.CANDIDATE_FILES:
                store.write_bytes(f"{prefix}/{name}", (Path(tmp) / name).read_bytes())
    return {**cand.as_dict(), "directory": prefix}


def publish(
    candidate: dict[str, Any], context: dict[str, Any], dag_id: str = "ctr_cvr_retrain", deployment: str | None = None
) -> dict[str, Any]:
    """Publish a candidate as the next immutable version, with its lineage (commit, run, DQ
    results that fed it) and whether this run may move a serving slot."""
    with settings.deployment(deployment):
        return _publish(candidate, context, dag_id)


def _publish(candidate: dict[str, Any], context: dict[str, Any], dag_id: str) -> dict[str, Any]:
    from adctr.core.storage import get_store
    from adctr.quality.model_inputs import dq_lineage
    from adctr.release import artifacts, promotion
    from adctr.warehouse import elt, get_warehouse
    from training.config import model_config
    from training.pipeline import publish_candidate

    store = get_store("artifact")
    prefix = candidate["directory"]
    files = {name: store.read_bytes(f"{prefix}/{name}") for name in artifacts.CANDIDATE_FILES}
    metrics_doc = json.loads(files[artifacts.METRICS_FILE])
    snapshot = date.fromisoformat(metrics_doc["snapshot_date"])
    dag_run = context.get("dag_run")
    params = dict(context.get("params") or {})
    kind = run_type(dag_run)
    first = min(date.fromisoformat(d) for dates in metrics_doc["split_dates"].values() for d in dates)
    examples = model_config(candidate["model"])["examples_table"]
    inputs = elt.inputs_of([examples])
    with get_warehouse() as wh:
        newest = elt.newest_input_date(dag_id, wh)
    lineage = {
        "git_commit": settings.git_commit(),
        "run_id": str(context.get("run_id")),
        "run_type": kind,
        "dag_id": getattr(context.get("ti"), "dag_id", None),
        "triggered_by": getattr(dag_run, "triggering_user_name", None),
        "snapshot_date": snapshot.isoformat(),
        "promotion": promotion.decide(
            kind, snapshot, newest, params.get("snapshot_date") is not None, params.get("promote_reason"),
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
