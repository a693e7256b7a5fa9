"""Training cost end to end vs. bare LightGBM on the same in-memory matrix.

    python bench/train_speed.py --rows 5000000 [--rounds 100]

Ours: training.pipeline's path for the CTR model, timed from the warehouse query to the
holdout metrics (read as Arrow, label checks, time split, feature spec + transform,
lgb.Dataset, train with early stopping on the validation days, evaluate on the holdout).
The floor: `lightgbm.train` on the training matrix already in memory (same params, same
number of trees, no validation set). Each side runs in its own process: peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: its shared helpers
from peak_rss import peak_rss_mb  # noqa: E402

END = date(2026, 11, 20)
DAYS = 28


def make_examples(path: Path, rows: int, seed: int = 7) -> None:
    """`rows` synthetic training.ctr_examples rows over 28 days, with a learnable signal."""
    import pyarrow as pa
    from adctr.core.table_schemas import get_schema
    from adctr.model.contract import NUMERIC
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    rng = np.random.default_rng(seed)
    schema = get_schema("training.ctr_examples")
    creatives = max(1, rows // (DAYS * 6))
    idx = np.arange(rows)
    creative = idx % creatives
    quality = rng.normal(0, 0.7, creatives)[creative]
    imps = rng.integers(50, 5000, rows)
    ctr = 1 / (1 + np.exp(-(-3.6 + quality)))
    clicks = rng.binomial(imps, ctr)
    cols: dict[str, object] = {
        "snapshot_date": pa.array([END] * rows, pa.date32()),
        "report_date": pa.array(np.datetime64(END - timedelta(days=DAYS - 1)) + (idx // (rows // DAYS + 1)).astype("timedelta64[D]")),
        "medium": pa.array(np.array(["yahoo_ads", "google_ads", "meta"])[idx % 3]),
        "device": pa.array(np.array(["mobile", "desktop", "tablet"])[(idx // 3) % 3]),
        "advertiser_id": pa.array(np.char.add("adv", (creative // 100).astype(str))),
        "campaign_id": pa.array(np.char.add("c", (creative // 20).astype(str))),
        "ad_group_id": pa.array(np.char.add("g", (creative // 5).astype(str))),
        "creative_id": pa.array(np.char.add("cr", creative.astype(str))),
        "industry": pa.array(np.array(["finance", "travel", "retail", "games", "education"])[creative % 5]),
        "campaign_objective": pa.array(np.array(["traffic", "conversions"])[creative % 2]),
        "ad_format": pa.array(np.array(["text", "image", "video"])[creative % 3]),
        "impressions": pa.array(imps),
        "clicks": pa.array(clicks),
    }
    for name in NUMERIC:
        if name.endswith(("_impressions_7d", "_impressions_28d")):
            cols[name] = pa.array(rng.integers(0, 100_000, rows))
        elif "_ctr_" in name:
            cols[name] = pa.array(np.clip(ctr + rng.normal(0, 0.004, rows), 0, 1))
        elif "_cvr_" in name:
            cols[name] = pa.array(rng.uniform(0, 0.1, rows))
        elif name != "day_of_week":
            cols[name] = pa.array(rng.integers(0, 60, rows))
    names = [c for c in schema.column_names if c in cols]
    table = pa.table({n: cols[n] for n in names})
    table = table.append_column("conversions", pa.array(np.zeros(rows, dtype=np.int64))) if "conversions" in schema.column_names else table
    full = pa.table({c.name: table[c.name] if c.name in table.column_names else pa.nulls(rows) for c in schema.columns})
    DuckDBWarehouse(path).replace_partition_from_arrow(schema, END, full.cast(schema.arrow_schema()))



def child_ours(path: str, rounds: int) -> dict:
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    from training.config import model_config
    from training.dataset import plan_examples
    from training.evaluate import evaluate
    from training.trainer import fit  # imports lightgbm before the clock starts, as the floor does

    cfg = {**model_config("ctr"), "num_boost_round": rounds}
    start = time.perf_counter()
    examples = plan_examples(DuckDBWarehouse(path), cfg, END)
    read_s = time.perf_counter() - start  # planning: one aggregate query; the splits stream during fit
    fitted, info = fit(examples, cfg)
    holdout = examples.frame("holdout")
    result = evaluate(fitted.predict(holdout), holdout, "clicks", "impressions")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "plan_s": read_s, "trees": info["num_trees"], "train_rows": info["train_rows"],
            "log_loss": result["overall"]["log_loss"], "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def child_floor(path: str, trees: int) -> dict:
    import lightgbm as lgb
    from adctr.model.contract import CATEGORICAL, feature_columns
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    from training.config import model_config
    from training.dataset import plan_examples
    from training.features import lightgbm_params_for, spec_from_vocabularies
    from training.trainer import label_and_weight

    cfg = model_config("ctr")
    examples = plan_examples(DuckDBWarehouse(path), cfg, END)
    spec = spec_from_vocabularies(examples.vocabularies(CATEGORICAL))
    # The training matrix filled batch by batch (the whole split as a frame beside it would
    # not fit at 28M rows), then handed to LightGBM as it is.
    matrix = np.empty((examples.rows("train"), len(spec.names)), dtype=np.float64, order="F")
    label = np.empty(examples.rows("train"))
    n = np.empty(examples.rows("train"))
    at = 0
    for frame in examples.batches("train"):
        end = at + len(frame)
        for j, col in enumerate(feature_columns(spec, frame)):
            matrix[at:end, j] = col
        label[at:end], n[at:end] = label_and_weight(frame, "clicks", "impressions", None)
        at = end
    start = time.perf_counter()
    data = lgb.Dataset(matrix, label=label, weight=n, **lightgbm_params_for(spec))
    lgb.train(dict(cfg["lightgbm"]), data, num_boost_round=trees)
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}


def _child(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / p) for p in ("plugins", "")])}
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(rows: int = 5_000_000, rounds: int = 100) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "examples.duckdb"
        make_examples(path, rows)
        ours = _child("ours", str(path), str(rounds))
        floor = _child("floor", str(path), str(ours["trees"]))
    return {
        "rows": rows, "train_rows": ours["train_rows"], "trees": ours["trees"],
        "ours_s": round(ours["seconds"], 2), "ours_plan_s": round(ours["plan_s"], 2),
        "ours_peak_rss_mb": round(ours["peak_rss_mb"]), "holdout_log_loss": round(ours["log_loss"], 5),
        "floor_s": round(floor["seconds"], 2), "floor_peak_rss_mb": round(floor["peak_rss_mb"]),
        "ratio": round(ours["seconds"] / floor["seconds"], 3),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path, n = args.child
        print(json.dumps(child_ours(path, int(n)) if mode == "ours" else child_floor(path, int(n))))
    else:
        print(json.dumps(run(args.rows, args.rounds), indent=2))


if __name__ == "__main__":
    main()
