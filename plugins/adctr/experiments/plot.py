"""The read-out's picture: each arm's lift over the looks, with its intervals, per metric.

One panel per metric; per arm the estimated relative lift against control at every look, the
repeated (sequential) interval as a band and the fixed-horizon interval as error bars, and,
where the source knows it (the simulator), the arm's true lift as a dashed line. PNG bytes
for the run summary.
"""

from __future__ import annotations

import io
from typing import Any


def lift_plot(experiment: dict[str, Any], truth: dict[str, dict[str, float]] | None = None) -> bytes:
    """`experiment`: one entry of the read-out report; `truth`: arm -> metric -> true lift."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    metrics = [experiment["primary_metric"], *experiment["guardrails"]]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.6), squeeze=False)
    arms = [a["name"] for a in experiment["arms"] if a["name"] != experiment["control"]]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics):
        for i, arm in enumerate(arms):
            rows = [r for r in experiment["results"] if r["arm"] == arm and r["metric"] == metric]
            if not rows:
                continue
            x = [r["look"] + 1 for r in rows]
            y = [100 * r["lift"] for r in rows]
            colour = colours[i % len(colours)]
            ax.errorbar(
                x, y, yerr=[[y_ - 100 * r["ci_lower"] for y_, r in zip(y, rows)], [100 * r["ci_upper"] - y_ for y_, r in zip(y, rows)]],
                fmt="o-", ms=3, capsize=2, color=colour, label=f"{arm} ({rows[0]['slot']})",
            )  # fmt: skip
            band = [(xx, 100 * r["rci_lower"], 100 * r["rci_upper"]) for xx, r in zip(x, rows) if r["rci_lower"] is not None]
            if band:
                ax.fill_between([b[0] for b in band], [b[1] for b in band], [b[2] for b in band], color=colour, alpha=0.15)
            true = (truth or {}).get(arm, {}).get(metric)
            if true is not None:
                ax.axhline(100 * true, color=colour, ls="--", lw=1)
        ax.axhline(0, color="black", lw=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{metric.upper()} lift vs {experiment['control']}" + (" (primary)" if metric == metrics[0] else ""))
        ax.set_xlabel("day of the experiment")
        ax.set_ylabel("lift, %")
        ax.legend(fontsize=8)
    fig.suptitle(experiment["id"], fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
