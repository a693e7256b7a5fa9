"""Which partitions of its scoped tables a variant built, and from what: one JSON document per
scoped table in the artifact store, `variants/<variant>/builds/<table>.json`, mapping each
report date to the stamp it was built with (the model's fingerprint and the validation runs of
the production partitions it read). A partition whose stamp is unchanged is not rebuilt, so a
redeploy that changes no SQL rebuilds nothing, and a restated production input is rebuilt."""

from __future__ import annotations

import json
from datetime import date

from adctr.core.storage import ObjectStore

PREFIX = "variants"


def ledger_key(variant: str, physical_table: str) -> str:
    return f"{PREFIX}/{variant}/builds/{physical_table}.json"


def read(store: ObjectStore, variant: str, physical_table: str) -> dict[str, str]:
    key = ledger_key(variant, physical_table)
    return json.loads(store.read_bytes(key)) if store.exists(key) else {}


def record(store: ObjectStore, variant: str, physical_table: str, day: date, stamp: str) -> None:
    """Record one built partition (after its replace committed). One writer per table: the
    variant's retrain DAG runs one at a time (max_active_runs=1)."""
    entries = read(store, variant, physical_table)
    entries[day.isoformat()] = stamp
    store.write_bytes(ledger_key(variant, physical_table), json.dumps(entries, sort_keys=True, indent=1).encode())


def tables(store: ObjectStore, variant: str) -> list[str]:
    """Every scoped table the variant ever built (what retiring it drops)."""
    prefix = f"{PREFIX}/{variant}/builds/"
    return sorted(k[len(prefix) : -len(".json")] for k in store.list(prefix) if k.endswith(".json"))


def forget(store: ObjectStore, variant: str) -> None:
    for key in store.list(f"{PREFIX}/{variant}/builds/"):
        store.delete(key)
