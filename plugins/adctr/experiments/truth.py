"""Each arm's true CTR and CVR, from a source that knows them (the simulator's answer key).

The simulator reports, per submitted creative and device and day, the expected impressions
and the true rates. An arm's true CTR is the expected clicks over the expected impressions of
its units' creatives, its true CVR the expected conversions over the expected clicks: the
ratios of means the analysis estimates, without the noise. So the read-out can show, next to
each estimated lift, the lift the arm really had. Real media have no answer key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def arm_rates(truth_rows: Iterable[dict[str, Any]], arm_of_label: dict[str, str]) -> dict[str, dict[str, float]]:
    """arm -> {"ctr", "cvr"} from truth rows (label, expected_impressions, true_ctr, true_cvr)."""
    sums: dict[str, list[float]] = {}
    for r in truth_rows:
        arm = arm_of_label.get(r["label"])
        if arm is None:
            continue
        imps = float(r["expected_impressions"])
        clicks = imps * float(r["true_ctr"])
        s = sums.setdefault(arm, [0.0, 0.0, 0.0])
        s[0] += imps
        s[1] += clicks
        s[2] += clicks * float(r["true_cvr"])
    return {arm: {"ctr": c / i if i else float("nan"), "cvr": v / c if c else float("nan")} for arm, (i, c, v) in sums.items()}


def true_lifts(rates: dict[str, dict[str, float]], control: str) -> dict[str, dict[str, float]]:
    """arm -> metric -> the arm's true relative lift against control."""
    base = rates.get(control)
    if not base:
        return {}
    return {
        arm: {m: r[m] / base[m] - 1 for m in ("ctr", "cvr") if base[m]}
        for arm, r in rates.items()
        if arm != control
    }
