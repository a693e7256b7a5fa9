"""Are the experiment statistics right? Simulated experiments checked against the simulator's truth.

    python bench/abn_statistics.py [--seeds 200] [--ad-groups 800 4000] [--days 14] [--json out.json]

Each run is one seeded world of the project's simulator and one experiment on all its ad
groups, analysed by the product's code: units assigned by `adctr.experiments.assignment`
(hash buckets), a tracking id per unit and day (`tracking.Choice`), delivery drawn by the
simulator's `draw_submitted` (the same draw its report API serves), the units' organic
delivery before the start as CUPED's covariate, and `analysis.analyse` at every daily look.
The arms differ only by how they choose each unit's combination (`random`: a uniformly random
one; `best`: the one with the highest true CVR; `mix:q`: best with chance q); the simulator
knows every unit's true rates under every arm, so each arm's true CVR (expected conversions
over expected clicks if every unit got it) and the true lift are known.

Scenarios:
  aa        two arms with the same policy: how often the sequential test declares a
            difference over all daily looks (the false-positive rate; target 3-7% at 5%);
  ab        a random control against `mix:<q>`: how often the final look's interval covers the
            true lift (target >= 93%), and the power by day (share of runs crossed by then);
  srm       the simulator drops 5% of one arm's units: how often the decision is "invalid".
Numbers are printed per scenario and world size; bench/README.md keeps the measured ones.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from adctr.core import settings  # noqa: E402
from adctr.experiments import analysis, assignment, config, tracking  # noqa: E402
from adctr.simulator.assets import stream_seed  # noqa: E402
from adctr.simulator.faults import FaultRule  # noqa: E402
from adctr.simulator.submissions import Submission, creative_id_of, draw_submitted, submitted_truth  # noqa: E402
from adctr.simulator.world import World, world_from_config  # noqa: E402

MEDIUM, DEVICE = "yahoo_ads", "mobile"
START = date(2026, 3, 2)
PRE_DAYS = 7


@dataclass(frozen=True)
class Scenario:
    name: str
    arms: tuple[tuple[str, str, int], ...]  # (arm, policy, share)
    drop: tuple[str, float] | None = None  # (arm, share of its units the medium loses)


def scenarios(q: float) -> dict[str, Scenario]:
    return {
        "aa": Scenario("aa", (("control", "random", 50), ("same", "random", 50))),
        "ab": Scenario("ab", (("control", "random", 50), ("treatment", f"mix:{q}", 50))),
        "srm": Scenario("srm", (("control", "random", 50), ("treatment", "random", 50)), drop=("treatment", 0.05)),
    }


@functools.lru_cache(maxsize=64)
def make_world(seed: int, ad_groups: int) -> World:
    """A world of `ad_groups` ad groups (small asset libraries) for one seed (kept: the
    scenarios of a seed and size share it; nothing mutates a world)."""
    cfg = dict(settings.load_config("simulator"))
    cfg["seed"] = seed
    cfg["world"] = dict(
        cfg["world"], advertisers=max(1, ad_groups // 4), campaigns_per_advertiser=2, ad_groups_per_campaign=2,
        assets_per_ad_group={"headline": 3, "description": 2, "image": 2}, creatives_per_ad_group=1,
        history_days=120, horizon_days=90, creative_lifetime_days=60, start_date=(START - timedelta(days=30)).isoformat(),
    )  # fmt: skip
    return world_from_config(cfg)


def _choices(world: World, day: date, policy: str, salt: str) -> np.ndarray:
    """(ad groups, 3) asset indices each ad group submits under `policy` on `day`."""
    h, d, i, _, cvr = world.combination_arrays(day, MEDIUM, DEVICE)
    group = world.assets.group[h]
    n = len(world.group_ids)
    starts = np.searchsorted(group, np.arange(n))
    sizes = np.bincount(group, minlength=n)
    rng = np.random.default_rng(stream_seed(world.seed, "bench-pick", salt, day.isoformat()))
    pick = starts + (rng.random(n) * sizes).astype(int)  # uniformly random
    if policy != "random":
        best = starts + np.array([np.argmax(cvr[s : s + k]) for s, k in zip(starts, sizes)])
        q = 1.0 if policy == "best" else float(policy.split(":")[1])
        mix = np.random.default_rng(stream_seed(world.seed, "bench-mix", salt, day.isoformat()))
        pick = np.where(mix.random(n) < q, best, pick)
    return np.c_[h[pick], d[pick], i[pick]]


_ASSET_IDS: dict[int, list[str]] = {}


def _asset_ids(world: World) -> list[str]:
    if id(world) not in _ASSET_IDS:
        _ASSET_IDS.clear()
        _ASSET_IDS[id(world)] = world.asset_ids.to_pylist()
    return _ASSET_IDS[id(world)]


def _submissions(world: World, e: config.Experiment, day: date, combos: np.ndarray, arm_of: list[str], units: list[str]) -> list[Submission]:
    ids = _asset_ids(world)
    out = []
    for u, unit in enumerate(units):
        h, d, i = (ids[x] for x in combos[u])
        label = tracking.Choice(e.id, arm_of[u], e.arm(arm_of[u]).slot, None, None, None, day - timedelta(days=1), day,
                                unit, h, d, i).tracking_id  # fmt: skip
        out.append(Submission(label, unit, h, d, i, day, day, MEDIUM, creative_id_of(unit, label)))
    return out


def _truth(world: World, subs: list[Submission], day: date) -> tuple[float, float, float]:
    """Expected impressions, clicks and conversions of these creatives on `day`."""
    t = submitted_truth(world, subs, MEDIUM, day)
    clicks = t.expected_impressions * t.true_ctr
    return float(t.expected_impressions.sum()), float(clicks.sum()), float((clicks * t.true_cvr).sum())


def run(seed: int, ad_groups: int, days: int, scenario: Scenario) -> dict[str, Any]:
    world = make_world(seed, ad_groups)
    units = world.group_ids.to_pylist()
    arms = [{"name": a, "slot": "random" if k == 0 else f"cvr{k - 1}", "share": s} for k, (a, _, s) in enumerate(scenario.arms)]
    e = config.Experiment.model_validate({
        "id": f"bench-{seed}", "model": "cvr", "context": {"medium": MEDIUM, "device": DEVICE},
        "start": START, "end": START + timedelta(days=days - 1), "pre_period_days": PRE_DAYS,
        "primary_metric": "cvr", "guardrails": [], "arms": arms,
    })  # fmt: skip
    mapping = assignment.bucket_map({a["name"]: a["share"] for a in arms}, 1000)
    arm_of = [arm for _, _, arm in assignment.assign(units, e.hash_salt, mapping)]
    policy = {a: p for a, p, _ in scenario.arms}
    faults = []
    if scenario.drop:
        faults = [FaultRule(kind="drop_units", stream="delivery", label_prefix=tracking.arm_prefix(e.id, scenario.drop[0]),
                            share=scenario.drop[1])]  # fmt: skip
    index = {u: k for k, u in enumerate(units)}
    n = len(units)
    # the pre-period: each unit's organic delivery (all its creatives, every device)
    pre = np.zeros((n, 3))
    for k in range(PRE_DAYS):
        dd = world.draw(MEDIUM, START - timedelta(days=PRE_DAYS - k))
        g = world.creatives.group[dd.creative_index]
        final = dd.conversions_as_of(START + timedelta(days=30))
        for j, col in enumerate((dd.impressions, dd.clicks, final)):
            pre[:, j] += np.bincount(g, weights=col, minlength=n)
    cum = np.zeros((n, 3))
    delivered = np.zeros(n, bool)
    truth = {a: np.zeros(3) for a in policy}
    looks = []
    for k in range(days):
        day = START + timedelta(days=k)
        combos = {a: _choices(world, day, p, f"{seed}|{a}" if scenario.name != "aa" else str(seed)) for a, p in policy.items()}
        actual = np.stack([combos[arm_of[u]][u] for u in range(n)])
        subs = _submissions(world, e, day, actual, arm_of, units)
        draw = draw_submitted(world, subs, MEDIUM, day, faults=faults)
        unit = np.array([index[s.ad_group_id] for s in draw.submissions])[draw.submission_index]
        final = draw.conversions_as_of(day + timedelta(days=30))
        for j, col in enumerate((draw.impressions, draw.clicks, final)):
            cum[:, j] += np.bincount(unit, weights=col, minlength=n)
        delivered[np.unique(unit)] = True
        for a in policy if scenario.drop is None else ():  # every unit under every arm: the arms' true rates
            truth[a] += _truth(world, _submissions(world, e, day, combos[a], [a] * n, units), day)
        rows = pd.DataFrame({
            "unit_id": units, "arm": arm_of, "impressions": cum[:, 0], "clicks": cum[:, 1], "conversions": cum[:, 2],
            "pre_impressions": pre[:, 0], "pre_clicks": pre[:, 1], "pre_conversions": pre[:, 2],
        })[delivered].reset_index(drop=True)  # fmt: skip
        looks.append((day, rows))
    t0 = time.monotonic()
    results, decisions = analysis.analyse(e, looks, 0.05, 0.001, final=True)
    control = scenario.arms[0][0]
    treatment = scenario.arms[1][0]
    true_cvr = {a: v[2] / v[1] if v[1] else np.nan for a, v in truth.items()}
    true_lift = true_cvr[treatment] / true_cvr[control] - 1  # nan where not computed (srm)
    mine = [r for r in results if r.arm == treatment and r.metric == "cvr"]
    crossed = np.maximum.accumulate([r.boundary is not None and abs(r.z) >= r.boundary for r in mine])
    last = mine[-1]
    return {
        "seed": seed, "ad_groups": ad_groups, "scenario": scenario.name, "true_lift": true_lift,
        "lift": last.lift, "covered": last.ci_lower <= true_lift <= last.ci_upper,
        "rci_covered": last.rci_lower <= true_lift <= last.rci_upper, "crossed_by_day": [bool(x) for x in crossed],
        "naive_by_day": [bool(x) for x in np.maximum.accumulate([abs(r.z) >= 1.959964 for r in mine])],
        "decision": decisions[0].decision, "pvalue": decisions[0].primary_pvalue, "srm_pvalue": decisions[0].srm_pvalue,
        "units": (last.control_units, last.treatment_units), "analysis_seconds": time.monotonic() - t0,
    }  # fmt: skip


def _one(args: tuple[int, int, int, Scenario]) -> dict[str, Any]:
    return run(*args)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(runs)
    crossed = np.array([r["crossed_by_day"] for r in runs])
    rejected = np.mean([r["pvalue"] <= 0.05 for r in runs])
    return {
        "runs": n,
        "rejected": float(rejected),
        "rejected_se": float(np.sqrt(rejected * (1 - rejected) / n)),
        "coverage": float(np.mean([r["covered"] for r in runs])),
        "rci_coverage": float(np.mean([r["rci_covered"] for r in runs])),
        "power_by_day": [float(x) for x in crossed.mean(axis=0)],
        "naive_rejected": float(np.mean([r["naive_by_day"][-1] for r in runs])),
        "invalid": float(np.mean([r["decision"] == analysis.INVALID for r in runs])),
        "true_lift_mean": float(np.mean([r["true_lift"] for r in runs])),
        "lift_mean": float(np.mean([r["lift"] for r in runs])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--ad-groups", type=int, nargs="+", default=[800, 4000])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--scenarios", nargs="+", default=["aa", "ab", "srm"])
    parser.add_argument("--srm-seeds", type=int, default=10)
    parser.add_argument("--srm-ad-groups", type=int, nargs="+", default=[40_000, 60_000])
    parser.add_argument("--mix", type=float, default=0.15, help="the ab treatment's chance of the best combination")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    out: dict[str, Any] = {}
    plan = scenarios(args.mix)
    with ProcessPoolExecutor(args.workers) as pool:
        for name in args.scenarios:
            sizes, seeds = (args.srm_ad_groups, args.srm_seeds) if name == "srm" else (args.ad_groups, args.seeds)
            days = 3 if name == "srm" else args.days
            for size in sizes:
                t = time.monotonic()
                runs = list(pool.map(_one, [(seed, size, days, plan[name]) for seed in range(1, seeds + 1)]))
                s = summarise(runs) | {"seconds": time.monotonic() - t, "days": days}
                out[f"{name}/{size}"] = s
                print(f"{name} ad_groups={size} days={days} runs={s['runs']}: rejected {s['rejected']:.1%} "
                      f"(p < 0.05 at some daily look without the sequential design: {s['naive_rejected']:.1%}) "
                      f"(se {s['rejected_se']:.1%}), coverage {s['coverage']:.1%} (sequential {s['rci_coverage']:.1%}), "
                      f"invalid {s['invalid']:.1%}, true lift {s['true_lift_mean']:+.2%} (estimated {s['lift_mean']:+.2%}), "
                      f"power by day {[round(p, 2) for p in s['power_by_day']]} [{s['seconds']:.0f}s]", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
