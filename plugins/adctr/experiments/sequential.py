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
from typing import Any

import numpy as np
from scipy import optimize, special

GRID = 300  # cells over the continuation region (boundaries within 3e-4 of the exact ones)
Z_MAX = 8.5  # a boundary beyond this is "cannot cross yet" (alpha spent so far < 1e-16)


def obf_spending(t: float, alpha: float) -> float:
    """Two-sided alpha spent by information fraction t (Lan-DeMets, O'Brien-Fleming type, alpha/2
    on each side: 2 x (2 - 2 Phi(z_{1-alpha/4} / sqrt(t))))."""
    if t <= 0:
        return 0.0
    t = min(t, 1.0)
    return float(4 * special.ndtr(special.ndtri(alpha / 4) / math.sqrt(t)))


def _g(u: np.ndarray | float) -> np.ndarray:
    """G(u) = u Phi(u) + phi(u): the antiderivative of Phi, for exact cell integrals."""
    u = np.asarray(u, float)
    return u * special.ndtr(u) + np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)


def _cells(c: float) -> tuple[np.ndarray, np.ndarray]:
    """Left and right edges of GRID equal cells over (-c, c)."""
    edges = np.linspace(-c, c, GRID + 1)
    return edges[:-1], edges[1:]


def boundaries(information: Sequence[float], fractions: Sequence[float], alpha: float) -> list[float]:
    """Two-sided |Z| boundary of each look (inf: nothing to spend yet), for looks with these
    observed informations (1 / variance of the estimate; made non-decreasing) and information
    fractions (the spending clock in (0, 1], non-decreasing).

    The continuation law of Z is kept as probability masses on cells (uniform within a cell),
    and moved to the next look with the exact integral of the Gaussian transition over each
    cell (via the antiderivative of Phi), so looks whose information barely grew (unit
    heterogeneity dominates the variance, and a new day adds little) keep every bit of mass.
    """
    info = np.maximum.accumulate(np.maximum(np.asarray(information, float), 1e-300))
    out: list[float] = []
    spent = 0.0
    lo = hi = mass = None  # cells and masses of the continuation region at the previous look
    for k, t_k in enumerate(fractions):
        increment = max(0.0, obf_spending(t_k, alpha) - spent)
        if k == 0:
            def tail(c: float) -> float:
                return float(2 * special.ndtr(-c))
        else:
            m = math.sqrt(info[k - 1] / info[k])
            s = max(1e-9, math.sqrt(max(0.0, 1 - m * m)))
            width = hi - lo
            scale = s / (m * width)

            def cross(c: float, m: float = m, s: float = s, scale: np.ndarray = scale) -> np.ndarray:
                up = _g((m * hi - c) / s) - _g((m * lo - c) / s)
                down = _g((-c - m * lo) / s) - _g((-c - m * hi) / s)
                return scale * (up + down)

            def tail(c: float, cross: Any = cross) -> float:
                return float(np.sum(mass * cross(c)))

        if increment <= 1e-16 or tail(Z_MAX) >= increment:
            c = math.inf
        elif tail(1e-6) <= increment:  # alpha near 1: everything crosses
            c = 1e-6
            spent += increment
        else:
            c = float(optimize.brentq(lambda x: tail(x) - increment, 1e-6, Z_MAX, xtol=1e-9))
            spent += increment
        out.append(c)
        new_lo, new_hi = _cells(min(c, Z_MAX))
        if k == 0:
            new_mass = special.ndtr(new_hi) - special.ndtr(new_lo)
        else:
            # mass from old cell j (x uniform on [lo_j, hi_j]) into new cell i ([y_i, y_i+1]),
            # from G at every (new edge, old edge) pair
            new_edges = np.r_[new_lo, new_hi[-1]]
            old_edges = np.r_[lo, hi[-1]]
            g = _g((new_edges[:, None] - m * old_edges[None, :]) / s)
            moved = g[1:, :-1] - g[1:, 1:] - g[:-1, :-1] + g[:-1, 1:]
            new_mass = (scale * moved) @ mass
        lo, hi, mass = new_lo, new_hi, new_mass
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
