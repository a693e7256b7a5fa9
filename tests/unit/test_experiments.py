"""The ABn loop's pure parts: the table's validation, assignment, tracking ids, the sequential
design and the decisions (adctr.experiments)."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from adctr.core import settings
from adctr.experiments import analysis, assignment, config, sequential, tracking

SLOTS = {"ctr0": "ctr", "cvr0": "cvr", "cvr1": "cvr", "cvr2": "cvr"}
SCORING = {"slots": ["ctr0", "cvr0", "cvr1"], "contexts": [{"medium": "yahoo_ads", "device": "mobile"}]}
EXPERIMENT = {
    "id": "exp1", "model": "cvr", "context": {"medium": "yahoo_ads", "device": "mobile"},
    "start": "2026-11-01", "end": "2026-11-14", "pre_period_days": 7, "primary_metric": "cvr", "guardrails": ["ctr"],
    "arms": [{"name": "control", "slot": "random", "share": 20}, {"name": "champion", "slot": "cvr0", "share": 40},
             {"name": "challenger", "slot": "cvr1", "share": 40}],
}  # fmt: skip


def table(**changes: object) -> dict:
    e = copy.deepcopy(EXPERIMENT) | changes
    return {"experiments": [e]}


def test_the_shipped_table_is_valid() -> None:
    shipped = config.load()
    assert shipped.experiments and all(e.control_arm for e in shipped.experiments)


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (table(arms=[{"name": "control", "slot": "random", "share": 50}, {"name": "a", "slot": "cvr0", "share": 40}]),
         "experiments[0]: Value error, arm shares must sum to 100"),
        (table(arms=[{"name": "control", "slot": "random", "share": 50}, {"name": "a", "slot": "cvr7", "share": 50}]),
         "experiments[0].arms[1].slot: no slot 'cvr7'"),
        (table(arms=[{"name": "control", "slot": "random", "share": 50}, {"name": "a", "slot": "ctr0", "share": 50}]),
         "experiments[0].arms[1].slot: slot ctr0 serves a ctr model"),
        (table(arms=[{"name": "control", "slot": "random", "share": 50}, {"name": "a", "slot": "cvr2", "share": 50}]),
         "experiments[0].arms[1].slot: slot cvr2 is not scored by batch_scoring"),
        (table(arms=[{"name": "a", "slot": "cvr0", "share": 50}, {"name": "b", "slot": "cvr1", "share": 50}]),
         "experiments[0]: Value error, no control"),
        (table(arms=[{"name": "a", "slot": "random", "share": 50}, {"name": "a", "slot": "cvr1", "share": 50}]),
         "arm names must be unique"),
        (table(end="2026-10-01"), "end 2026-10-01 is before start"),
        (table(context={"medium": "meta", "device": "mobile"}), "experiments[0].context: {'medium': 'meta'"),
        (table(shares=3), "experiments[0].shares: Extra inputs are not permitted"),
        (table(primary_metric="roas"), "experiments[0].primary_metric: Input should be 'ctr' or 'cvr'"),
        (table(arms=[{"name": "control", "slot": "random", "share": 0}, {"name": "a", "slot": "cvr0", "share": 100}]),
         "experiments[0].arms[0].share: Input should be greater than or equal to 1"),
        ({"experiments": [EXPERIMENT, EXPERIMENT | {"id": "exp2", "start": "2026-11-10", "end": "2026-11-20"}]},
         "experiments: Value error, exp1 and exp2 overlap in time and units"),
        ({"experiments": [EXPERIMENT, EXPERIMENT]}, "experiment ids must be unique"),
    ],
)  # fmt: skip
def test_a_bad_table_fails_naming_the_field(raw: dict, names: str) -> None:
    with pytest.raises(config.ExperimentConfigError) as err:
        config.parse(raw, SLOTS, SCORING)
    assert "config/experiments.yaml: " in str(err.value) and names in str(err.value)
    assert isinstance(err.value, settings.ConfigError)  # fails the task at once (PermanentError)


def test_experiments_on_disjoint_advertisers_may_run_at_once() -> None:
    a = EXPERIMENT | {"advertisers": ["adv001"]}
    b = EXPERIMENT | {"id": "exp2", "advertisers": ["adv002"]}
    parsed = config.parse({"experiments": [a, b]}, SLOTS, SCORING)
    assert [e.id for e in parsed.active(date(2026, 11, 5))] == ["exp1", "exp2"]
    assert parsed.active(date(2026, 11, 15)) == []


def test_assignment_is_deterministic_and_follows_the_shares() -> None:
    shares = {"control": 20, "champion": 40, "challenger": 40}
    mapping = assignment.bucket_map(shares, 1000)
    units = [f"adv{i:03d}-cmp1-ag{j}" for i in range(500) for j in range(40)]
    first = assignment.assign(units, "exp1", mapping)
    assert first == assignment.assign(reversed(units), "exp1", list(mapping))  # order does not matter
    arms = pd.Series([a for _, _, a in first]).value_counts(normalize=True)
    for arm, share in shares.items():
        assert abs(arms[arm] - share / 100) < 0.01
    other_salt = assignment.assign(units, "exp1-v2", mapping)
    assert 0.3 < np.mean([a != b for (_, _, a), (_, _, b) in zip(first, other_salt)]) < 0.8


def test_changing_shares_moves_only_the_units_it_must() -> None:
    before = assignment.bucket_map({"control": 20, "champion": 40, "challenger": 40}, 1000)
    after = assignment.bucket_map({"control": 20, "champion": 30, "challenger": 50}, 1000, before)
    assert assignment.moved_buckets(before, after) == 100  # exactly champion's surplus
    assert assignment.bucket_map({"control": 20, "champion": 30, "challenger": 50}, 1000, after) == after  # stable
    assert assignment.bucket_map({"control": 20, "champion": 40, "challenger": 40}, 1000, before) == before
    units = [f"u{i}" for i in range(20_000)]
    moved = [u for (u, _, a), (_, _, b) in zip(assignment.assign(units, "s", before), assignment.assign(units, "s", after)) if a != b]
    assert all(a == "champion" for u, _, a in assignment.assign(moved, "s", before))
    assert all(a == "challenger" for u, _, a in assignment.assign(moved, "s", after))
    # a new arm takes buckets from the arms that shrink, nobody else moves
    three = assignment.bucket_map({"control": 20, "champion": 30, "challenger": 30, "new": 20}, 1000, before)
    assert assignment.moved_buckets(before, three) == 200
    assert {b for a, b in zip(before, three) if a != b} == {"new"}


def test_tracking_ids_are_unique_stable_and_readable() -> None:
    def choice(unit: str, day: date, version: int | None = 3) -> tracking.Choice:
        return tracking.Choice("exp1", "champion", "cvr0", "cvr", "main", version, day, day + timedelta(days=1),
                               unit, f"{unit}-h1", f"{unit}-d1", f"{unit}-i1")  # fmt: skip

    ids = {choice(f"g{u}", date(2026, 11, 1) + timedelta(days=d)).tracking_id for u in range(200) for d in range(14)}
    assert len(ids) == 200 * 14
    one = choice("g1", date(2026, 11, 1))
    assert one.tracking_id == choice("g1", date(2026, 11, 1)).tracking_id
    assert one.tracking_id != choice("g1", date(2026, 11, 1), version=4).tracking_id  # the version is keyed
    assert one.tracking_id.startswith(tracking.arm_prefix("exp1", "champion") + "20261102.")
    assert tracking.parse(one.tracking_id) | {"key": ""} == {"experiment": "exp1", "arm": "champion", "day": "20261102", "key": ""}
    assert tracking.parse("summer-sale") is None


def test_boundaries_match_the_published_obrien_fleming_type_design() -> None:
    # Lan-DeMets O'Brien-Fleming spending, 5 equally spaced looks, two-sided alpha 0.05
    # (Jennison & Turnbull; gsDesign sfLDOF): 4.877, 3.357, 2.680, 2.290, 2.031.
    b = sequential.boundaries([1, 2, 3, 4, 5], [0.2, 0.4, 0.6, 0.8, 1.0], 0.05)
    np.testing.assert_allclose(b, [4.8769, 3.3569, 2.6803, 2.2898, 2.0310], atol=5e-4)
    assert sequential.boundaries([7.0], [1.0], 0.05) == pytest.approx([1.959964], abs=1e-5)
    assert sequential.sequential_pvalue([1.959964], [1.0], [1.0]) == pytest.approx(0.05, rel=2e-3)


def test_daily_looks_keep_the_false_positive_rate_at_alpha() -> None:
    rng = np.random.default_rng(11)
    days = np.arange(1, 15)
    z = np.cumsum(rng.normal(size=(20_000, 14)), axis=1) / np.sqrt(days)  # Brownian motion under H0
    b = np.array(sequential.boundaries(days, days / 14, 0.05))
    sequential_fpr = (np.abs(z) >= b).any(axis=1).mean()
    naive_fpr = (np.abs(z) >= 1.96).any(axis=1).mean()
    assert 0.045 < sequential_fpr < 0.056 and naive_fpr > 0.18


def test_the_sequential_pvalue_is_below_alpha_exactly_when_a_boundary_is_crossed() -> None:
    days = np.arange(1, 8)
    rng = np.random.default_rng(5)
    for drift in (0.0, 0.3, 0.8, 1.5):
        z = list(np.cumsum(rng.normal(drift, 1, 7)) / np.sqrt(days))
        p = [sequential.sequential_pvalue(z[: k + 1], days[: k + 1], (days / 7)[: k + 1]) for k in range(7)]
        assert all(a >= b - 1e-9 for a, b in zip(p, p[1:]))  # never increases
        crossed = sequential.first_crossing(z, sequential.boundaries(days, days / 7, 0.05)) is not None
        assert (p[-1] <= 0.05) == crossed


def _looks(n: int, lift: float, days: int = 7, seed: int = 0, drop: float = 0.0):  # noqa: ANN202
    """Unit rows for `days` looks: control at a 5% CVR, 'better' at (1 + lift) x, with a
    pre-period correlated with each unit's own rate."""
    rng = np.random.default_rng(seed)
    arms = np.array(["control", "better"])[rng.integers(0, 2, n)]
    keep = ~((arms == "better") & (rng.random(n) < drop))
    base = 1 / (1 + np.exp(-rng.normal(-3, 0.5, n)))
    cvr = np.where(arms == "better", base * (1 + lift), base)
    clicks_per_day = rng.lognormal(4, 0.5, n)
    pre_clicks = rng.poisson(clicks_per_day * 7)
    pre_conv = rng.binomial(pre_clicks, base)
    cum = np.zeros((n, 2), int)
    out = []
    for k in range(days):
        c = rng.poisson(clicks_per_day)
        cum += np.c_[c, rng.binomial(c, cvr)]
        out.append((date(2026, 11, 1) + timedelta(days=k), pd.DataFrame({
            "unit_id": [f"u{i}" for i in range(n)], "arm": arms, "impressions": cum[:, 0] * 30, "clicks": cum[:, 0],
            "conversions": cum[:, 1], "pre_impressions": pre_clicks * 30, "pre_clicks": pre_clicks,
            "pre_conversions": pre_conv,
        })[keep].reset_index(drop=True)))  # fmt: skip
    return out


