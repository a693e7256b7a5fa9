"""Tracking ids: the label every creative the loop submits carries to the medium.

    abn.<experiment>.<arm>.<serving day YYYYMMDD>.<key>

The readable part says where a delivered row belongs at a glance (and lets a medium-side
rule, or the simulator's fault plan, target an arm by prefix); `key` is the first 12 hex
digits of a SHA-256 over everything the id stands for (experiment, arm, slot, model, variant
and version, scoring day, unit and the combination's assets), so ids are unique per unit and
day and a re-run issues the same id for the same choice. The full mapping is the table
`experiments.tracking_ids`; delivery is joined back to it by this id, never by parsing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date

PREFIX = "abn"
PATTERN = re.compile(r"^abn\.(?P<experiment>[a-z0-9_-]+)\.(?P<arm>[a-z0-9_-]+)\.(?P<day>\d{8})\.(?P<key>[0-9a-f]{12})$")


@dataclass(frozen=True)
class Choice:
    """What one unit's arm submits for one serving day."""

    experiment_id: str
    arm: str
    slot: str
    model: str | None  # None for the random control
    variant: str | None
    version: int | None
    scoring_date: date
    serve_date: date
    unit_id: str
    headline_asset_id: str
    description_asset_id: str
    image_asset_id: str

    @property
    def tracking_id(self) -> str:
        parts = [
            self.experiment_id, self.arm, self.slot, self.model or "", self.variant or "",
            "" if self.version is None else str(self.version), self.scoring_date.isoformat(),
            self.serve_date.isoformat(), self.unit_id, self.headline_asset_id,
            self.description_asset_id, self.image_asset_id,
        ]  # fmt: skip
        key = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]
        return f"{arm_prefix(self.experiment_id, self.arm)}{self.serve_date:%Y%m%d}.{key}"


def arm_prefix(experiment_id: str, arm: str) -> str:
    """The label prefix every tracking id of one arm starts with."""
    return f"{PREFIX}.{experiment_id}.{arm}."


def parse(tracking_id: str) -> dict[str, str] | None:
    """The readable fields of a tracking id, or None if it is not one."""
    m = PATTERN.match(tracking_id or "")
    return m.groupdict() if m else None
