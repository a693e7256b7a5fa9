"""Deterministic, stable assignment of units to arms over fixed hash buckets.

A unit's bucket is a salted hash (SHA-256 of `salt:unit_id`, the first 8 bytes modulo the
bucket count): it never changes while the salt stays, whatever else changes. Arms own buckets
through a *bucket map*, kept in the warehouse (`experiments.bucket_maps`, one snapshot per
day), so re-runs never move a unit and a change of shares moves only what it must: each arm
keeps as many of its buckets as its new share allows, and only the buckets freed by arms that
shrank (or left) go to arms that grew. This is the "minimal move" rule of mature assignment
services; a new salt is how to reshuffle on purpose.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def bucket_of(salt: str, unit_id: str, buckets: int) -> int:
    digest = hashlib.sha256(f"{salt}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def targets(shares: dict[str, int], buckets: int) -> dict[str, int]:
    """Buckets per arm for whole-percent shares (buckets is a multiple of 100)."""
    if buckets % 100:
        raise ValueError(f"buckets must be a multiple of 100 (whole-percent shares), got {buckets}")
    if sum(shares.values()) != 100:
        raise ValueError(f"shares must sum to 100, got {shares}")
    return {arm: share * buckets // 100 for arm, share in shares.items()}


def bucket_map(shares: dict[str, int], buckets: int, previous: Sequence[str] | None = None) -> list[str]:
    """The arm of every bucket for `shares` (arm -> percent, in the table's order).

    Without a previous map, arms get contiguous ranges in order. With one, each arm keeps its
    lowest-numbered buckets up to its new count, and the freed buckets (ascending) fill the arms
    that need more (in order): the fewest buckets possible change arm.
    """
    want = targets(shares, buckets)
    if previous is None or len(previous) != buckets:
        out: list[str] = []
        for arm, n in want.items():
            out += [arm] * n
        return out
    out_map: list[str | None] = [None] * buckets
    kept = dict.fromkeys(want, 0)
    for b, arm in enumerate(previous):
        if arm in want and kept[arm] < want[arm]:
            out_map[b] = arm
            kept[arm] += 1
    free = iter(b for b, arm in enumerate(out_map) if arm is None)
    for arm, n in want.items():
        for _ in range(n - kept[arm]):
            out_map[next(free)] = arm
    return [a for a in out_map if a is not None]


def moved_buckets(before: Sequence[str], after: Sequence[str]) -> int:
    return sum(1 for a, b in zip(before, after) if a != b)


def assign(units: Iterable[str], salt: str, mapping: Sequence[str]) -> list[tuple[str, int, str]]:
    """(unit_id, bucket, arm) for each unit, in unit order."""
    n = len(mapping)
    out = []
    for unit in sorted(set(units)):
        b = bucket_of(salt, unit, n)
        out.append((unit, b, mapping[b]))
    return out
