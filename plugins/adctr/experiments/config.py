"""The ABn test table, `config/experiments.yaml`: which units see which model, from when to when.

Reviewed like code and validated on load (pydantic): shares are whole percents summing to 100,
arm names and slots are unique per experiment, every slot exists in config/slots.yaml, serves
the experiment's model kind and is scored by batch_scoring, and no unit is in two experiments
that overlap in time. A bad table raises `ExperimentConfigError` naming the field
(`experiments[0].arms[1].slot: ...`), which fails the DAG's first task.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adctr.core import settings

RANDOM = "random"  # the control policy: a uniformly random combination of the unit's assets
METRICS = ("ctr", "cvr")
# A metric's ratio: numerator and denominator columns of the per-unit facts.
METRIC_COLUMNS = {"ctr": ("clicks", "impressions"), "cvr": ("conversions", "clicks")}
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]


class ExperimentConfigError(settings.ConfigError):
    """config/experiments.yaml is wrong; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arm(_Strict):
    """One arm: a share of the traffic served by a slot's model (or the random control)."""

    name: Name
    slot: str
    share: int = Field(ge=1, le=100, description="percent of the experiment's units")


class Context(_Strict):
    medium: str
    device: str


class Experiment(_Strict):
    """One experiment: units (ad groups) split over arms by a salted hash for [start, end]."""

    id: Name
    description: str = ""
    unit: Literal["ad_group"] = "ad_group"
    salt: str | None = None  # default: the id; a new salt reshuffles every unit
    model: Literal["ctr", "cvr"]
    context: Context
    start: date  # first serving day
    end: date  # last serving day
    pre_period_days: int = Field(ge=0, le=90)
    advertisers: list[str] | None = None  # the population; None = every ad group
    primary_metric: Literal["ctr", "cvr"]
    guardrails: list[Literal["ctr", "cvr"]] = []
    control: Name | None = None  # default: the arm on the random slot
    arms: list[Arm] = Field(min_length=2, max_length=11)

    @model_validator(mode="after")
    def _check(self) -> "Experiment":
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique, got {names}")
        total = sum(a.share for a in self.arms)
        if total != 100:
            raise ValueError(f"arm shares must sum to 100, got {total} ({[a.share for a in self.arms]})")
        if self.control_arm not in names:
            raise ValueError(
                f"control {self.control_arm!r} is not an arm ({names})"
                if self.control is not None
                else f"no control: name one (control: <arm>) or add an arm on slot {RANDOM!r}"
            )
        if self.primary_metric in self.guardrails:
            raise ValueError(f"primary_metric {self.primary_metric} is also a guardrail")
        return self

    @property
    def control_arm(self) -> str | None:
        if self.control is not None:
            return self.control
        return next((a.name for a in self.arms if a.slot == RANDOM), None)

    @property
    def hash_salt(self) -> str:
        return self.salt or self.id

    @property
    def metrics(self) -> list[str]:
        return [self.primary_metric, *self.guardrails]

    @property
    def pre_period(self) -> tuple[date, date]:
        """[first, last] day of the pre-period (CUPED's covariate window)."""
        return self.start - timedelta(days=self.pre_period_days), self.start - timedelta(days=1)

    def serves_on(self, day: date) -> bool:
        return self.start <= day <= self.end

    def arm(self, name: str) -> Arm:
        return next(a for a in self.arms if a.name == name)

    def overlaps(self, other: "Experiment") -> bool:
        """Both could hold the same unit on the same day."""
        if self.end < other.start or other.end < self.start:
            return False
        if self.advertisers is None or other.advertisers is None:
            return True
        return bool(set(self.advertisers) & set(other.advertisers))


class ExperimentsFile(_Strict):
    """config/experiments.yaml."""

    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    srm_alpha: float = Field(default=0.001, gt=0, lt=0.5)
    buckets: int = Field(default=1000, ge=100, le=100_000)
    experiments: list[Experiment] = []

    @field_validator("experiments")
    @classmethod
    def _unique_and_disjoint(cls, experiments: list[Experiment]) -> list[Experiment]:
        ids = [e.id for e in experiments]
        if len(set(ids)) != len(ids):
            raise ValueError(f"experiment ids must be unique, got {ids}")
        for i, a in enumerate(experiments):
            for b in experiments[i + 1 :]:
                if a.overlaps(b):
                    raise ValueError(
                        f"{a.id} and {b.id} overlap in time and units: one experiment per unit "
                        "(give them disjoint `advertisers` or dates)"
                    )
        return experiments

    def active(self, day: date) -> list[Experiment]:
        return [e for e in self.experiments if e.serves_on(day)]

    def get(self, experiment_id: str) -> Experiment:
        for e in self.experiments:
            if e.id == experiment_id:
                return e
        raise ExperimentConfigError(f"config/experiments.yaml has no experiment {experiment_id!r}")


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse(raw: dict[str, Any], slot_models: dict[str, str], scoring: dict[str, Any]) -> ExperimentsFile:
    """Validate a loaded experiments table against the slots (`slot -> model kind`) and what
    batch_scoring scores (config/scoring.yaml: its slots and contexts); the error names the
    field and the file."""
    try:
        table = ExperimentsFile.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ExperimentConfigError(
            f"config/experiments.yaml: {_where(first['loc'])}: {first['msg']}{more}"
        ) from None
    scored_slots = set(scoring.get("slots") or [])
    contexts = [dict(c) for c in scoring.get("contexts") or []]
    for i, e in enumerate(table.experiments):
        if e.context.model_dump() not in contexts:
            raise ExperimentConfigError(
                f"config/experiments.yaml: experiments[{i}].context: {e.context.model_dump()} is not a scoring "
                f"context of config/scoring.yaml ({contexts})"
            )
        for j, arm in enumerate(e.arms):
            where = f"config/experiments.yaml: experiments[{i}].arms[{j}].slot"
            if arm.slot == RANDOM:
                continue
            if arm.slot not in slot_models:
                raise ExperimentConfigError(f"{where}: no slot {arm.slot!r} in config/slots.yaml ({sorted(slot_models)})")
            if slot_models[arm.slot] != e.model:
                raise ExperimentConfigError(
                    f"{where}: slot {arm.slot} serves a {slot_models[arm.slot]} model; experiment {e.id} compares {e.model} models"
                )
            if arm.slot not in scored_slots:
                raise ExperimentConfigError(
                    f"{where}: slot {arm.slot} is not scored by batch_scoring: add it to config/scoring.yaml `slots`"
                )
    return table


def load() -> ExperimentsFile:
    """config/experiments.yaml, validated against config/slots.yaml and config/scoring.yaml."""
    slots_cfg = settings.load_config("slots").get("slots") or {}
    slot_models = {name: str((spec or {}).get("model")) for name, spec in slots_cfg.items()}
    return parse(settings.load_config("experiments"), slot_models, settings.load_config("scoring"))
