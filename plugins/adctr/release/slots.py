"""Serving slots: config/slots.yaml -> `serving/<slot>/<version>/` copies, pins, audit, retention.

The sync resolves every slot first (policy, operator pins, existence, blessing, hashes) and
changes nothing if any slot is wrong; only then does it copy. A slot change copies the chosen
version (never moves it: `models/` stays the system of record), writes `_SUCCESS` last, then
retires the slot's other versions (`_SUCCESS` first), so a reader always sees one complete
version. Every change appends one immutable record under `serving/_audit/`.
Retention of the versions themselves is in adctr.release.retention.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from adctr.core import settings
from adctr.core.storage import ObjectStore
from adctr.release import artifacts

SLOT_NAME = re.compile(r"^[a-z][a-z0-9_]*[0-9]$")
PINS = "serving/_pins"
AUDIT = "serving/_audit"
NEWEST_BLESSED = "newest_blessed"


class SlotSyncError(settings.ConfigError):
    """slots.yaml, a pin or a variant is wrong: the sync fails and changes no slot."""


@dataclass(frozen=True)
class SlotSpec:
    slot: str
    model: str
    variant: str
    pinned: int | None = None
    reason: str | None = None
    # A slot a deployed branch variant claims serves that variant; until the variant has a
    # version eligible to promote, and once its claim ends, the slot follows `fallback`
    # (its own entry in config/slots.yaml).
    fallback: SlotSpec | None = None


@dataclass(frozen=True)
class SlotChange:
    slot: str
    model: str
    variant: str
    version: int
    previous: dict[str, Any] | None
    why: str
    retire: tuple[int, ...]

    @property
    def moves(self) -> bool:
        """False when the slot already serves exactly this version (only leftovers to retire)."""
        prev = self.previous or {}
        return (prev.get("model"), prev.get("variant"), prev.get("version")) != (
            self.model, self.variant, self.version,
        )  # fmt: skip


def slot_prefix(slot: str) -> str:
    return f"serving/{slot}"


def parse_slots(cfg: dict[str, Any], models: set[str]) -> list[SlotSpec]:
    """Validate config/slots.yaml's `slots`; a mistake fails with one sentence naming the slot."""
    slots = cfg.get("slots")
    if not isinstance(slots, dict) or not slots:
        raise SlotSyncError("config/slots.yaml must map `slots:` to at least one slot")
    specs = []
    for slot, entry in slots.items():
        where = f"slot {slot!r} in config/slots.yaml"
        if not isinstance(slot, str) or not SLOT_NAME.match(slot):
            raise SlotSyncError(f"{where}: a slot name is lowercase and ends in a digit (cvr0, ctr1)")
        if not isinstance(entry, dict) or set(entry) - {"model", "variant", "policy"}:
            raise SlotSyncError(f"{where} must be a mapping of model, variant and policy only, not {entry!r}")
        model, variant, policy = entry.get("model"), entry.get("variant"), entry.get("policy", NEWEST_BLESSED)
        if model not in models:
            raise SlotSyncError(f"{where} names model {model!r}; known models are {sorted(models)}")
        if not isinstance(variant, str) or not variant:
            raise SlotSyncError(f"{where} needs a variant (a git branch, main = production)")
        if variant != settings.sanitize_variant(variant):
            raise SlotSyncError(f"{where}: variant {variant!r} is not a sanitised name "
                                f"(did you mean {settings.sanitize_variant(variant)!r}?)")  # fmt: skip
        if policy == NEWEST_BLESSED:
            specs.append(SlotSpec(slot, model, variant))
        elif (
            isinstance(policy, dict) and set(policy) == {"pinned", "reason"}
            and isinstance(policy["pinned"], int) and not isinstance(policy["pinned"], bool)
            and isinstance(policy["reason"], str) and policy["reason"].strip()
        ):  # fmt: skip
            specs.append(SlotSpec(slot, model, variant, policy["pinned"], policy["reason"].strip()))
        else:
            raise SlotSyncError(f"{where}: policy must be {NEWEST_BLESSED} or {{pinned: <version>, "
                                f"reason: <why>}}, not {policy!r}")  # fmt: skip
    return specs