AB = config.Experiment.model_validate(EXPERIMENT | {
    "end": "2026-11-07", "guardrails": [],
    "arms": [{"name": "control", "slot": "random", "share": 50}, {"name": "better", "slot": "cvr0", "share": 50}],
})  # fmt: skip


def test_a_real_lift_ships_no_lift_stops_at_the_end_and_a_broken_split_is_invalid() -> None:
    _, ship = analysis.analyse(AB, _looks(4000, 0.15), 0.05, 0.001, final=False)
    assert ship[0].decision == analysis.SHIP and ship[0].primary_lift > 0.05 and ship[0].primary_pvalue <= 0.05
    rows, flat = analysis.analyse(AB, _looks(4000, 0.0, seed=1), 0.05, 0.001, final=True)
    assert flat[0].decision in (analysis.STOP, analysis.SHIP)
    assert flat[0].decision == analysis.STOP or flat[0].primary_pvalue <= 0.05
    _, running = analysis.analyse(AB, _looks(4000, 0.0, seed=1)[:3], 0.05, 0.001, final=False)
    assert running[0].decision == analysis.KEEP_RUNNING
    _, broken = analysis.analyse(AB, _looks(40_000, 0.0, days=2, seed=2, drop=0.05), 0.05, 0.001, final=False)
    assert broken[0].decision == analysis.INVALID and "sample ratio mismatch" in broken[0].reason
    assert rows[0].boundary > 5 and rows[-1].boundary < 2.1  # almost nothing is spent on day 1 of 7


def test_cuped_narrows_the_interval_and_the_sequential_interval_is_wider() -> None:
    looks = _looks(3000, 0.0, seed=3)
    rows, _ = analysis.analyse(AB, looks, 0.05, 0.001, final=False)
    plain = AB.model_copy(update={"pre_period_days": 0})
    no_pre = [(d, df.assign(pre_impressions=0, pre_clicks=0, pre_conversions=0)) for d, df in looks]
    rows_plain, _ = analysis.analyse(plain, no_pre, 0.05, 0.001, final=False)
    last, last_plain = rows[-1], rows_plain[-1]
    assert last.cuped and not last_plain.cuped
    assert (last.ci_upper - last.ci_lower) < 0.95 * (last_plain.ci_upper - last_plain.ci_lower)
    assert last.rci_lower < last.ci_lower and last.rci_upper > last.ci_upper
