"""Slot sync: config validation, promotion policy, pins and rollback, audit, retention."""

from __future__ import annotations

import json
from datetime import date

import pytest
from adctr.core.storage import LocalStore
from adctr.release import artifacts, promotion, retention, slots

FILES = {"model.txt": b"tree", "feature_spec.json": b"{}", "metrics.json": b"{}"}
ACTOR = {"action": "sync", "run_id": "scheduled__1", "run_type": "scheduled", "triggered_by": None}
ELIGIBLE = {"eligible": True, "why": "scheduled run on the newest data"}
NOT_ELIGIBLE = {"eligible": False, "why": "backfill run"}
MODELS = {"ctr", "cvr"}


def _publish(store, model="cvr", variant="main", blessed=True, promo=ELIGIBLE) -> int:  # noqa: ANN001
    return artifacts.publish(store, model, variant, FILES, {"blessed": blessed, "promotion": promo}).version


def _specs(**entries) -> list[slots.SlotSpec]:  # noqa: ANN003
    return slots.parse_slots({"slots": entries}, MODELS)


def test_promotion_only_for_scheduled_newest_data_or_an_operator_reason() -> None:
    d, newest = date(2026, 11, 10), date(2026, 11, 10)
    assert promotion.decide("scheduled", d, newest, False, None)["eligible"]
    assert promotion.decide("DagRunType.SCHEDULED", d, newest, False, None)["eligible"]
    assert not promotion.decide("scheduled", date(2026, 11, 9), newest, False, None)["eligible"]
    assert not promotion.decide("scheduled", d, newest, True, None)["eligible"]  # snapshot override
    assert not promotion.decide("manual", d, newest, False, None)["eligible"]
    assert not promotion.decide("manual", d, newest, False, "  ")["eligible"]
    assert promotion.decide("manual", date(2026, 10, 1), newest, True, "hotfix")["eligible"]
    backfill = promotion.decide("backfill", d, newest, False, "please")
    assert not backfill["eligible"] and "never promotes" in backfill["why"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"model": "ltv", "variant": "main"}, "slot 'cvr1' .* names model 'ltv'"),
        ({"model": "cvr"}, "slot 'cvr1' .* needs a variant"),
        ({"model": "cvr", "variant": "Feat/X"}, "slot 'cvr1' .*did you mean 'feat-x'"),
        ({"model": "cvr", "variant": "main", "policy": "newest"}, "slot 'cvr1' .* policy must be"),
        ({"model": "cvr", "variant": "main", "policy": {"pinned": 3}}, "slot 'cvr1' .* policy must be"),
        ({"model": "cvr", "variant": "main", "extra": 1}, "slot 'cvr1' .* mapping of model, variant"),
    ],
)
def test_malformed_slots_yaml_fails_naming_the_slot(entry: dict, message: str) -> None:
    with pytest.raises(slots.SlotSyncError, match=message):
        _specs(cvr0={"model": "cvr", "variant": "main"}, cvr1=entry)


def test_sync_serves_newest_promotable_blessed_version_only(tmp_path) -> None:  # noqa: ANN001
    store = LocalStore(tmp_path)
    specs = _specs(cvr0={"model": "cvr", "variant": "main"})
    assert _publish(store) == 1
    _publish(store, blessed=False)  # 2: refused by the gate
    _publish(store, promo=NOT_ELIGIBLE)  # 3: a backfill's version
    records = slots.apply(store, slots.plan(store, specs, {}), ACTOR)
    assert [(r["from"], r["to"]["version"]) for r in records] == [(None, 1)]
    assert slots.current(store, "cvr0") == {"model": "cvr", "variant": "main", "version": 1}
    assert slots.plan(store, specs, {}) == []  # idempotent: nothing to do on the next sync
    assert _publish(store) == 4
    slots.apply(store, slots.plan(store, specs, {}), ACTOR)
    assert artifacts.versions_under(store, "serving/cvr0") == [4]  # v1 retired from the slot
    assert artifacts.complete_versions(store, "cvr", "main") == [1, 2, 3, 4]  # copied, never moved
    assert [(r["from"] and r["from"]["version"], r["to"]["version"]) for r in slots.audit_log(store)] == [(None, 1), (1, 4)]