def with_claims(specs: list[SlotSpec], claims: dict[str, str], variant_slots: list[str]) -> list[SlotSpec]:
    """The slots as deployed branch variants claim them (`claims`: slot -> variant)."""
    bad = sorted(s for s in claims if s not in variant_slots)
    if bad:
        raise SlotSyncError(f"variants claim {bad}, which are not variant_slots of config/slots.yaml ({variant_slots})")
    return [
        SlotSpec(s.slot, s.model, claims[s.slot], fallback=s) if s.slot in claims and s.pinned is None else s
        for s in specs
    ]


def variant_slots(cfg: dict[str, Any]) -> list[str]:
    """`variant_slots` of a slots.yaml: the slots a branch variant may claim, each defined in it."""
    wanted = list(cfg.get("variant_slots") or [])
    unknown = sorted(set(wanted) - set(cfg.get("slots") or {}))
    if unknown:
        raise SlotSyncError(f"variant_slots in config/slots.yaml names slots it does not define: {unknown}")
    return wanted


def load_slots(claims: dict[str, str] | None = None) -> list[SlotSpec]:
    """config/slots.yaml's slots, with the claims of deployed branch variants applied."""
    cfg = settings.load_config("slots")
    specs = parse_slots(cfg, set(settings.load_config("models")["models"]))
    return with_claims(specs, claims or {}, variant_slots(cfg))


# --- operator pins (kept in the store so the next scheduled sync respects them) ---------------


def read_pins(store: ObjectStore) -> dict[str, dict[str, Any]]:
    pins = {}
    for key in store.list(PINS + "/"):
        if key.endswith(".json"):
            pin = json.loads(store.read_bytes(key))
            pins[pin["slot"]] = pin
    return pins


def new_pin(slot: str, version: int, reason: str, actor: dict[str, Any]) -> dict[str, Any]:
    return {"slot": slot, "version": version, "reason": reason, "at": _now(), **actor}


def set_pin(store: ObjectStore, pin: dict[str, Any]) -> dict[str, Any]:
    store.write_bytes(f"{PINS}/{pin['slot']}.json", json.dumps(pin, sort_keys=True).encode())
    return pin


def clear_pin(store: ObjectStore, slot: str) -> None:
    store.delete(f"{PINS}/{slot}.json")


