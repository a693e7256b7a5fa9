"""Sequential testing for daily looks: a group-sequential design with alpha spending.

Reading an experiment every day and stopping at the first p < 0.05 inflates the false-positive
rate several-fold. Each look here spends part of alpha by the Lan-DeMets O'Brien-Fleming-type
function (alpha/2 a side: 2 - 2 Phi(z_{1-alpha/4} / sqrt(t)) each), t being the share of the experiment's
planned serving days seen, and the look's two-sided boundary c_k solves

    P_0(no crossing before look k, |Z_k| >= c_k) = alpha(t_k) - alpha(t_{k-1})

under the joint law of the looks' z-statistics (correlation sqrt(I_j / I_k) from the observed
information I = 1 / variance), by recursive numerical integration (Jennison & Turnbull,
Group Sequential Methods, ch. 19). So the chance of ever crossing over all planned daily looks
is alpha, not more (mSPRT's always-valid p-values would also be valid for looks at any
moment, at the price of ~1% false positives at a nominal 5% over two weeks of daily looks:
too conservative for daily reading).

Outputs: the boundary of every look, and the sequential p-value of the latest look: the
smallest alpha at which this design would have crossed a boundary by then. It is valid for
the planned looks (P(p <= a) <= a for every a), never increases from one look to the next, and
is <= alpha exactly when a boundary was crossed; Holm's adjustment over several arms then keeps
the family-wise error rate. The repeated confidence interval estimate +- c_k se covers the
true effect at all looks at once with probability 1 - alpha.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, special

GRID = 401  # Simpson points over the continuation region (boundaries to ~1e-6)
Z_MAX = 8.5  # a boundary beyond this is "cannot cross yet" (alpha spent so far < 1e-16)


def obf_spending(t: float, alpha: float) -> float:
    """Two-sided alpha spent by information fraction t (Lan-DeMets, O'Brien-Fleming type, alpha/2
    on each side: 2 x (2 - 2 Phi(z_{1-alpha/4} / sqrt(t))))."""
    if t <= 0:
        return 0.0
    t = min(t, 1.0)
    return float(4 * special.ndtr(special.ndtri(alpha / 4) / math.sqrt(t)))


def _pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _grid(c: float) -> tuple[np.ndarray, np.ndarray]:
    """Points and Simpson weights over (-c, c)."""
    z = np.linspace(-c, c, GRID)
    w = np.full(GRID, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    return z, w * (z[1] - z[0]) / 3


def boundaries(information: Sequence[float], fractions: Sequence[float], alpha: float) -> list[float]:
    """Two-sided |Z| boundary of each look (inf: nothing to spend yet), for looks with these
    observed informations (1 / variance of the estimate; made non-decreasing) and information
    fractions (the spending clock in (0, 1], non-decreasing)."""
    info = np.maximum.accumulate(np.maximum(np.asarray(information, float), 1e-300))
    out: list[float] = []
    spent = 0.0
    z_prev = w_prev = f_prev = None  # the continuation sub-density of Z at the previous look
    m = s = 1.0
    for k, t_k in enumerate(fractions):
        increment = max(0.0, obf_spending(t_k, alpha) - spent)
        if k == 0:
            def tail(c: float) -> float:
                return float(2 * special.ndtr(-c))
        else:
            m = math.sqrt(info[k - 1] / info[k]) if info[k] > info[k - 1] else 1.0 - 1e-9
            s = math.sqrt(max(1e-12, 1 - m * m))

            def tail(c: float, m: float = m, s: float = s) -> float:
                mass = special.ndtr((m * z_prev - c) / s) + special.ndtr((-c - m * z_prev) / s)
                return float(np.sum(w_prev * f_prev * mass))

        if increment <= 1e-16 or tail(Z_MAX) >= increment:
            c = math.inf
        elif tail(1e-6) <= increment:  # alpha near 1: everything crosses
            c = 1e-6
            spent += increment
        else:
            c = float(optimize.brentq(lambda x: tail(x) - increment, 1e-6, Z_MAX, xtol=1e-9))
            spent += increment
        out.append(c)
        z_new, w_new = _grid(min(c, Z_MAX))
        if k == 0:
            f_new = _pdf(z_new)
        else:
            f_new = (_pdf((z_new[:, None] - m * z_prev[None, :]) / s) / s) @ (w_prev * f_prev)
        z_prev, w_prev, f_prev = z_new, w_new, f_new
    return out


def first_crossing(z_values: Sequence[float], bounds: Sequence[float]) -> int | None:
    """The first look (0-based) whose |Z| reached its boundary, if any."""
    return next((k for k, (z, c) in enumerate(zip(z_values, bounds)) if abs(z) >= c), None)


def sequential_pvalue(
    z_values: Sequence[float], information: Sequence[float], fractions: Sequence[float], tol: float = 1e-3
) -> float:
    """The smallest alpha whose design crossed a boundary by the last of these looks."""
    if not len(z_values) or not all(math.isfinite(z) for z in z_values):
        return 1.0

    def crossed(a: float) -> bool:
        return first_crossing(z_values, boundaries(information, fractions, a)) is not None

    hi = 1.0 - 1e-9
    if not crossed(hi):
        return 1.0
    lo = 1e-12
    if crossed(lo):
        return lo
    while math.log(hi / lo) > tol:  # bisection on log alpha: crossing grows with alpha
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if crossed(mid) else (mid, hi)
    return hi
