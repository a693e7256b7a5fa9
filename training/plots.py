"""PNG plots saved with every model: the calibration curve and the feature importance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adctr.release.artifacts import PLOT_FILES

CALIBRATION_PNG, IMPORTANCE_PNG = PLOT_FILES


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt

    return plt


def calibration_curve(reliability: list[dict[str, float]], title: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    xs = [b["predicted_rate"] for b in reliability]
    ys = [b["observed_rate"] for b in reliability]
    top = max(xs + ys + [1e-6]) * 1.05
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    ax.plot(xs, ys, marker="o", label="holdout (bins of equal trials)")
    ax.set(xlabel="predicted rate", ylabel="observed rate", title=title, xlim=(0, top), ylim=(0, top))
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})  # no version stamp: same data, same bytes
    plt.close(fig)
    return path


def feature_importance(names: list[str], gains: list[float], title: str, path: Path) -> Path:
    plt = _pyplot()
    pairs = sorted(zip(gains, names))[-20:]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(pairs) + 1.2), dpi=100)
    ax.barh([n for _, n in pairs], [g for g, _ in pairs])
    ax.set(xlabel="total gain", title=title)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path
