"""Fault injection for the simulator, by configuration, per request stream.

A rule names a fault `kind`, the request `stream` it hits, optionally one `medium`, and when
it fires: on the listed request numbers of that (stream, medium) counter (`on_requests`,
1-based, deterministic) and/or with a seeded `probability`. Streams and kinds:

    create   : http_429, http_5xx, slow, drop_connection
    submit   : http_429, http_5xx, slow, drop_connection -- POST /api/v1/creatives, before
               anything is stored
    status   : http_429, http_5xx, slow, drop_connection, job_failed
    download : http_429, http_5xx, slow, drop_connection, truncated_page, duplicated_page
    job      : schema_drift (rename / extra_columns), bad_rows (see BAD_ROW_KINDS)
    assets   : http_429, http_5xx, slow, drop_connection, truncated_page, duplicated_page
    ads      : (as assets) -- the JSON listings GET /api/v1/assets and /api/v1/ads; a
               truncated page keeps the first half of its rows, a duplicated page is another
               page's answer
    delivery : drop_units (`label_prefix`, `share`) -- the submitted creatives (submissions.py)
               whose label starts with `label_prefix`, in a deterministic `share` of the ad
               groups (those with stream_seed(seed, "drop_units", ad_group_id) / 2**64 < share),
               never deliver: no report rows, no ground-truth rows, while the submission API
               and the ads listing show them as usual (the silent loss a sample-ratio-mismatch
               check must catch). Always on while the rule is set (no on_requests/probability);
               `medium` narrows it to one medium; the truth endpoint still shows the intent.

Example (config/simulator.yaml `faults:` or `PUT /admin/faults`):
    - {kind: http_429, stream: download, on_requests: [1, 2], retry_after: 0.2}
    - {kind: bad_rows, stream: job, medium: yahoo_ads, bad_rows: [negative_count, null_id]}
    - {kind: drop_units, stream: delivery, label_prefix: "exp42-", share: 0.25}

This module owns the rules (`FaultRule`, `FaultPlan`) and the data faults of the job stream
(`inject_bad_rows`, `apply_schema_drift`), which spoil a report table when a job is created,
and of the delivery stream (`dropped_units`), which the submitted creatives' draws apply.
Transport faults act on the HTTP exchange and live with it in routes.py.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from adctr.simulator.world import stream_seed

# The CSV download and the JSON listings page the same way, so they fail the same ways.
PAGE_KINDS = frozenset(
    {"http_429", "http_5xx", "slow", "drop_connection", "truncated_page", "duplicated_page"}
)
STREAM_KINDS = {
    "create": {"http_429", "http_5xx", "slow", "drop_connection"},
    "submit": {"http_429", "http_5xx", "slow", "drop_connection"},
    "status": {"http_429", "http_5xx", "slow", "drop_connection", "job_failed"},
    "download": PAGE_KINDS,
    "job": {"schema_drift", "bad_rows"},
    "assets": PAGE_KINDS,
    "ads": PAGE_KINDS,
    "delivery": {"drop_units"},
}
ALWAYS_ON_STREAMS = ("job", "delivery")  # rules that apply whenever set, not per request
BAD_ROW_KINDS = (
    "negative_count", "clicks_gt_impressions", "null_id", "unknown_currency",
    "date_outside_range", "duplicate_row",
)  # fmt: skip


class FaultConfigError(ValueError):
    """A fault rule that cannot be applied; the message names the rule."""


@dataclass(frozen=True)
class FaultRule:
    kind: str
    stream: str
    medium: str | None = None
    on_requests: tuple[int, ...] = ()
    probability: float = 0.0
    retry_after: float = 1.0
    status: int = 503
    delay_seconds: float = 1.0
    rename: dict[str, str] = field(default_factory=dict)
    extra_columns: dict[str, str] = field(default_factory=dict)
    bad_rows: tuple[str, ...] = ()
    label_prefix: str = ""
    share: float = 0.0

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "FaultRule":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise FaultConfigError(f"fault rule {raw}: unknown keys {unknown}")
        rule = cls(
            **{
                **raw,
                "on_requests": tuple(int(n) for n in raw.get("on_requests") or ()),
                "bad_rows": tuple(raw.get("bad_rows") or ()),
                "rename": dict(raw.get("rename") or {}),
                "extra_columns": dict(raw.get("extra_columns") or {}),
            }
        )
        if rule.stream not in STREAM_KINDS:
            raise FaultConfigError(f"fault rule {raw}: stream must be one of {sorted(STREAM_KINDS)}")
        if rule.kind not in STREAM_KINDS[rule.stream]:
            raise FaultConfigError(
                f"fault rule {raw}: kind {rule.kind!r} does not apply to stream {rule.stream!r} "
                f"(allowed: {sorted(STREAM_KINDS[rule.stream])})"
            )
        bad = sorted(set(rule.bad_rows) - set(BAD_ROW_KINDS))
        if bad:
            raise FaultConfigError(f"fault rule {raw}: unknown bad_rows {bad} (known: {BAD_ROW_KINDS})")
        if not rule.on_requests and rule.probability <= 0 and rule.stream not in ALWAYS_ON_STREAMS:
            raise FaultConfigError(f"fault rule {raw}: set on_requests or a probability > 0")
        if rule.kind == "drop_units" and (
            not isinstance(rule.label_prefix, str) or not 0.0 <= float(rule.share) <= 1.0
        ):
            raise FaultConfigError(
                f"fault rule {raw}: drop_units needs a str label_prefix and a share in 0..1"
            )
        return rule


class FaultPlan:
    """The active rules and a request counter per (stream, medium); thread-safe."""

    def __init__(self, rules: list[dict[str, Any]] | None = None, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.reset(rules or [], seed)

    def reset(self, rules: list[dict[str, Any]], seed: int = 0) -> None:
        parsed = [FaultRule.from_dict(r) for r in rules]
        with self._lock:
            self.rules = parsed
            self.counts: Counter[tuple[str, str]] = Counter()
            self.fired: Counter[str] = Counter()
            self._rng = np.random.default_rng(stream_seed(seed, "faults"))

    def fire(self, stream: str, medium: str) -> list[FaultRule]:
        """Count one request of `stream` for `medium` and return the rules that hit it."""
        with self._lock:
            self.counts[(stream, medium)] += 1
            n = self.counts[(stream, medium)]
            hits = []
            for rule in self.rules:
                if rule.stream != stream or (rule.medium and rule.medium != medium):
                    continue
                always = rule.stream in ALWAYS_ON_STREAMS and not (
                    rule.on_requests or rule.probability > 0
                )
                if always or n in rule.on_requests or (
                    rule.probability > 0 and self._rng.random() < rule.probability
                ):
                    hits.append(rule)
                    self.fired[rule.kind] += 1
            return hits

    def delivery_rules(self) -> list[FaultRule]:
        """The rules of the delivery stream (not a request stream: nothing is counted)."""
        with self._lock:
            return [r for r in self.rules if r.stream == "delivery"]


def drops_ad_group(seed: int, ad_group_id: str, share: float) -> bool:
    """Whether a drop_units rule of `share` hits the ad group (deterministic per seed)."""
    return stream_seed(seed, "drop_units", ad_group_id) / 2.0**64 < share


def dropped_units(
    rules: Sequence[FaultRule],
    seed: int,
    medium: str,
    ad_group_ids: Sequence[str],
    labels: Sequence[str],
) -> np.ndarray:
    """Per submitted creative (its ad group and label): True if a drop_units rule of the
    delivery stream keeps it from ever delivering on `medium`."""
    out = np.zeros(len(labels), dtype=bool)
    for rule in rules:
        if rule.kind != "drop_units" or (rule.medium and rule.medium != medium):
            continue
        hit = {g: drops_ad_group(seed, g, rule.share) for g in set(ad_group_ids)}
        out |= np.array(
            [hit[g] and lab.startswith(rule.label_prefix) for g, lab in zip(ad_group_ids, labels)],
            dtype=bool,
        )
    return out


def inject_bad_rows(table: pa.Table, kinds: tuple[str, ...], start: date) -> pa.Table:
    """Spoil one row per kind (rows 0, 1, ... in order), as a faulty source would."""
    if not kinds or table.num_rows == 0:
        return table
    rows = table.slice(0, len(kinds)).to_pylist()
    extra = []
    for row, kind in zip(rows, kinds):
        if kind == "negative_count":
            row["IMPS"] = -5
        elif kind == "clicks_gt_impressions":
            row["CLICKS"] = int(row["IMPS"]) + 3
        elif kind == "null_id":
            row["AD_ID"] = None
        elif kind == "unknown_currency":
            row["CURRENCY"] = "XYZ"
        elif kind == "date_outside_range":
            row["DAY"] = (start - timedelta(days=1)).isoformat()
        elif kind == "duplicate_row":
            extra.append(dict(row))
    spoiled = pa.Table.from_pylist(rows + extra, schema=table.schema)
    return pa.concat_tables([spoiled, table.slice(len(rows))])


def apply_schema_drift(table: pa.Table, rule: FaultRule) -> pa.Table:
    """Rename columns and append constant extra columns, as the rule says."""
    if rule.rename:
        table = table.rename_columns([rule.rename.get(c, c) for c in table.column_names])
    for name, value in rule.extra_columns.items():
        table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
    return table