def pins_after_action(
    specs: list[SlotSpec], pins: dict[str, dict[str, Any]], params: dict[str, Any], actor: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """The pins an operator's `action` (sync, pin, unpin; Params `slot`, `version`, `reason`)
    leaves, and the new pin to store (for `pin`), after checking the action is complete."""
    action = params.get("action") or "sync"
    if action == "sync":
        return pins, None
    if action not in ("pin", "unpin"):
        raise SlotSyncError(f"unknown action {action!r}: use sync, pin or unpin")
    slot, reason = params.get("slot"), str(params.get("reason") or "").strip()
    if slot not in {s.slot for s in specs}:
        raise SlotSyncError(f"action={action} needs `slot` set to one of {sorted(s.slot for s in specs)}, not {slot!r}")
    if not reason:
        raise SlotSyncError(f"action={action} of slot {slot} needs a written `reason`")
    if action == "unpin":
        return {k: v for k, v in pins.items() if k != slot}, None
    if params.get("version") is None:
        raise SlotSyncError(f"action=pin of slot {slot} needs the `version` to serve")
    pin = new_pin(slot, int(params["version"]), reason, actor)
    return {**pins, slot: pin}, pin


# --- state, plan, apply -------------------------------------------------------------------------


def current(store: ObjectStore, slot: str) -> dict[str, Any] | None:
    """What a reader with the `latest` policy serves from the slot now (None: nothing)."""
    versions = artifacts.versions_under(store, slot_prefix(slot))
    if not versions:
        return None
    manifest = json.loads(store.read_bytes(f"{slot_prefix(slot)}/{versions[-1]}/{artifacts.MANIFEST_FILE}"))
    return {"model": manifest["model"], "variant": manifest["variant"], "version": manifest["version"]}


def variants_of(store: ObjectStore, model: str) -> set[str]:
    """Variants anything was ever published under for `model`."""
    return {k.split("/")[2] for k in store.list(f"models/{model}/") if k.count("/") >= 3}


def plan(store: ObjectStore, specs: list[SlotSpec], pins: dict[str, dict[str, Any]]) -> list[SlotChange]:
    """Resolve each slot's target version; raise SlotSyncError naming every bad slot."""
    known = {s.slot for s in specs}
    errors = [f"a pin names slot {slot!r}, which config/slots.yaml does not define" for slot in pins if slot not in known]
    changes = []
    for spec in specs:
        claimed = spec.fallback is not None
        if claimed and artifacts.latest_promotable(store, spec.model, spec.variant) is None:
            spec = spec.fallback  # the claiming variant has nothing to serve yet
        where = f"slot {spec.slot} ({spec.model}/{spec.variant})"
        if spec.variant not in variants_of(store, spec.model):
            errors.append(f"{where}: unknown variant, nothing was ever published under "
                          f"{store.uri(artifacts.model_prefix(spec.model, spec.variant))}/")  # fmt: skip
            continue
        pin = pins.get(spec.slot)
        if pin is not None or spec.pinned is not None:
            version = int(pin["version"]) if pin else int(spec.pinned)  # type: ignore[arg-type]
            why = f"pinned by {pin.get('triggered_by') or 'an operator'}: {pin['reason']}" if pin else f"pinned in config/slots.yaml: {spec.reason}"
            if version not in artifacts.complete_versions(store, spec.model, spec.variant):
                errors.append(f"{where}: pinned version {version} is not a published version")
                continue
            try:
                manifest = artifacts.verify(store, spec.model, spec.variant, version)
            except artifacts.ArtifactError as exc:
                errors.append(f"{where}: pinned version {version} is corrupt ({exc})")
                continue
            if not manifest.get("blessed"):
                errors.append(f"{where}: pinned version {version} was not blessed by the champion gate")
                continue
        else:
            found = artifacts.latest_promotable(store, spec.model, spec.variant)
            if found is None:
                continue  # nothing eligible yet: the slot keeps what it serves
            version, why = found, "newest blessed version from a run eligible to promote"
            if claimed:
                why += f" of branch variant {spec.variant}, which claims the slot"
            try:
                artifacts.verify(store, spec.model, spec.variant, version)
            except artifacts.ArtifactError as exc:
                errors.append(f"{where}: version {version} is corrupt ({exc})")
                continue
        served = artifacts.versions_under(store, slot_prefix(spec.slot))
        retire = tuple(v for v in served if v != version)
        prev = current(store, spec.slot)
        if prev and prev["variant"] != spec.variant and not claimed and prev["variant"] != "main":
            why += f" (config/slots.yaml's policy: variant {prev['variant']} no longer claims the slot)"
        change = SlotChange(spec.slot, spec.model, spec.variant, version, prev, why, retire)
        if change.moves or retire:
            changes.append(change)
    if errors:
        raise SlotSyncError("serving_slot_sync changed no slot: " + "; ".join(errors))
    return changes


def apply(store: ObjectStore, changes: list[SlotChange], actor: dict[str, Any]) -> list[dict[str, Any]]:
    """Copy, then retire the rest, then audit; returns the audit records written."""
    records = []
    for change in changes:
        target = slot_prefix(change.slot)
        artifacts.copy_version(store, artifacts.model_prefix(change.model, change.variant), change.version, target)
        for old in change.retire:
            artifacts.retire_version(store, target, old)
        if change.moves:
            record = {
                "at": _now(), "slot": change.slot, "why": change.why,
                "from": change.previous,
                "to": {"model": change.model, "variant": change.variant, "version": change.version},
                **actor,
            }  # fmt: skip
            key = f"{AUDIT}/{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}-{change.slot}-{uuid.uuid4().hex[:8]}.json"
            store.write_bytes(key, json.dumps(record, sort_keys=True).encode(), if_absent=True)
            records.append(record)
    return records


def audit_log(store: ObjectStore, slot: str | None = None) -> list[dict[str, Any]]:
    """Every slot change, oldest first (optionally of one slot)."""
    records = [json.loads(store.read_bytes(k)) for k in store.list(AUDIT + "/") if k.endswith(".json")]
    return [r for r in records if slot is None or r["slot"] == slot]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
