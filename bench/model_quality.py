"""Model quality against the truth: holdout log loss of the trained CTR and CVR models next to
the base-rate model and the Bayes-optimal model (the simulator's true probabilities), and an
ablation ladder of feature sets, overall and per creative segment.

    python bench/model_quality.py [--end 2026-11-20] [--window 28] [--profile bench]
        [--seed 11] [--world ad_groups_per_campaign=10 ...] [--holdout-days 7]

Builds a throwaway DuckDB from the simulator's world (final reports and the day's asset
library, no HTTP), runs every SQL model for each day (with enough history before the window
for the trailing features), trains through training's own code (plan_examples, trainer.fit)
and reports for each model the share of the gap from base rate to Bayes-optimal it closes.

The ladder trains the same split with growing feature sets (config/models.yaml
`exclude_features`): no history (static attributes and age) -> + creative history -> + asset
history (headline, description, image, headline x image pair) -> all (+ ad group and
advertiser history). Segments of the holdout, by the creative's launch date in the asset
library (staging.creative_assets): `established` launched before the first day of the
examples window, `new` on or after it; `new_after_training` (part of `new`) launched after
the training split's last day, so no training row has its history; `new_ad_group` (part of
`new`) is a creative of an ad group whose first creative launched on or after the window's first
day (a world with `new_ad_group_share`): only its advertiser's history speaks for it.

World, seed and sizes come from config/simulator.yaml (`--profile` picks a `profiles:` entry,
`--seed` and `--world KEY=VALUE` override it for this run only).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

FEATURE_WARMUP_DAYS = 28  # the longest trailing window of features.creative_daily
# (rung, levels whose trailing statistics it uses): each rung adds levels to the one before.
ASSET_LEVELS = ("headline_asset", "description_asset", "image_asset", "headline_image")
LADDER = (
    ("no history", ()),
    ("+ creative history", ("creative",)),
    ("+ asset history", ("creative", *ASSET_LEVELS)),
    ("all", ("creative", *ASSET_LEVELS, "ad_group", "advertiser")),
)
# Resamples of the cluster bootstrap of each rung's gain (ad groups drawn with replacement).
BOOTSTRAP_RESAMPLES = 2000
SEGMENTS = ("overall", "established", "new", "new_after_training", "new_ad_group")


def final_raw(state: Any, day: date, media: list[str]) -> Any:
    """Raw partition for `day` as a final report (the attribution window has closed)."""
    import pyarrow as pa
    from adctr.core import settings
    from adctr.core.table_schemas import get_schema
    from adctr.ingestion.adapters.base import Report
    from adctr.ingestion.normalize import normalize_report
    from adctr.simulator.reports import report_table

    tables = []
    for medium in media:
        table = report_table(state.world, medium, day, day, state.world.final_day(day))
        normalized = normalize_report(
            Report(medium, day, f"{medium}-{day}", table), get_schema("raw.ad_performance"),
            get_schema("raw.ad_performance_quarantine"), sorted(settings.load_config("currencies")["jpy_per_unit"]),
            datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc),
        )  # fmt: skip
        tables.append(normalized.accepted)
    return pa.concat_tables(tables)


def _raw_library():  # noqa: ANN202
    path = Path(__file__).with_name("raw_library.py")
    spec = importlib.util.spec_from_file_location("raw_library", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def simulator_config(seed: int | None = None, world: dict[str, Any] | None = None) -> dict[str, Any]:
    """config/simulator.yaml with this run's seed and `world:` overrides (applied over the
    profile too: they go into every profile the run may pick)."""
    from adctr.core import settings

    config = copy.deepcopy(settings.load_config("simulator"))
    if seed is not None:
        config["seed"] = int(seed)
    if world:
        config["world"] = {**(config.get("world") or {}), **world}
        config["profiles"] = {name: {**(p or {}), **world} for name, p in (config.get("profiles") or {}).items()}
    return config


def build_warehouse(
    path: Path, end: date, window: int, attribution: int, *, profile: str | None = None,
    seed: int | None = None, world: dict[str, Any] | None = None,
) -> Any:  # fmt: skip
    from adctr.core.table_schemas import get_schema
    from adctr.ingestion.raw_load import configured_media
    from adctr.simulator.state import state_from_config
    from adctr.warehouse import elt
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    config = simulator_config(seed, world)
    state = state_from_config(config, today=end + timedelta(days=1), profile=profile)
    library = _raw_library()
    wh = DuckDBWarehouse(path)
    media = list(configured_media())
    daily = elt.sql_models_for_dag("ad_performance_daily")
    span = window + attribution + FEATURE_WARMUP_DAYS
    for i in range(span - 1, -1, -1):
        day = end - timedelta(days=i)
        wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), day, final_raw(state, day, media))
        pulled = day + timedelta(days=1)  # the daily DAG pulls the library the day after
        assets, creatives = state.world.asset_table(pulled), state.world.creative_table(pulled)
        library.load_library_day(wh, day, assets, creatives, pulled)
        for model in daily:
            elt.build(model.table_id, day, wh)
    for model in elt.sql_models_for_dag("ctr_cvr_retrain"):
        elt.build(model.table_id, end, wh, params={"window_days": window})
    return wh, state


def truth(state: Any, frame: pd.DataFrame, column: str) -> np.ndarray:
    """The true probability of every row (report_date, medium, creative_id, device)."""
    keys = frame[["report_date", "medium"]].drop_duplicates()
    parts = [
        state.world.ground_truth(medium, pd.Timestamp(day).date()).to_pandas()
        for day, medium in keys.itertuples(index=False)
    ]
    table = pd.concat(parts)
    table["report_date"] = pd.to_datetime(table["report_date"]).dt.date
    left = frame.assign(report_date=pd.to_datetime(frame["report_date"]).dt.date)
    merged = left.merge(table, on=["report_date", "medium", "creative_id", "device"], how="left", validate="m:1")
    if merged[column].isna().any():
        raise RuntimeError(f"{int(merged[column].isna().sum())} holdout rows have no ground truth")
    return merged[column].to_numpy()


def measure(wh: Any, state: Any, end: date, models: tuple[str, ...] = ("ctr", "cvr")) -> dict[str, Any]:
    """Train each model on the warehouse's examples for `end`; its holdout log loss next to
    the base-rate and Bayes-optimal ones."""
    from training import metrics
    from training.config import model_config
    from training.dataset import plan_examples
    from training.evaluate import base_rate_log_loss
    from training.trainer import fit

    result: dict[str, Any] = {}
    for model in models:
        cfg = model_config(model)
        num, den = cfg["label_numerator"], cfg["label_denominator"]
        examples = plan_examples(wh, cfg, end)
        holdout = examples.frame("holdout")
        fitted, info = fit(examples, cfg)
        k = holdout[num].to_numpy(dtype=float)
        n = holdout[den].to_numpy(dtype=float)
        model_ll = metrics.log_loss(fitted.predict(holdout), k, n)
        base_ll = base_rate_log_loss(examples.base_rate("train"), holdout, num, den)
        bayes_ll = metrics.log_loss(truth(state, holdout, f"true_{model}"), k, n)
        result[model] = {
            "train_rows": info["train_rows"], "holdout_rows": len(holdout),
            "holdout_trials": float(n.sum()), "best_iteration": info["best_iteration"],
            "log_loss": round(model_ll, 6), "base_rate_log_loss": round(base_ll, 6),
            "bayes_optimal_log_loss": round(bayes_ll, 6),
            "gap_closed": round((base_ll - model_ll) / (base_ll - bayes_ll), 4),
        }  # fmt: skip
    return result


def excluded(levels: tuple[str, ...]) -> list[str]:
    """Every trailing statistic (`{level}_{stat}_{w}d`) of a level not in `levels`."""
    from adctr.model.contract import NUMERIC

    trailing = [n for n in NUMERIC if n.endswith("d") and n[-2].isdigit()]
    return [n for n in trailing if n.rsplit("_", 2)[0] not in levels]


def holdout_library(wh: Any, holdout: pd.DataFrame, end: date) -> pd.DataFrame:
    """Per holdout row, from the asset library's compositions on `end`: its creative's ad group
    and launch date, and the launch date of that ad group's first creative."""
    sql = (
        "select creative_id, ad_group_id, launch_date,"
        " min(launch_date) over (partition by ad_group_id) as group_launch"
        " from staging.creative_assets where report_date = @ds"
    )
    library = wh.query_arrow(sql, {"ds": end}).to_pandas().set_index("creative_id", verify_integrity=True)
    rows = library.reindex(holdout["creative_id"].astype(str).to_numpy())
    if rows["ad_group_id"].isna().any():
        missing = int(rows["ad_group_id"].isna().sum())
        raise RuntimeError(f"{missing} holdout rows have a creative the asset library does not list")
    return rows.reset_index(drop=True)


