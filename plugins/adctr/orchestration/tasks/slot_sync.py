"""Task bodies of `serving_slot_sync`: apply config/slots.yaml (and an operator's pin or
unpin) to the serving slots, and retire versions nothing uses."""

from __future__ import annotations

import logging
from typing import Any

from adctr.orchestration.tasks.common import actor, permanent_errors, skip

log = logging.getLogger(__name__)


def _claims() -> dict[str, str]:
    """slot -> the branch variant deployed in this Airflow's DAGs folder that claims it."""
    from adctr.core import settings
    from adctr.variants.deployment import slot_claims

    return slot_claims(settings.dags_folder())


def sync_slots(context: dict[str, Any]) -> dict[str, Any]:
    """Apply config/slots.yaml (and an optional pin/unpin from the Params) to serving/."""
    from adctr.core.storage import get_store
    from adctr.release import slots

    params = dict(context.get("params") or {})
    who = actor(context, params.get("action") or "sync")
    store = get_store("artifact")
    with permanent_errors():
        specs = slots.load_slots(_claims())
        pins, pin = slots.pins_after_action(specs, slots.read_pins(store), params, who)
        changes = slots.plan(store, specs, pins)  # validates everything before any write
    if pin is not None:
        slots.set_pin(store, pin)  # the very pin the plan was checked with
    elif who["action"] == "unpin":
        slots.clear_pin(store, params["slot"])
    records = slots.apply(store, changes, who)
    for r in records:
        log.info("slot %s: %s -> %s (%s)", r["slot"], r["from"], r["to"], r["why"])
    served = {s.slot: slots.current(store, s.slot) for s in specs}
    log.info("slots now serve: %s", served)
    return {"changed": [r["slot"] for r in records], "serving": served}


def announce(slot: str, synced: dict[str, Any]) -> str:
    """Succeed (emitting the slot's asset event, which schedules batch scoring) only when the
    sync moved `slot`; otherwise skip, and a skipped task emits no event."""
    if slot not in synced.get("changed", []):
        skip(f"{slot} still serves {synced.get('serving', {}).get(slot)}")
    served = synced["serving"][slot]
    log.info("slot %s now serves %s", slot, served)
    return f"{slot}: {served['model']}/{served['variant']} v{served['version']}"


def apply_retention(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Delete versions past `retention.keep_versions` that nothing uses, and killed writers'
    temp files older than `temp_file_max_age_hours` (or only list them)."""
    from adctr.core import settings
    from adctr.core.storage import get_store
    from adctr.release import retention, slots
    from adctr.variants import deployment as variant_deployments

    dry_run = bool((context.get("params") or {}).get("retention_dry_run"))
    store = get_store("artifact")
    with permanent_errors():
        keep = int((settings.load_config("slots").get("retention") or {}).get("keep_versions", 5))
        retired = variant_deployments.retired(store, settings.dags_folder())
        doomed = retention.plan(store, slots.load_slots(_claims()), keep, retired=retired)
        max_temp_age = retention.temp_file_max_age()
    for item in doomed:
        log.info("%s %s/%s v%d: %s", "would delete" if dry_run else "deleting",
                 item["model"], item["variant"], item["version"], item["why"])  # fmt: skip
    if not dry_run:
        retention.prune(store, doomed)
    retention.sweep_temp_files(store, max_temp_age, dry_run=dry_run)  # logs each file and the total
    return doomed