def test_pin_rolls_back_and_bad_pins_change_no_slot(tmp_path) -> None:  # noqa: ANN001
    store = LocalStore(tmp_path)
    specs = _specs(cvr0={"model": "cvr", "variant": "main"}, cvr1={"model": "cvr", "variant": "exp-a"})
    _publish(store), _publish(store, "cvr", "exp-a"), _publish(store, "cvr", "exp-a")
    _publish(store, "cvr", "exp-a", blessed=False)  # exp-a v3: not blessed
    slots.apply(store, slots.plan(store, specs, {}), ACTOR)
    assert slots.current(store, "cvr1")["version"] == 2
    before = sorted(store.list("serving/"))
    for pins, message in [
        ({"cvr1": {"version": 9, "reason": "r"}}, "slot cvr1 .*pinned version 9 is not a published version"),
        ({"cvr1": {"version": 3, "reason": "r"}}, "slot cvr1 .*pinned version 3 was not blessed"),
        ({"cvr7": {"version": 1, "reason": "r"}}, "a pin names slot 'cvr7'"),
    ]:
        with pytest.raises(slots.SlotSyncError, match=message):
            slots.plan(store, specs, pins)
    with pytest.raises(slots.SlotSyncError, match="slot cvr2 .*unknown variant"):
        slots.plan(store, [*specs, *_specs(cvr2={"model": "cvr", "variant": "nobody"})], {})
    assert sorted(store.list("serving/")) == before

    pin = slots.set_pin(store, slots.new_pin("cvr1", 1, "v2 over-predicts on feed", {**ACTOR, "triggered_by": "alice"}))
    records = slots.apply(store, slots.plan(store, specs, slots.read_pins(store)), {**ACTOR, "action": "pin"})
    assert slots.current(store, "cvr1")["version"] == 1
    assert records[0]["from"]["version"] == 2 and "alice" in records[0]["why"] and pin["reason"] in records[0]["why"]
    assert slots.plan(store, specs, slots.read_pins(store)) == []  # the pin holds on later syncs
    slots.clear_pin(store, "cvr1")
    slots.apply(store, slots.plan(store, specs, slots.read_pins(store)), ACTOR)
    assert slots.current(store, "cvr1")["version"] == 2


def test_a_slot_switching_variant_replaces_a_same_numbered_copy(tmp_path) -> None:  # noqa: ANN001
    store = LocalStore(tmp_path)
    _publish(store, "cvr", "exp-a"), _publish(store, "cvr", "exp-b")
    slots.apply(store, slots.plan(store, _specs(cvr1={"model": "cvr", "variant": "exp-a"}), {}), ACTOR)
    slots.apply(store, slots.plan(store, _specs(cvr1={"model": "cvr", "variant": "exp-b"}), {}), ACTOR)
    assert slots.current(store, "cvr1") == {"model": "cvr", "variant": "exp-b", "version": 1}
    artifacts.verify_files(store, "serving/cvr1", 1)


def test_retention_keeps_newest_and_everything_in_use(tmp_path) -> None:  # noqa: ANN001
    store = LocalStore(tmp_path)
    specs = _specs(cvr0={"model": "cvr", "variant": "main"})
    for _ in range(6):
        _publish(store)
    slots.set_pin(store, slots.new_pin("cvr0", 2, "known good", ACTOR))
    slots.apply(store, slots.plan(store, specs, slots.read_pins(store)), ACTOR)
    store.write_bytes("models/cvr/main/7/_VERSION", json.dumps({"claimed_at": "2026-01-01T00:00:00+00:00"}).encode())
    store.write_bytes("models/cvr/main/7/model.txt", b"half")  # a killed publisher's leftovers
    _publish(store)  # 8
    doomed = retention.plan(store, specs, keep=3)
    assert sorted(d["version"] for d in doomed) == [1, 3, 4, 7]  # 2 is pinned and served
    assert store.exists("models/cvr/main/1/_SUCCESS")  # planning deletes nothing (dry run)
    retention.prune(store, doomed)
    assert artifacts.complete_versions(store, "cvr", "main") == [2, 5, 6, 8]
    assert _publish(store) == 9  # claims survive retention: numbers are never reused
    with pytest.raises(slots.SlotSyncError, match="at least 1"):
        retention.plan(store, specs, keep=0)
