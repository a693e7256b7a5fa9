"""Retention of published model versions: what may go, and deleting it.

Keeps the newest `keep_versions` complete versions per model/variant, plus every version a
serving slot serves or a pin names (config/slots.yaml or an operator pin), and removes
abandoned partial publishes. Never deletes a version-number claim (`_VERSION`), so a number
is never handed out twice. `plan` only lists (the DAG's dry run); `prune` deletes.

`sweep_temp_files` reclaims the `.<name>.<random>.tmp` files a killed writer leaves (as large
as the model, and hidden from listings, so nothing else ever sees them), once they are older
than `temp_file_max_age_hours` (config/storage.yaml): a live writer's temp file is seconds old.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from adctr.core import settings
from adctr.core.storage import ObjectStore, TempObject
from adctr.release import artifacts
from adctr.release.slots import SlotSpec, SlotSyncError, current, read_pins, variants_of

log = logging.getLogger(__name__)


def plan(
    store: ObjectStore, specs: list[SlotSpec], keep: int, stale_claim_hours: float = 24.0,
    retired: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[dict[str, Any]]:  # fmt: skip
    """Versions retention would delete: beyond the newest `keep` complete ones per
    model/variant (every one of a `retired` branch variant), never one a slot serves or a pin
    names, and abandoned partial versions (a claim older than `stale_claim_hours` with no
    `_SUCCESS`) below the newest claim."""
    if keep < 1:
        raise SlotSyncError(f"retention.keep_versions must be at least 1, not {keep}")
    in_use: set[tuple[str, str, int]] = set()
    for spec in specs:
        state = current(store, spec.slot)
        if state:
            in_use.add((state["model"], state["variant"], state["version"]))
        if spec.pinned is not None:
            in_use.add((spec.model, spec.variant, spec.pinned))
    by_slot = {s.slot: s for s in specs}
    for slot, pin in read_pins(store).items():
        if slot in by_slot:
            in_use.add((by_slot[slot].model, by_slot[slot].variant, int(pin["version"])))
    cutoff = datetime.now(timezone.utc) - timedelta(hours=stale_claim_hours)
    doomed = []
    for model in sorted({k.split("/")[1] for k in store.list("models/") if k.count("/") >= 3}):
        for variant in sorted(variants_of(store, model)):
            complete = artifacts.complete_versions(store, model, variant)
            claims = artifacts.versions_under(store, artifacts.model_prefix(model, variant), artifacts.VERSION_CLAIM)
            gone = variant in retired and variant != "main"
            for version in complete if gone else complete[:-keep]:
                if (model, variant, version) not in in_use:
                    why = "its branch variant was retired" if gone else f"older than the newest {keep} versions"
                    doomed.append({"model": model, "variant": variant, "version": version, "why": why})
            for version in claims[:-1]:
                if version in complete:
                    continue
                claim = artifacts.read_file(store, model, variant, version, artifacts.VERSION_CLAIM)
                try:
                    claimed = datetime.fromisoformat(json.loads(claim)["claimed_at"])
                except (ValueError, KeyError, TypeError):
                    claimed = datetime.min.replace(tzinfo=timezone.utc)
                if claimed < cutoff:
                    doomed.append({"model": model, "variant": variant, "version": version,
                                   "why": f"abandoned partial publish (claimed {claim.decode()[:40]})"})  # fmt: skip
    return doomed


def prune(store: ObjectStore, doomed: list[dict[str, Any]]) -> None:
    """Delete what `plan` listed (the version-number claims stay, so no reuse)."""
    for item in doomed:
        artifacts.retire_version(store, artifacts.model_prefix(item["model"], item["variant"]), item["version"])


@dataclass(frozen=True)
class TempSweep:
    """What a temp-file sweep deleted (or, in a dry run, would delete) and what it left."""

    deleted: tuple[TempObject, ...]
    kept: tuple[TempObject, ...]

    @property
    def bytes_reclaimed(self) -> int:
        return sum(t.size for t in self.deleted)


def temp_file_max_age() -> timedelta:
    """`temp_file_max_age_hours` from config/storage.yaml; at least an hour, so a temp file
    still being written (one object write takes seconds) is never taken for a leftover."""
    hours = settings.load_config("storage").get("temp_file_max_age_hours", 6)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours < 1:
        raise settings.ConfigError(
            f"temp_file_max_age_hours in config/storage.yaml must be a number >= 1, not {hours!r}"
        )
    return timedelta(hours=hours)


def sweep_temp_files(
    store: ObjectStore, max_age: timedelta, dry_run: bool = False, now: datetime | None = None
) -> TempSweep:
    """Delete every temp file in the store last written more than `max_age` ago, logging each
    with its size; younger ones (a writer may still be running) are kept."""
    cutoff = (now or datetime.now(timezone.utc)) - max_age
    deleted, kept = [], []
    for temp in store.temp_objects(""):
        if temp.modified >= cutoff:
            kept.append(temp)
            continue
        log.info("%s temp file %s (%d bytes, last written %s)", "would delete" if dry_run else "deleting",
                 store.uri(temp.key), temp.size, temp.modified.isoformat(timespec="seconds"))  # fmt: skip
        if not dry_run:
            store.delete(temp.key)
        deleted.append(temp)
    sweep = TempSweep(tuple(deleted), tuple(kept))
    log.info("temp files: %s %d bytes in %d files; kept %d younger than %s",
             "would reclaim" if dry_run else "reclaimed", sweep.bytes_reclaimed,
             len(deleted), len(kept), max_age)  # fmt: skip
    return sweep
