"""Champion/challenger gate: always returns a decision with its reasons (TFX-style blessing)."""

from __future__ import annotations

from typing import Any

from adctr.core.errors import PermanentError


class GateError(PermanentError, ValueError):
    """A publish request the gate's rules do not allow (e.g. forced without a reason)."""


def decide(
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    baseline_log_loss: float,
    gate: dict[str, Any],
) -> dict[str, Any]:
    """Bless the candidate only if it is not worse than the champion beyond tolerances.

    `candidate` / `champion` are overall holdout metrics on the *same* holdout rows.
    Without a champion, the candidate must beat the base-rate model instead.
    """
    reasons: list[str] = []
    lo, hi = (float(x) for x in gate["calibration_bounds"])
    calib = float(candidate["calibration"])
    if not lo <= calib <= hi:
        reasons.append(f"calibration {calib:.3f} outside [{lo}, {hi}]")
    ll = float(candidate["log_loss"])
    if champion is None:
        if ll >= baseline_log_loss:
            reasons.append(f"log loss {ll:.5f} not below the base-rate model's {baseline_log_loss:.5f}")
    else:
        limit = float(champion["log_loss"]) * (1 + float(gate["max_logloss_regression"]))
        if ll > limit:
            reasons.append(
                f"log loss {ll:.5f} worse than champion {champion['log_loss']:.5f} beyond "
                f"tolerance (limit {limit:.5f})"
            )
    return {
        "blessed": not reasons,
        "reasons": reasons or ["passed all gate checks"],
        "compared_to": "champion" if champion is not None else "base_rate",
        "gate": gate,
    }
