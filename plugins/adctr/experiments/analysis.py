"""The analysis of one experiment: every arm against control, at every daily look.

Per look, the input is one row per unit that delivered (the warehouse's
`experiments.unit_totals`: cumulative impressions, clicks, conversions through the look's
day, and the same counts from the unit's pre-period). tea-tasting does the statistics it has:
`RatioOfMeans` (CTR = clicks / impressions, CVR = conversions / clicks, as ratios of unit
means with the delta method, CUPED-adjusted with the pre-period ratio as covariate) and
`SampleRatio` (units per arm against the configured shares); Holm's step-down adjustment over
the arms is its `adjust_fwer`. What it lacks is sequential testing: `sequential` adds the
group-sequential boundaries for daily looks, the repeated confidence intervals and the
sequential p-value, on the variance tea-tasting computed.

The decision per arm at the latest look (docs/experiments.md):
  invalid   the sample ratio is off (SRM p < srm_alpha): delivery lost or duplicated units,
            no other number of this arm can be trusted;
  ship      the primary metric is better, significantly after the sequential and multi-arm
            corrections, and no guardrail is significantly worse;
  stop      the primary metric or a guardrail is significantly worse, or the experiment has
            ended with final data and no significant result;
  keep running   otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import pandas as pd
from scipy import stats

from adctr.experiments import sequential
from adctr.experiments.config import METRIC_COLUMNS, Experiment

KEEP_RUNNING, SHIP, STOP, INVALID = "keep running", "ship", "stop", "invalid"
UNIT_COLUMNS = ("unit_id", "arm", "impressions", "clicks", "conversions",
                "pre_impressions", "pre_clicks", "pre_conversions")  # fmt: skip


@dataclass(frozen=True)
class ArmLook:
    """One arm against control on one metric at one look."""

    look_date: date
    look: int  # 0-based serving day of the experiment
    arm: str
    slot: str
    metric: str
    control_units: int
    treatment_units: int
    control_value: float
    treatment_value: float
    lift: float  # relative: treatment / control - 1 (CUPED-adjusted means)
    ci_lower: float  # fixed-horizon 1 - alpha interval of the lift (delta method)
    ci_upper: float
    rci_lower: float | None  # repeated (sequential) interval: valid at every look
    rci_upper: float | None
    z: float
    boundary: float | None  # None: nothing spent yet, cannot cross
    cuped: bool  # the pre-period covariate was used
    srm_pvalue: float


@dataclass(frozen=True)
class Decision:
    arm: str
    slot: str
    decision: str
    reason: str
    primary_lift: float
    primary_pvalue: float  # sequential, Holm-adjusted over the arms
    srm_pvalue: float


def _metric(metric: str, cuped: bool) -> Any:
    import tea_tasting as tt

    numer, denom = METRIC_COLUMNS[metric]
    if cuped:
        return tt.RatioOfMeans(numer, denom, f"pre_{numer}", f"pre_{denom}", use_t=False, equal_var=False)
    return tt.RatioOfMeans(numer, denom, use_t=False, equal_var=False)


def _can_use_covariate(data: pd.DataFrame, metric: str) -> bool:
    """CUPED needs a pre-period denominator in both arms (else its mean is 0/0) that varies."""
    _, denom = METRIC_COLUMNS[metric]
    pre = data.groupby("arm")[f"pre_{denom}"].sum()
    return len(pre) == 2 and bool((pre > 0).all())


def _pair(data: pd.DataFrame, control: str, arm: str, ratio: float, metrics: list[str], alpha: float) -> dict[str, Any]:
    """tea-tasting's results for one treatment arm against control."""
    import tea_tasting as tt

    pair = data[data["arm"].isin([control, arm])]
    counts = pair["arm"].value_counts()
    both = bool(counts.get(control, 0) and counts.get(arm, 0))
    units = (int(counts.get(control, 0)), int(counts.get(arm, 0)))
    if not both:  # a whole arm missing: a sample ratio mismatch, nothing else to compute
        return {"srm": 0.0 if counts.sum() else 1.0, "units": units, **dict.fromkeys(metrics)}
    cuped = {m: _can_use_covariate(pair, m) for m in metrics}
    spec: dict[str, Any] = {m: _metric(m, cuped[m]) for m in metrics}
    spec["sample_ratio"] = tt.SampleRatio(ratio)
    with tt.config_context(confidence_level=1 - alpha):
        result = tt.Experiment(spec, variant="arm").analyze(pair, control=control)
    out: dict[str, Any] = {m: (result[m], cuped[m]) for m in metrics}
    out["srm"] = float(result["sample_ratio"].pvalue)
    out["units"] = units
    return out


