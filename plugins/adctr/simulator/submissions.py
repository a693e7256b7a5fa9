"""Creatives submitted through the medium's API, and their delivery by the world's truth.

An experiment loop submits combinations of an ad group's assets (`POST /api/v1/creatives`,
routes.py), each with a `label` (its tracking id), a medium and an inclusive date range. A
`Submission` is that record plus its `creative_id`, deterministic from the label
(`{ad_group_id}-s{sha256(label)[:10]}`); `SubmissionStore` keeps them (thread-safe) and
validates a call all-or-nothing (`SubmissionError` names the first bad entry's index and field
and the HTTP status state.py answers with).

Delivery: a submitted creative serves every day in [start_date, end_date] on its medium, on
every device. One vectorised draw per (medium, day) over the creatives serving that day,
sorted by label, from its own RNG stream (stream_seed(seed, "submissions", medium, day)), so
the organic draws (World.draw) are unchanged by any submission:

    unit_volume[g] = mean_daily_impressions * lognormal(0, volume_sd)   once per world and ad
                     group (stream_seed(seed, "submission_volume"))
    lambda         = unit_volume[g] * MEDIUM_SHARE[m] * DEVICE_SHARE[v] * WEEKDAY_VOLUME[t]
    CTR, CVR       = the world's true rates of the combination on (m, v, t) at age = days since
                     start_date (at age 0 exactly World.combination_rates)
    impressions ~ Poisson(lambda), clicks ~ Binomial, conversions ~ Binomial(clicks, CVR),
    delays ~ Multinomial(delay_weights), cost as World.draw

`draw_submitted` is that draw (usable in-process, without HTTP); delivery faults (faults.py
`drop_units`) remove whole creatives from it after the draw, so the others' counts do not move.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from http import HTTPStatus
from typing import Any

import numpy as np

from adctr.simulator.assets import ASSET_TYPES, stream_seed
from adctr.simulator.faults import FaultRule, dropped_units
from adctr.simulator.world import (
    CPC_YEN,
    DEVICE_SHARE,
    DEVICES,
    MEDIUM_SHARE,
    WEEKDAY_VOLUME,
    World,
)

MAX_LABEL_LENGTH = 200
ASSET_FIELDS = ("headline_asset_id", "description_asset_id", "image_asset_id")  # ASSET_TYPES order
ENTRY_FIELDS = ("ad_group_id", *ASSET_FIELDS, "label", "start_date", "end_date")


@dataclass(frozen=True)
class SubmissionConfig:
    """config/simulator.yaml `submissions:`."""

    mean_daily_impressions: float = 3000.0
    volume_sd: float = 0.6
    max_per_call: int = 10_000

    @classmethod
    def from_config(cls, raw: dict[str, Any] | None) -> SubmissionConfig:
        raw = raw or {}
        unknown = sorted(set(raw) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"submissions: unknown keys {unknown}")
        default = cls()
        return cls(
            mean_daily_impressions=float(
                raw.get("mean_daily_impressions", default.mean_daily_impressions)
            ),
            volume_sd=float(raw.get("volume_sd", default.volume_sd)),
            max_per_call=int(raw.get("max_per_call", default.max_per_call)),
        )


def creative_id_of(ad_group_id: str, label: str) -> str:
    return f"{ad_group_id}-s{hashlib.sha256(label.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class Submission:
    """One submitted creative: a combination of an ad group's assets serving on one medium
    every day from start_date to end_date (inclusive)."""

    label: str
    ad_group_id: str
    headline_asset_id: str
    description_asset_id: str
    image_asset_id: str
    start_date: date
    end_date: date
    medium: str
    creative_id: str

    def serves(self, medium: str, day: date) -> bool:
        return self.medium == medium and self.start_date <= day <= self.end_date

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label, "creative_id": self.creative_id, "medium": self.medium,
            "ad_group_id": self.ad_group_id, "headline_asset_id": self.headline_asset_id,
            "description_asset_id": self.description_asset_id,
            "image_asset_id": self.image_asset_id,
            "start_date": self.start_date.isoformat(), "end_date": self.end_date.isoformat(),
        }  # fmt: skip


class SubmissionError(ValueError):
    """A refused submission call: the HTTP status and, for an entry, its index and field."""

    def __init__(
        self, status: HTTPStatus, message: str, index: int | None = None, field: str | None = None
    ) -> None:
        where = f"creatives[{index}]" + (f".{field}" if field else "") if index is not None else ""
        super().__init__(f"{where}: {message}" if where else message)
        self.status = status
        self.index = index
        self.field = field


# Lookups of a world's ids (built once per world, dropped with it).
_LOOKUPS: weakref.WeakKeyDictionary[World, tuple[dict[str, int], dict[str, int]]] = (
    weakref.WeakKeyDictionary()
)
_LOOKUP_LOCK = threading.Lock()


def _lookups(world: World) -> tuple[dict[str, int], dict[str, int]]:
    """(ad group id -> index, asset id -> global asset index) of a world."""
    with _LOOKUP_LOCK:
        found = _LOOKUPS.get(world)
        if found is None:
            found = (
                {g: k for k, g in enumerate(world.group_ids.to_pylist())},
                {a: k for k, a in enumerate(world.asset_ids.to_pylist())},
            )
            _LOOKUPS[world] = found
        return found


def _entry(
    world: World, index: int, raw: Any, medium: str, today: date
) -> Submission:
    """One validated entry of a submission call (SubmissionError names the field)."""
    bad = HTTPStatus.BAD_REQUEST

    def fail(field: str | None, message: str) -> SubmissionError:
        return SubmissionError(bad, message, index, field)

    if not isinstance(raw, dict):
        raise fail(None, f"an entry is an object with {list(ENTRY_FIELDS)}")
    unknown = sorted(set(raw) - set(ENTRY_FIELDS))
    if unknown:
        raise fail(unknown[0], f"unknown fields {unknown}")
    label = raw.get("label")
    if not isinstance(label, str) or not label or len(label) > MAX_LABEL_LENGTH:
        raise fail("label", f"a non-empty string of at most {MAX_LABEL_LENGTH} characters")
    groups, assets = _lookups(world)
    group_id = raw.get("ad_group_id")
    if not isinstance(group_id, str) or group_id not in groups:
        raise fail("ad_group_id", f"unknown ad group {group_id!r}")
    days = {}
    for name in ("start_date", "end_date"):
        try:
            days[name] = date.fromisoformat(raw[name])
        except (KeyError, TypeError, ValueError):
            raise fail(name, f"a date YYYY-MM-DD, got {raw.get(name)!r}") from None
    start, end = days["start_date"], days["end_date"]
    if start < today:
        raise fail("start_date", f"{start} is in the past (today is {today}): a medium cannot "
                   "serve before today")  # fmt: skip
    if end < start:
        raise fail("end_date", f"{end} is before start_date {start}")
    lib, g = world.assets, groups[group_id]
    ids = []
    for type_index, name in enumerate(ASSET_FIELDS):
        asset_id = raw.get(name)
        k = assets.get(asset_id) if isinstance(asset_id, str) else None
        kind = ASSET_TYPES[type_index]
        if k is None:
            raise fail(name, f"unknown asset {asset_id!r}")
        if lib.type[k] != type_index:
            raise fail(name, f"{asset_id!r} is a {ASSET_TYPES[lib.type[k]]} asset, not {kind}")
        if lib.group[k] != g:
            raise fail(name, f"{asset_id!r} does not belong to ad group {group_id!r}")
        if lib.launch_ordinal[k] > start.toordinal():
            launched = date.fromordinal(int(lib.launch_ordinal[k]))
            raise fail(name, f"{asset_id!r} launches on {launched}, after start_date {start}")
        ids.append(asset_id)
    return Submission(
        label=label, ad_group_id=group_id, headline_asset_id=ids[0],
        description_asset_id=ids[1], image_asset_id=ids[2], start_date=start, end_date=end,
        medium=medium, creative_id=creative_id_of(group_id, label),
    )  # fmt: skip


class SubmissionStore:
    """The submitted creatives of one simulator, by label; thread-safe."""

    def __init__(self, config: SubmissionConfig | None = None) -> None:
        self.config = config or SubmissionConfig()
        self._lock = threading.Lock()
        self._by_label: dict[str, Submission] = {}
        self._labels_by_creative: dict[str, str] = {}
        self._snapshot: tuple[Submission, ...] = ()
        self.version = 0

    def __len__(self) -> int:
        return len(self._snapshot)

    def all(self) -> tuple[Submission, ...]:
        """Every submission, sorted by label (an immutable snapshot)."""
        return self._snapshot

    def submit(
        self,
        world: World,
        medium: str,
        account_id: str,
        entries: Any,
        today: date,
    ) -> list[dict[str, str]]:
        """Validate and store one call's entries, all or nothing: `SubmissionError` (nothing
        stored) names the first bad entry. Returns one {label, creative_id, status} per entry,
        status CREATED or EXISTS (the same label with identical content: idempotent)."""
        if not isinstance(medium, str) or not world.knows_medium(medium):
            raise SubmissionError(
                HTTPStatus.BAD_REQUEST,
                f"unknown medium {medium!r}; this API serves {sorted(world.media)}",
            )
        if account_id != world.account_id:
            raise SubmissionError(HTTPStatus.NOT_FOUND, f"unknown account {account_id!r}")
        if not isinstance(entries, list):
            raise SubmissionError(HTTPStatus.BAD_REQUEST, "creatives must be a list of entries")
        if len(entries) > self.config.max_per_call:
            raise SubmissionError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"{len(entries)} creatives; at most {self.config.max_per_call} per call",
            )
        parsed = [_entry(world, k, raw, medium, today) for k, raw in enumerate(entries)]
        with self._lock:
            new: dict[str, Submission] = {}
            out = []
            for k, sub in enumerate(parsed):
                known = new.get(sub.label) or self._by_label.get(sub.label)
                if known is not None and known != sub:
                    raise SubmissionError(
                        HTTPStatus.CONFLICT,
                        f"label {sub.label!r} was submitted with other content "
                        f"({known.creative_id} on {known.medium}, {known.start_date}.."
                        f"{known.end_date}); a label names one creative",
                        k, "label",
                    )  # fmt: skip
                owner = self._labels_by_creative.get(sub.creative_id)
                if known is None and owner is not None:  # a sha256 prefix collision
                    raise SubmissionError(
                        HTTPStatus.CONFLICT,
                        f"label {sub.label!r} maps to {sub.creative_id}, taken by {owner!r}",
                        k, "label",
                    )  # fmt: skip
                status = "EXISTS" if known is not None else "CREATED"
                new.setdefault(sub.label, sub)
                out.append({"label": sub.label, "creative_id": sub.creative_id, "status": status})
            if any(label not in self._by_label for label in new):
                for label, sub in new.items():
                    self._by_label.setdefault(label, sub)
                    self._labels_by_creative.setdefault(sub.creative_id, label)
                self._snapshot = tuple(self._by_label[k] for k in sorted(self._by_label))
                self.version += 1
            return out


def serving(
    submissions: SubmissionStore | Iterable[Submission], medium: str, day: date
) -> tuple[Submission, ...]:
    """The submissions serving on (medium, day), sorted by label."""
    subs = submissions.all() if isinstance(submissions, SubmissionStore) else submissions
    return tuple(sorted((s for s in subs if s.serves(medium, day)), key=lambda s: s.label))


@functools.lru_cache(maxsize=16)
def _unit_volume(seed: int, n_groups: int, mean: float, sd: float) -> np.ndarray:
    rng = np.random.default_rng(stream_seed(seed, "submission_volume"))
    volume = mean * rng.lognormal(0.0, sd, size=n_groups)
    volume.flags.writeable = False
    return volume


def unit_volume(world: World, config: SubmissionConfig | None = None) -> np.ndarray:
    """Mean daily impressions of a submitted creative per ad group (before the medium, device
    and weekday shares): one lognormal per ad group, fixed per world."""
    config = config or SubmissionConfig()
    return _unit_volume(
        world.seed, len(world.group_ids), config.mean_daily_impressions, config.volume_sd
    )


@dataclass(frozen=True)
class SubmittedTruth:
    """The truth of the submitted creatives serving one (medium, day), one row per creative
    and device (creatives sorted by label, devices in DEVICES order)."""

    medium: str
    day: date
    submissions: tuple[Submission, ...]  # serving that day, sorted by label
    assets: np.ndarray  # (creatives, 3) global asset indices (headline, description, image)
    ad_group_index: np.ndarray  # per creative
    submission_index: np.ndarray  # per row, into `submissions`
    device_index: np.ndarray
    expected_impressions: np.ndarray
    true_ctr: np.ndarray
    true_cvr: np.ndarray


def submitted_truth(
    world: World,
    submissions: SubmissionStore | Iterable[Submission],
    medium: str,
    day: date,
    config: SubmissionConfig | None = None,
) -> SubmittedTruth:
    """Expected impressions and true rates of the creatives serving (medium, day)."""
    if config is None and isinstance(submissions, SubmissionStore):
        config = submissions.config
    subs = serving(submissions, medium, day)
    groups, assets = _lookups(world)
    n = len(subs)
    group = np.array([groups[s.ad_group_id] for s in subs], dtype=np.int64)
    hdi = np.array(
        [[assets[getattr(s, f)] for f in ASSET_FIELDS] for s in subs], dtype=np.int64
    ).reshape(n, 3)
    start = np.array([s.start_date.toordinal() for s in subs], dtype=np.int64)
    unit = np.repeat(np.arange(n), len(DEVICES))
    device = np.tile(np.arange(len(DEVICES)), n)
    age = np.maximum(0, day.toordinal() - start[unit])
    h, d, i = (hdi[unit, k] for k in range(3))
    ctr, cvr = world._rates(medium, day, device, world._latent(day, h, d, i), age)
    lam = (
        unit_volume(world, config)[group[unit]]
        * MEDIUM_SHARE.get(medium, 1.0)
        * np.take(DEVICE_SHARE, device)
        * WEEKDAY_VOLUME[day.weekday()]
    )
    return SubmittedTruth(
        medium=medium, day=day, submissions=subs, assets=hdi, ad_group_index=group,
        submission_index=unit, device_index=device, expected_impressions=lam,
        true_ctr=ctr, true_cvr=cvr,
    )  # fmt: skip


@dataclass(frozen=True)
class SubmittedDraw:
    """What the submitted creatives serving one (medium, day) delivered: rows per creative and
    device, like DayDraw; the creatives a delivery fault dropped have no rows."""

    medium: str
    day: date
    submissions: tuple[Submission, ...]  # serving that day, sorted by label (dropped included)
    dropped: np.ndarray  # per creative in `submissions`: a delivery fault kept it from serving
    assets: np.ndarray  # (creatives, 3) global asset indices
    ad_group_index: np.ndarray  # per creative
    submission_index: np.ndarray  # per row, into `submissions`
    device_index: np.ndarray
    expected_impressions: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    conversions_by_delay: np.ndarray  # shape (rows, attribution_window)
    cost_sen: np.ndarray
    true_ctr: np.ndarray
    true_cvr: np.ndarray

    def conversions_as_of(self, today: date) -> np.ndarray:
        """Conversions reported for this day when the report is pulled on `today`."""
        visible = max(0, min((today - self.day).days, self.conversions_by_delay.shape[1]))
        return self.conversions_by_delay[:, :visible].sum(axis=1)

    @property
    def labels(self) -> list[str]:
        """The label of each row."""
        return [self.submissions[k].label for k in self.submission_index]

    @property
    def creative_ids(self) -> list[str]:
        """The creative id of each row."""
        return [self.submissions[k].creative_id for k in self.submission_index]


def draw_submitted(
    world: World,
    submissions: SubmissionStore | Iterable[Submission],
    medium: str,
    day: date,
    *,
    config: SubmissionConfig | None = None,
    faults: Sequence[FaultRule] = (),
) -> SubmittedDraw:
    """The delivery of the submitted creatives serving (medium, day) (vectorised; the same on
    every call for the same serving set). `faults`: delivery rules (FaultPlan.delivery_rules)."""
    if not world.knows_medium(medium):
        raise KeyError(medium)
    t = submitted_truth(world, submissions, medium, day, config)
    rng = np.random.default_rng(stream_seed(world.seed, "submissions", medium, day.isoformat()))
    impressions = rng.poisson(t.expected_impressions)
    clicks = rng.binomial(impressions, t.true_ctr)
    conversions = rng.binomial(clicks, t.true_cvr)
    cost_sen = np.rint(
        clicks * CPC_YEN.get(medium, 50.0) * 100 * rng.uniform(0.8, 1.2, size=len(clicks))
    )
    by_delay = rng.multinomial(conversions, world.delay_weights).reshape(
        len(clicks), world.attribution_window_days
    )
    dropped = dropped_units(
        faults, world.seed, medium, [s.ad_group_id for s in t.submissions],
        [s.label for s in t.submissions],
    )  # fmt: skip
    keep = ~dropped[t.submission_index]
    return SubmittedDraw(
        medium=medium, day=day, submissions=t.submissions, dropped=dropped, assets=t.assets,
        ad_group_index=t.ad_group_index, submission_index=t.submission_index[keep],
        device_index=t.device_index[keep], expected_impressions=t.expected_impressions[keep],
        impressions=impressions[keep].astype(np.int64), clicks=clicks[keep].astype(np.int64),
        conversions_by_delay=by_delay[keep].astype(np.int64),
        cost_sen=cost_sen[keep].astype(np.int64), true_ctr=t.true_ctr[keep],
        true_cvr=t.true_cvr[keep],
    )  # fmt: skip
