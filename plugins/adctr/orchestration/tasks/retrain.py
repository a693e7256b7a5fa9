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
from adctr.variants.plan import deployment_plan

log = logging.getLogger(__name__)
BRANCH_TRAINING_TIMEOUT_S = 3300.0  # inside the task's one-hour execution_timeout


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
        own = [m.table_id for m in elt.sql_models_for_dag(dag_id)]
        plan = deployment_plan(deployment)
        rebuilt = list(plan.rebuild) if plan else own
        inputs = elt.inputs_of(sorted({*own, *rebuilt}))  # production tables the run reads
        span = elt.days_spanned(dag_id, params) + (_rebuilt_reach(rebuilt, dag_id) if plan else 0)
        search_days = int(settings.load_config("pipeline").get("last_good_data_search_days", 14))
        with get_warehouse() as wh:  # partitions are listed once for every date checked
            partitions = {t: set(wh.partition_counts(get_schema(t))) for t in inputs}
        chosen = model_inputs.sound_snapshot_date(
            date.fromisoformat(snapshot_date), partitions, span, bool(params.get("use_last_good_data")), search_days
        )
        if plan is not None:
            _require_production_training_sets([t for t in own if t not in rebuilt], chosen)
        return chosen.isoformat()


def _rebuilt_reach(rebuilt: list[str], dag_id: str) -> int:
    """The longest trailing window of the rebuilt models outside `dag_id` (they read that
    much further back than the training sets)."""
    from adctr.warehouse import elt

    models = elt.all_sql_models()
    return max((elt.days_read_back(models[t]) for t in rebuilt if models[t].dag != dag_id), default=0)


def _require_production_training_sets(tables: list[str], day: date) -> None:
    """A variant that does not rebuild a training set reads production's partition of it:
    that partition must exist and have passed its gate. Not built yet (main's retrain runs
    at the same time) is retried; failed is final."""
    from adctr.quality.results import QualityGateError, load_result
    from adctr.warehouse.elt import UpstreamNotReady

    with settings.deployment(None):
        for table_id in tables:
            result = load_result(table_id, day.isoformat())
            if result is None:
                raise UpstreamNotReady(
                    f"production's {table_id} for {day} is not built and validated yet (main's ctr_cvr_retrain "
                    "builds it; the variant reads it as it does not change it): retrying"
                )
            if not result["success"]:
                raise QualityGateError(f"production's {table_id} for {day} failed its gate: {result['failed']}")


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

    from adctr.variants import isolated
    from training.config import model_config

    prefix = _candidate_prefix(str(context.get("run_id") or "manual"), model)
    with settings.deployment(deployment), permanent_errors():
        store = get_store("artifact")
        plan = deployment_plan(deployment)
        with tempfile.TemporaryDirectory() as tmp:
            if plan is not None and isolated.has_own_code(Path(deployment)):  # the branch's training code
                source = plan.physical(model_config(model)["examples_table"])
                cand = isolated.train_candidate(Path(deployment), model, date.fromisoformat(snapshot_date), Path(tmp),
                                                source, timeout_s=BRANCH_TRAINING_TIMEOUT_S)  # fmt: skip
            else:
                with get_warehouse() as wh:
                    cand = train_candidate(
                        model, date.fromisoformat(snapshot_date), Path(tmp), wh, store, settings.variant()
                    ).as_dict()
            for name in artifacts.CANDIDATE_FILES:
                store.write_bytes(f"{prefix}/{name}", (Path(tmp) / name).read_bytes())
    return {**cand, "directory": prefix}


def servable(files: dict[str, bytes]) -> None:
    """Refuse a candidate this deployment's model contract cannot score (a branch's training
    code may write a feature spec the serving layer and batch scorer, main's code, do not know)."""
    from adctr.core.errors import PermanentError
    from adctr.model import contract

    try:
        contract.load_model(files[contract.MODEL_FILE].decode(), files[contract.FEATURE_SPEC_FILE].decode())
    except (PermanentError, TypeError, KeyError, ValueError) as exc:
        raise contract.FeatureError(
            f"the candidate's {contract.FEATURE_SPEC_FILE} cannot be scored by this deployment's model contract "
            f"(adctr.model.contract): {exc}. Land the contract change on main before the branch's model"
        ) from exc


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
    plan = deployment_plan(settings.deployment_root())
    where = plan.physical if plan is not None else (lambda t: t)
    examples_table = model_config(candidate["model"])["examples_table"]
    examples = where(examples_table)
    inputs = [where(t) for t in elt.inputs_of([examples_table])]
    servable(files)
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
    if plan is not None:
        from adctr.variants import diff

        lineage["variant_diff"] = diff.summary(diff.describe(settings.deployment_root()))
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