def analyse(
    experiment: Experiment,
    looks: list[tuple[date, pd.DataFrame]],
    alpha: float,
    srm_alpha: float,
    final: bool,
) -> tuple[list[ArmLook], list[Decision]]:
    """Every look of every arm and metric, and the decision per arm at the last look.

    `looks`: (look day, unit rows through that day) in day order, each a serving day of the
    experiment; `final`: the experiment has ended and its data will not be restated again.
    """
    control = experiment.control_arm
    assert control is not None  # validated on load
    shares = {a.name: a.share for a in experiment.arms}
    planned = (experiment.end - experiment.start).days + 1
    z_q = stats.norm.isf(alpha / 2)
    pending: list[dict[str, Any]] = []
    decisions: list[Decision] = []
    # (arm, metric) -> [(look, z, information)], for the boundaries and the sequential p-value
    series: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    last: dict[str, dict[str, Any]] = {}
    for look_date, data in looks:
        missing = [c for c in UNIT_COLUMNS if c not in data.columns]
        if missing:
            raise ValueError(f"unit rows lack columns {missing}")
        k = (look_date - experiment.start).days
        for arm in (a for a in experiment.arms if a.name != control):
            res = _pair(data, control, arm.name, shares[arm.name] / shares[control], experiment.metrics, alpha)
            last[arm.name] = res
            for metric in experiment.metrics:
                if res[metric] is None:
                    continue
                r, cuped = res[metric]
                scale = (r.effect_size_ci_upper - r.effect_size_ci_lower) / (2 * z_q)
                ok = scale > 0 and math.isfinite(scale)
                z, info = (r.effect_size / scale, 1 / scale**2) if ok else (0.0, 0.0)
                series.setdefault((arm.name, metric), []).append((k, z, info))
                ratio = 1 + r.rel_effect_size
                log_scale = math.log((1 + r.rel_effect_size_ci_upper) / ratio) / z_q if ratio > 0 else math.inf
                pending.append(dict(
                    look_date=look_date, look=k, arm=arm.name, slot=arm.slot, metric=metric,
                    control_units=res["units"][0], treatment_units=res["units"][1],
                    control_value=float(r.control), treatment_value=float(r.treatment), lift=float(r.rel_effect_size),
                    ci_lower=float(r.rel_effect_size_ci_lower), ci_upper=float(r.rel_effect_size_ci_upper),
                    z=float(z), cuped=cuped, srm_pvalue=res["srm"], _ratio=ratio, _log_scale=log_scale,
                ))  # fmt: skip
    if not looks:
        return [], decisions
    bounds = {
        key: dict(zip((k for k, _, _ in h), sequential.boundaries([i for _, _, i in h], _fractions(h, planned), alpha)))
        for key, h in series.items()
    }
    rows = []
    for p in pending:
        c = bounds[(p["arm"], p["metric"])][p["look"]]
        ratio, log_scale = p.pop("_ratio"), p.pop("_log_scale")
        finite = math.isfinite(c) and math.isfinite(log_scale)
        rows.append(ArmLook(
            **p, boundary=c if math.isfinite(c) else None,
            rci_lower=ratio * math.exp(-c * log_scale) - 1 if finite else None,
            rci_upper=ratio * math.exp(c * log_scale) - 1 if finite else None,
        ))  # fmt: skip
    pvalues = _adjusted_pvalues(experiment, series, planned)
    for arm in (a for a in experiment.arms if a.name != control):
        decisions.append(_decide(experiment, arm.name, arm.slot, last[arm.name], pvalues, alpha, srm_alpha, final))
    return rows, decisions


def _fractions(history: list[tuple[int, float, float]], planned: int) -> list[float]:
    """The spending clock of the looks: serving days seen over serving days planned."""
    return [min(1.0, (k + 1) / planned) for k, _, _ in history]


def _adjusted_pvalues(
    experiment: Experiment, series: dict[tuple[str, str], list[tuple[int, float, float]]], planned: int
) -> dict[tuple[str, str], float]:
    """Sequential p-value per (arm, metric) at the last look, Holm-adjusted over the arms."""
    import tea_tasting as tt
    from tea_tasting.experiment import ExperimentResult

    raw = {key: 1.0 for key in ((a.name, m) for a in experiment.arms for m in experiment.metrics)} | {
        key: sequential.sequential_pvalue([z for _, z, _ in h], [i for _, _, i in h], _fractions(h, planned))
        for key, h in series.items()
    }
    out: dict[tuple[str, str], float] = {}
    arms = [a.name for a in experiment.arms if a.name != experiment.control_arm]
    for metric in experiment.metrics:
        results = {arm: ExperimentResult({metric: {"pvalue": raw[(arm, metric)]}}) for arm in arms}
        adjusted = tt.adjust_fwer(results, metric, arbitrary_dependence=True, method="bonferroni")
        for arm in arms:
            out[(arm, metric)] = float(adjusted[arm][metric]["pvalue_adj"])
    return out


def _decide(
    experiment: Experiment, arm: str, slot: str, res: dict[str, Any], pvalues: dict[tuple[str, str], float],
    alpha: float, srm_alpha: float, final: bool,
) -> Decision:  # fmt: skip
    primary = experiment.primary_metric
    lift = float(res[primary][0].rel_effect_size) if res[primary] is not None else math.nan
    p = pvalues[(arm, primary)]
    srm = res["srm"]

    def made(decision: str, reason: str) -> Decision:
        return Decision(arm, slot, decision, reason, lift, p, srm)

    if srm < srm_alpha:
        c, t = res["units"]
        return made(INVALID, f"sample ratio mismatch: {c} control vs {t} {arm} units (p = {srm:.2g} < {srm_alpha})")
    worse = [m for m in experiment.guardrails if pvalues[(arm, m)] <= alpha and res[m] and res[m][0].rel_effect_size < 0]
    if p <= alpha and lift < 0:
        return made(STOP, f"{primary} is significantly worse ({lift:+.1%}, p = {p:.3g})")
    if worse:
        return made(STOP, f"guardrail {', '.join(worse)} is significantly worse")
    if p <= alpha:
        return made(SHIP, f"{primary} is significantly better ({lift:+.1%}, p = {p:.3g}) and no guardrail is worse")
    if final:
        return made(STOP, f"ended with final data and no significant {primary} difference ({lift:+.1%}, p = {p:.3g})")
    return made(KEEP_RUNNING, f"{primary} {lift:+.1%}, sequential p = {p:.3g} > {alpha}")


def as_records(items: list[Any]) -> list[dict[str, Any]]:
    return [asdict(x) for x in items]