def segment_masks(library: pd.DataFrame, end: date, window: int, train_end: date) -> dict[str, np.ndarray]:
    """Holdout rows per segment, from `holdout_library`'s launch dates."""
    launch = pd.to_datetime(library["launch_date"]).dt.date.to_numpy()
    group_launch = pd.to_datetime(library["group_launch"]).dt.date.to_numpy()
    first = end - timedelta(days=window - 1)
    new = launch >= first
    return {"overall": np.ones(len(library), bool), "established": ~new, "new": new,
            "new_after_training": launch > train_end, "new_ad_group": group_launch >= first}  # fmt: skip


def rung_gains(
    losses: list[np.ndarray], base: np.ndarray, bayes: np.ndarray, cluster: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Each rung's gain in gap closed over the rung before, with a 95% interval from a paired
    cluster bootstrap: ad groups are drawn with replacement (rows of an ad group share its
    latent level and assets, so they are not independent) and every rung is scored on the same
    draw. `losses`, `base`, `bayes`: per-row summed log losses (`metrics.row_log_losses`)."""
    _, group = np.unique(cluster, return_inverse=True)
    size = int(group.max()) + 1

    def by_group(x: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=x, minlength=size)

    rung_sums = np.stack([by_group(x) for x in losses])  # (rungs, groups)
    draws = np.random.default_rng(seed).multinomial(size, np.full(size, 1.0 / size), size=resamples)
    weights = np.vstack([np.ones(size), draws])  # the first row is the sample itself
    b, y = weights @ by_group(base), weights @ by_group(bayes)
    closed = (b[:, None] - weights @ rung_sums.T) / (b - y)[:, None]
    gains = np.diff(closed, axis=1)
    lo, hi = np.quantile(gains[1:], [0.025, 0.975], axis=0)
    return [{"gain": round(float(g), 4), "ci95": [round(float(a), 4), round(float(z), 4)]}
            for g, a, z in zip(gains[0], lo, hi)]  # fmt: skip


def ladder(
    wh: Any, state: Any, end: date, window: int, models: tuple[str, ...] = ("ctr", "cvr"),
    holdout_days: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Each rung of LADDER trained on the same split through training's own code; holdout
    log loss and share of the base-rate -> Bayes gap closed, overall and per segment."""
    from training import metrics
    from training.config import model_config
    from training.dataset import plan_examples
    from training.trainer import fit

    result: dict[str, Any] = {}
    for model in models:
        cfg = model_config(model)
        if holdout_days is not None:
            cfg["holdout_days"] = int(holdout_days)
        num, den = cfg["label_numerator"], cfg["label_denominator"]
        examples = plan_examples(wh, cfg, end)
        holdout = examples.frame("holdout")
        k = holdout[num].to_numpy(dtype=float)
        n = holdout[den].to_numpy(dtype=float)
        train_end = date.fromisoformat(examples.dates["train"][-1])
        library = holdout_library(wh, holdout, end)
        masks = segment_masks(library, end, window, train_end)
        rate = examples.base_rate("train")
        bayes = truth(state, holdout, f"true_{model}")

        def loss(p: np.ndarray, m: np.ndarray, k: np.ndarray = k, n: np.ndarray = n) -> float:
            return metrics.log_loss(p[m], k[m], n[m])

        segments = {
            s: {"rows": int(m.sum()), "creatives": int(holdout["creative_id"][m].nunique()),
                "trials": float(n[m].sum()), "base_rate_log_loss": loss(np.full(len(k), rate), m),
                "bayes_optimal_log_loss": loss(bayes, m)}
            for s, m in masks.items() if m.any()
        }  # fmt: skip
        rungs, row_losses = [], []
        for name, levels in LADDER:
            rung_cfg = {**cfg, "exclude_features": excluded(levels)}
            fitted, info = fit(examples, rung_cfg)
            pred = fitted.predict(holdout)
            row_losses.append(metrics.row_log_losses(pred, k, n))
            per = {}
            for s, m in masks.items():
                if not m.any():
                    continue
                ll, seg = loss(pred, m), segments[s]
                gap = seg["base_rate_log_loss"] - seg["bayes_optimal_log_loss"]
                closed = (seg["base_rate_log_loss"] - ll) / gap
                per[s] = {"log_loss": round(ll, 6), "gap_closed": round(closed, 4)}
            rungs.append({"rung": name, "features": len(info["features"]), "best_iteration": info["best_iteration"],
                          "segments": per})  # fmt: skip
        cluster = library["ad_group_id"].to_numpy()
        base_losses = metrics.row_log_losses(np.full(len(k), rate), k, n)
        bayes_losses = metrics.row_log_losses(bayes, k, n)
        for s, m in masks.items():
            if not m.any():
                continue
            gains = rung_gains([x[m] for x in row_losses], base_losses[m], bayes_losses[m], cluster[m])
            for rung, gain in zip(rungs[1:], gains):
                rung["segments"][s]["gain"] = gain
        result[model] = {
            "dates": {k_: [v[0], v[-1]] for k_, v in examples.dates.items()},
            "segments": {s: {**v, "base_rate_log_loss": round(v["base_rate_log_loss"], 6),
                             "bayes_optimal_log_loss": round(v["bayes_optimal_log_loss"], 6)}
                         for s, v in segments.items()},
            "ladder": rungs,
        }  # fmt: skip
    return result


def world_size(state: Any, end: date) -> dict[str, int]:
    creatives = state.world.creative_table(end)
    return {"ad_groups": len(set(creatives["ad_group_id"].to_pylist())),
            "creatives_listed": creatives.num_rows,
            "creatives_serving": int(sum(s == "ENABLED" for s in creatives["status"].to_pylist())),
            "assets": state.world.asset_table(end).num_rows,
            "used_up_launches": state.world.creatives.used_up_launches}  # fmt: skip


def run(
    end: date = date(2026, 11, 20), window: int = 28, *, profile: str | None = None, seed: int | None = None,
    world: dict[str, Any] | None = None, holdout_days: int | None = None, keep: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """`keep`: build the warehouse there (and leave it) instead of in a temporary directory;
    a warehouse already there is reused as built (same arguments assumed), for re-measuring."""
    from adctr.simulator.state import state_from_config
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    from training.config import model_config

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        attribution = int(model_config("cvr").get("attribution_window_days", 7))
        path = keep or Path(tmp) / "quality.duckdb"
        if keep is not None and keep.exists():
            wh = DuckDBWarehouse(keep)
            config = simulator_config(seed, world)
            state = state_from_config(config, today=end + timedelta(days=1), profile=profile)
        else:
            wh, state = build_warehouse(
                path, end, window, attribution, profile=profile, seed=seed, world=world
            )
        built_s = time.perf_counter() - started
        result = {"end": end.isoformat(), "window_days": window, "profile": profile, "seed": state.world.seed,
                  "world_overrides": world or {}, "holdout_days": holdout_days, "world": world_size(state, end),
                  "build_s": round(built_s, 1)}  # fmt: skip
        result.update(measure(wh, state, end))
        result["ladder"] = ladder(wh, state, end, window, holdout_days=holdout_days)
    result["total_s"] = round(time.perf_counter() - started, 1)
    return result


def _ladder_cell(cell: dict[str, Any]) -> str:
    text = f"{cell['log_loss']:.5f} ({cell['gap_closed']:.1%}"
    if "gain" in cell:
        g = cell["gain"]
        text += f"; {100 * g['gain']:+.1f} [{100 * g['ci95'][0]:+.1f}, {100 * g['ci95'][1]:+.1f}]"
    return text + ")"


def ladder_table(result: dict[str, Any]) -> str:
    """The ladder as a Markdown table: log loss (gap closed; gain in points over the rung
    before [its 95% cluster-bootstrap interval]) per rung and segment."""
    lines = []
    for model, r in result["ladder"].items():
        segs = [s for s in SEGMENTS if s in r["segments"]]
        head = " | ".join(
            f"{s} ({r['segments'][s]['rows']} rows, {r['segments'][s]['creatives']} cr.)" for s in segs
        )
        lines += [f"{model.upper()} holdout {r['dates']['holdout'][0]}..{r['dates']['holdout'][1]}", "",
                  f"| rung | {head} |", "|---" * (len(segs) + 1) + "|"]  # fmt: skip
        base = " | ".join(f"{r['segments'][s]['base_rate_log_loss']:.5f}" for s in segs)
        bayes = " | ".join(f"{r['segments'][s]['bayes_optimal_log_loss']:.5f}" for s in segs)
        lines.append(f"| base rate | {base} |")
        for rung in r["ladder"]:
            cells = " | ".join(_ladder_cell(rung["segments"][s]) for s in segs)
            lines.append(f"| {rung['rung']} | {cells} |")
        lines += [f"| Bayes-optimal | {bayes} |", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 20))
    parser.add_argument("--window", type=int, default=28)
    parser.add_argument(
        "--profile", default=None, help="a config/simulator.yaml profile, e.g. bench (default: world:)"
    )
    parser.add_argument("--seed", type=int, default=None, help="override the simulator seed")
    parser.add_argument("--world", action="append", default=[], metavar="KEY=VALUE",
                        help="override a world: key (YAML value), e.g. ad_groups_per_campaign=10")
    parser.add_argument("--holdout-days", type=int, default=None,
                        help="the ladder's holdout days (default config/models.yaml holdout_days)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the warehouse at this path and keep it; reuse it if it exists")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.world)}
    result = run(args.end, args.window, profile=args.profile, seed=args.seed, world=overrides,
                 holdout_days=args.holdout_days, keep=args.keep)  # fmt: skip
    print(json.dumps(result, indent=2))
    print(ladder_table(result))


if __name__ == "__main__":
    main()
