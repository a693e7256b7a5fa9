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
from peak_rss import AnonPeak, peak_rss_mb  # noqa: E402

END = date(2026, 11, 20)
DAYS = 28


def make_examples(path: Path, rows: int, seed: int = 7, chunk_rows: int = 1_000_000) -> None:
    """`rows` synthetic training.ctr_examples rows over 28 days, with a learnable signal,
    generated and written `chunk_rows` at a time (28M rows at once would not fit in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from adctr.core.table_schemas import get_schema
    from adctr.model.contract import NUMERIC
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    rng = np.random.default_rng(seed)
    schema = get_schema("training.ctr_examples")
    creatives = max(1, rows // (DAYS * 6))
    qualities = rng.normal(0, 0.7, creatives)
    first_day = np.datetime64(END - timedelta(days=DAYS - 1))
    warehouse = DuckDBWarehouse(path)
    warehouse.ensure_table(schema)
    with tempfile.TemporaryDirectory(dir=path.parent) as parts:
        for part, lo in enumerate(range(0, rows, chunk_rows)):
            idx = np.arange(lo, min(rows, lo + chunk_rows))
            n = len(idx)
            creative = idx % creatives
            imps = rng.integers(50, 5000, n)
            ctr = 1 / (1 + np.exp(-(-3.6 + qualities[creative])))
            cols: dict[str, object] = {
                "snapshot_date": pa.array([END] * n, pa.date32()),
                "report_date": pa.array(first_day + (idx // (rows // DAYS + 1)).astype("timedelta64[D]")),
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
                "clicks": pa.array(rng.binomial(imps, ctr)),
                "conversions": pa.array(np.zeros(n, dtype=np.int64)),
            }
            for name in NUMERIC:
                if name.endswith(("_impressions_7d", "_impressions_28d")):
                    cols[name] = pa.array(rng.integers(0, 100_000, n))
                elif "_ctr_" in name:
                    cols[name] = pa.array(np.clip(ctr + rng.normal(0, 0.004, n), 0, 1))
                elif "_cvr_" in name:
                    cols[name] = pa.array(rng.uniform(0, 0.1, n))
                elif name != "day_of_week":
                    cols[name] = pa.array(rng.integers(0, 60, n))
            full = pa.table({c.name: cols[c.name] if c.name in cols else pa.nulls(n) for c in schema.columns})
            pq.write_table(full.cast(schema.arrow_schema()), Path(parts) / f"{part:05d}.parquet")
        names = ", ".join(schema.column_names)
        warehouse.execute_native(f"insert into {schema.table_id} ({names}) select {names} from read_parquet('{parts}/*.parquet')")


def _configured(path: str):  # noqa: ANN202
    """The warehouse at `path` with config/warehouse.yaml's DuckDB settings (memory_limit), as
    the Airflow tasks get it: without the limit DuckDB's buffer pool may grow to 80% of RAM."""
    from adctr.warehouse import get_warehouse

    os.environ["ADCTR_DUCKDB_PATH"] = path
    return get_warehouse()


def child_ours(path: str, rounds: int) -> dict:

    from training.config import model_config
    from training.dataset import plan_examples
    from training.evaluate import evaluate
    from training.trainer import fit  # imports lightgbm before the clock starts, as the floor does

    cfg = {**model_config("ctr"), "num_boost_round": rounds}
    start = time.perf_counter()
    with AnonPeak() as anon:
        examples = plan_examples(_configured(path), cfg, END)
        read_s = time.perf_counter() - start  # planning: one aggregate query; the splits stream during fit
        fitted, info = fit(examples, cfg)
        holdout = examples.frame("holdout")
        result = evaluate(fitted.predict(holdout), holdout, "clicks", "impressions")
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "plan_s": read_s, "trees": info["num_trees"], "train_rows": info["train_rows"],
            "log_loss": result["overall"]["log_loss"], "peak_rss_mb": peak_rss_mb(), "peak_anon_mb": anon.mb}  # fmt: skip


def child_floor(path: str, trees: int) -> dict:
    import lightgbm as lgb
    from adctr.model.contract import CATEGORICAL, feature_columns

    from training.config import model_config
    from training.dataset import plan_examples
    from training.features import lightgbm_params_for, spec_from_vocabularies
    from training.trainer import label_and_weight

    cfg = model_config("ctr")
    examples = plan_examples(_configured(path), cfg, END)
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
    with AnonPeak() as anon:
        data = lgb.Dataset(matrix, label=label, weight=n, **lightgbm_params_for(spec))
        lgb.train(dict(cfg["lightgbm"]), data, num_boost_round=trees)
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb(), "peak_anon_mb": anon.mb}


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
        "ours_peak_rss_mb": round(ours["peak_rss_mb"]), "ours_peak_anon_mb": round(ours["peak_anon_mb"]),
        "holdout_log_loss": round(ours["log_loss"], 5),
        "floor_s": round(floor["seconds"], 2), "floor_peak_rss_mb": round(floor["peak_rss_mb"]),
        "floor_peak_anon_mb": round(floor["peak_anon_mb"]),
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
