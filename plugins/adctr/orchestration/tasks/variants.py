"""Task bodies of a branch variant's retrain DAG: build and validate the tables the branch
rebuilds (its `adctr.variants.plan`), for the window its training sets read, into its scoped
tables; production's tables are only read."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from adctr.core import settings
from adctr.orchestration.tasks.common import job_labels, permanent_errors

log = logging.getLogger(__name__)


def _reach(model: Any, params: dict[str, Any]) -> int:
    """How many days before its own date a model reads (trailing windows, a training window
    plus its attribution delay), with the run's Param overrides."""
    from adctr.warehouse import elt

    p = {**model.schema.params, **elt.param_overrides(model.table_id, params)}
    return max(elt.days_read_back(model), int(p.get("window_days", 0)) + int(p.get("attribution_window_days", 0)))


def dates_needed(plan: Any, table_id: str, snapshot: date, params: dict[str, Any]) -> list[date]:
    """The partitions of a rebuilt model the variant's training sets for `snapshot` read,
    directly or through other rebuilt models (the snapshot itself for the training sets)."""
    from adctr.variants.plan import TRAINING_DAG
    from adctr.warehouse import elt

    models = elt.all_sql_models()
    needed: dict[str, set[date]] = {}
    for t in reversed(plan.rebuild):  # readers before what they read
        if models[t].dag == TRAINING_DAG:
            needed[t] = {snapshot}
            continue
        days: set[date] = set()
        for reader in (r for r in plan.rebuild if t in models[r].depends_on):
            back = _reach(models[reader], params)
            for d in needed.get(reader, ()):
                days.update(d - timedelta(days=i) for i in range(back + 1))
        needed[t] = days
    return sorted(needed[table_id])


def _source_days(table_id: str, wh: Any) -> set[date]:
    """Dates the variant can build: those production built the table for (the same source
    data), or, for a model production does not have, those all its raw inputs loaded."""
    from adctr.core.table_schemas import get_schema
    from adctr.warehouse import elt

    def counts(t: str) -> set[date]:
        try:
            return {d for d, n in wh.partition_counts(get_schema(t)).items() if n}
        except Exception:  # noqa: BLE001 - not created yet: nothing built
            return set()

    with settings.deployment(None):
        in_production = table_id in elt.all_sql_models()
        if in_production:
            return counts(table_id)
    sources = [counts(t) for t in elt.inputs_of([table_id])]
    return set.intersection(*sources) if sources else set()


def _stamp_base(plan: Any, table_id: str, overrides: dict[str, Any], store: Any) -> str:
    """The part of a partition's stamp every date of one run shares: the model's fingerprint
    (its SQL with its rebuilt upstream's), the run's Param overrides, and the builds of the
    scoped tables it reads (a partition of theirs rebuilt, e.g. for a restated input,
    rebuilds this one too). Their ledgers are read once, not once per date."""
    import hashlib
    import json

    from adctr.variants import ledger
    from adctr.warehouse import elt

    parts = [plan.fingerprints[table_id], json.dumps(overrides, sort_keys=True, default=str)]
    for dep in elt.all_sql_models()[table_id].depends_on:
        if dep in plan.rebuild:
            built = json.dumps(ledger.read(store, plan.variant, plan.physical(dep)), sort_keys=True)
            parts.append(f"{dep}@{hashlib.sha256(built.encode()).hexdigest()[:16]}")
    return ";".join(parts)


def _stamp(plan: Any, table_id: str, day: date, base: str) -> str:
    """What the partition of `day` is built from: `base`, and the validation runs of the
    production partitions of `day` it reads."""
    from adctr.quality.results import load_result
    from adctr.warehouse import elt

    parts = [base]
    for dep in elt.all_sql_models()[table_id].depends_on:
        if dep not in plan.rebuild:
            result = load_result(dep, day.isoformat())
            parts.append(f"{dep}={result['run_id'] if result else '-'}")
    return ";".join(parts)


def build_scoped(table_id: str, snapshot_date: str, context: dict[str, Any], deployment: str) -> dict[str, list[str]]:
    """Build the partitions of a rebuilt model the variant's training sets need that are not
    built yet from the current SQL and inputs (all of them on first deployment: the variant
    backfills itself). Returns the dates needed and the dates built."""
    from adctr.core.storage import get_store
    from adctr.variants import ledger
    from adctr.variants.plan import TRAINING_DAG, plan_for
    from adctr.warehouse import elt, get_warehouse

    snapshot = date.fromisoformat(snapshot_date)
    params = dict(context.get("params") or {})
    store = get_store("artifact")
    with permanent_errors(), settings.deployment(deployment):
        plan = plan_for(Path(deployment))
        physical = plan.physical(table_id)
        model = elt.all_sql_models()[table_id]
        done = ledger.read(store, plan.variant, physical)
        with get_warehouse() as wh:
            days = dates_needed(plan, table_id, snapshot, params)
            if model.dag != TRAINING_DAG:
                available = _source_days(table_id, wh)
                if len(available & set(days)) < len(days):
                    log.info("%s: %d of the %d dates in the window have no source data, not built",
                             table_id, len(set(days) - available), len(days))  # fmt: skip
                days = [d for d in days if d in available]
            overrides = elt.param_overrides(table_id, params)
            base = _stamp_base(plan, table_id, overrides, store)
            todo = [(d, _stamp(plan, table_id, d, base)) for d in days]
            todo = [(d, s) for d, s in todo if done.get(d.isoformat()) != s]
            for day, stamp in todo:
                rows = elt.build(table_id, day, wh, params=overrides, labels=job_labels(context, day), scope=plan)
                ledger.record(store, plan.variant, physical, day, stamp)
                log.info("variant %s: built %s %s (%d rows)", plan.variant, physical, day, rows)
    log.info("%s: %d partition(s) built, %d already built from the same SQL and inputs",
             physical, len(todo), len(days) - len(todo))  # fmt: skip
    return {"needed": [d.isoformat() for d in days], "built": [d.isoformat() for d, _ in todo]}


def validate_scoped(table_id: str, build: dict[str, list[str]], snapshot_date: str, context: dict[str, Any],
                    deployment: str) -> dict[str, Any]:  # fmt: skip
    """Gate the partitions just built with the branch's suite, then require every partition
    the training sets read to have passed (one that failed in an earlier run fails this one)."""
    from adctr import quality
    from adctr.quality.results import load_result
    from adctr.variants.plan import plan_for
    from adctr.warehouse import get_warehouse

    run_id = str(context.get("run_id") or "manual")
    problems: list[str] = []
    with permanent_errors(), settings.deployment(deployment):
        schema = plan_for(Path(deployment)).physical_schema(table_id)
        with get_warehouse() as wh:
            for day in build["built"]:
                result = quality.validate_partition(
                    wh, table_id, date.fromisoformat(day), run_id, build_docs=day == snapshot_date, physical=schema
                )
                if not result.success:
                    problems.append(f"{day}: " + "; ".join(o.describe() for o in result.blocking_failures)[:300])
        for day in build["needed"]:
            if day not in build["built"] and not (load_result(schema.table_id, day) or {}).get("success"):
                problems.append(f"{day} has no passing validation")
        if problems:
            raise quality.QualityGateError(f"{schema.table_id}: " + " | ".join(problems[:6]))
    return {"table": schema.table_id, "validated": len(build["built"]), "needed": len(build["needed"])}
