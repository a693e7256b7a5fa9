"""Batch scoring end to end vs. bare `Booster.predict` on the same rows in memory, per size.

    python bench/batch_scoring.py [--rows 1000000,10000000,30000000] [--trees 400]
                                  [--floor-max-rows 10000000] [--max-query-chars N] [--threads N]
                                  [--memory-limit 2GB|none]

A CTR model (config/models.yaml's LightGBM parameters, `--trees` trees, no early stopping) is
trained on a 200K-row sample of the candidates' distribution with a label that depends on
many features, published and served in slot ctr0 of a temporary artifact store. For each size:
- gen: a `scoring.candidates` partition of that many rows, generated in DuckDB SQL (hash-based
  pseudo-random values for every column of the schema; 100 combinations per ad group);
- ours: `adctr.scoring.batch.score_date` for slot ctr0, timed from the slot's verification to
  the scores written into `scoring.combination_scores` (read candidates, chunk steps through
  scratch tables, partition replace), with each warehouse job timed, and DuckDB's planning
  time of each statement (EXPLAIN) measured after;
- floor: `Booster.predict` on the float matrix of the same rows, built beforehand (untimed);
  its sum of scores must equal ours.
Each runs in its own process, so peak RSS (ru_maxrss) is its own. Then the BigQuery bill of a
`--cost-rows` run (default 100M) with the same model, chunked at BigQuery's max_query_chars:
offline logical bytes (adctr.warehouse.cost) of each job, measured on a sample of rows from
the end of that range (ids as long as at full size) and scaled, rounded as on-demand billing
rounds them, with each job's maximumBytesBilled against the batch_scoring budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: its shared helpers
from peak_rss import peak_rss_mb  # noqa: E402

DAY = date(2026, 11, 20)
SLOT = "ctr0"
COMBINATIONS_PER_GROUP = 100  # 5 headlines x 4 descriptions x 5 images
LEVELS = {  # hash key of each statistics level (columns <level>_{impressions,ctr,cvr}_{7,28}d)
    "creative": "i",
    "ad_group": "g",
    "advertiser": "a",
    "headline_asset": "g, 1, h",
    "description_asset": "g, 2, d",
    "image_asset": "g, 3, m",
    "headline_image": "g, 4, h, m",
}
IMPRESSION_SCALE = {
    "creative": 20_000,
    "ad_group": 200_000,
    "advertiser": 5_000_000,
    "headline_image": 20_000,
}
TRAIN_MEDIA = ["google_ads", "meta", "yahoo_ads"]
TRAIN_DEVICES = ["desktop", "mobile", "tablet"]
DUCKDB_TYPES = {"VARCHAR": "STRING", "DOUBLE": "FLOAT64", "BIGINT": "INT64", "INTEGER": "INT64",
                "BOOLEAN": "BOOL", "DATE": "DATE"}  # fmt: skip
TIB = 1024**4


def _u(key: str, salt: int) -> str:
    """A uniform [0, 1) draw from the hash of `key` and `salt` (deterministic)."""
    return f"((hash({key}, {salt}) % 1000000) / 1000000.0)"


def _pick(values: list[str], key: str, salt: int) -> str:
    items = ", ".join(f"'{v}'" for v in values)
    return f"([{items}])[1 + cast(hash({key}, {salt}) % {len(values)} as bigint)]"


def _stat(level: str, stat: str, window: int, salt: int) -> str:
    key = LEVELS[level]
    scale = IMPRESSION_SCALE.get(level, 50_000) * window / 28
    imps = (
        f"(case when served then cast({_u(key, 900)} * {scale} as bigint) + 1 else 0 end)"
        if level == "creative"
        else f"(case when {_u(key, 901 + window)} < 0.08 then 0 else cast(pow({_u(key, 902)}, 2) * {scale} as bigint) + 1 end)"
    )
    if stat == "impressions":
        return imps
    quality = (
        f"(0.005 + 0.06 * pow({_u(key, 903)}, 2))"
        if stat == "ctr"
        else f"(0.01 + 0.15 * pow({_u(key, 904)}, 2))"
    )
    noisy = f"{quality} * (0.85 + 0.3 * {_u(key, salt)})"
    gap = f" and {_u(key, salt + 1)} > 0.1" if stat == "cvr" else ""
    return f"(case when {imps} > 0{gap} then {noisy} end)"


def candidates_sql(
    rows: int, start: int = 0, media: list[str] | None = None, devices: list[str] | None = None
) -> str:
    """DuckDB SQL: `rows` candidate rows (row numbers start..start+rows) with every column of the
    scoring.candidates schema, in its order. media/devices: drawn per row (a training sample
    over contexts); None = the contexts of config/scoring.yaml, one per ad group."""
    from adctr.core.table_schemas import get_schema
    from adctr.scoring import batch

    if media is None or devices is None:
        contexts = batch.ScoringConfig.load("duckdb").contexts
        media, devices = [c["medium"] for c in contexts], [c["device"] for c in contexts]
        medium, device = _pick(media, "g", 1), _pick(devices, "g", 1)  # the same draw: paired
    else:
        medium, device = _pick(media, "i", 2), _pick(devices, "i", 3)
    group = "'adv' || a || '-cmp' || c || '-ag' || g"
    exprs = {
        "scoring_date": f"date '{DAY}'",
        "report_date": f"date '{DAY}'",
        "medium": medium,
        "device": device,
        "advertiser_id": "'adv' || a",
        "campaign_id": "'adv' || a || '-cmp' || c",
        "ad_group_id": group,
        "headline_asset_id": f"{group} || '-h' || h",
        "description_asset_id": f"{group} || '-d' || d",
        "image_asset_id": f"{group} || '-i' || m",
        "creative_id": f"case when served then {group} || '-cr' || (1 + hash(i, 5) % 40) end",
        "served": "served",
        "industry": _pick(["education", "finance", "games", "retail", "travel"], "a", 6),
        "campaign_objective": _pick(["conversions", "traffic"], "c", 7),
        "ad_format": _pick(["image", "text", "video"], "g, 3, m", 8),
        "headline_length": "cast(5 + hash(g, 1, h) % 26 as bigint)",
        "description_length": "cast(20 + hash(g, 2, d) % 70 as bigint)",
        "creative_age_days": "case when served then cast(hash(i, 9) % 120 as bigint) else 0 end",
    }
    salt = 10
    for level in LEVELS:
        for window in (7, 28):
            for stat in ("impressions", "ctr", "cvr"):
                exprs[f"{level}_{stat}_{window}d"] = _stat(level, stat, window, salt)
                salt += 2
    schema = get_schema(batch.CANDIDATES)
    missing = [c for c in schema.column_names if c not in exprs]
    if missing:
        raise RuntimeError(f"the generator has no values for candidates columns {missing}")
    select = ",\n  ".join(f'{exprs[c]} as "{c}"' for c in schema.column_names)
    return (
        f"with base as (select i, i // {COMBINATIONS_PER_GROUP} as g, (i % 100) // 20 + 1 as h, "
        f"(i % 20) // 5 + 1 as d, i % 5 + 1 as m from range({start}, {start + rows}) as t(i)),\n"
        f"ids as (select *, g // 40 as a, g // 4 as c, {_u('i', 4)} < 0.05 as served from base)\n"
        f"select\n  {select}\nfrom ids"
    )


def make_candidates(path: Path, rows: int, start: int = 0) -> float:
    """Write the candidates partition into a DuckDB warehouse file; seconds taken."""
    from adctr.core.table_schemas import get_schema
    from adctr.scoring import batch
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    started = time.perf_counter()
    wh = DuckDBWarehouse(path)
    schema = get_schema(batch.CANDIDATES)
    wh.ensure_table(schema)
    with wh.connect() as con:
        con.execute(
            f'insert into "{schema.dataset}"."{schema.table}" {candidates_sql(rows, start)}'
        )
    return time.perf_counter() - started


def _label(frame: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Clicks / impressions and impressions: a logit over many features (deep trees)."""

    def col(name: str, fill: float) -> np.ndarray:
        return frame[name].astype("float64").fillna(fill).to_numpy()

    logit = (
        -3.6
        + 14 * (col("ad_group_ctr_28d", 0.03) - 0.03) + 10 * (col("advertiser_ctr_7d", 0.03) - 0.03)
        + 18 * (col("headline_asset_ctr_28d", 0.03) - 0.03) + 9 * (col("description_asset_ctr_7d", 0.03) - 0.03)
        + 16 * (col("image_asset_ctr_28d", 0.03) - 0.03) + 12 * (col("headline_image_ctr_7d", 0.03) - 0.03)
        + 20 * (col("creative_ctr_28d", 0.03) - 0.03) + 0.3 * frame["served"].to_numpy(dtype=float)
        - 0.1 * np.log1p(col("creative_age_days", 0) / 7)
        + 0.02 * (col("headline_length", 15) - 15) - 0.004 * (col("description_length", 50) - 50)
        + frame["ad_format"].map({"text": 0.0, "image": 0.25, "video": 0.45}).to_numpy(dtype=float)
        + frame["medium"].map({"google_ads": 0.1, "meta": -0.15, "yahoo_ads": 0.0}).to_numpy(dtype=float)
        + 0.3 * ((frame["ad_format"] == "video") & (frame["device"] == "mobile")).to_numpy(dtype=float)
        + 0.2 * np.log1p(col("ad_group_impressions_28d", 0)) / 12
    )  # fmt: skip
    impressions = rng.integers(50, 3000, len(frame))
    clicks = rng.binomial(impressions, 1 / (1 + np.exp(-logit)))
    return clicks / impressions, impressions.astype(np.float64)


def train_model(rows: int, trees: int, seed: int = 11) -> Any:
    """A FittedModel: config/models.yaml's CTR parameters, `trees` trees on a generated sample."""
    import duckdb
    import lightgbm as lgb
    from adctr.model import contract

    from training.config import model_config
    from training.features import fit_spec, lightgbm_params_for

    con = duckdb.connect()
    frame = con.execute(
        candidates_sql(rows, start=10**9, media=TRAIN_MEDIA, devices=TRAIN_DEVICES)
    ).df()
    con.close()
    spec = fit_spec(frame)
    label, weight = _label(frame, np.random.default_rng(seed))
    data = lgb.Dataset(
        contract.transform(spec, frame), label=label, weight=weight, **lightgbm_params_for(spec)
    )
    booster = lgb.train(dict(model_config("ctr")["lightgbm"]), data, num_boost_round=trees)
    return contract.FittedModel(booster, spec)


def serve(fitted: Any) -> int:
    """Publish the model as blessed ctr/main and let slot ctr0 serve it (the configured store)."""
    from adctr.core.storage import get_store
    from adctr.model import contract
    from adctr.release import artifacts, slots

    store = get_store("artifact")
    files = {contract.MODEL_FILE: fitted.model_bytes(), contract.FEATURE_SPEC_FILE: fitted.spec.to_json().encode(),
             artifacts.METRICS_FILE: b"{}"}  # fmt: skip
    meta = {"blessed": True, "promotion": {"eligible": True, "why": "bench"}}
    version = artifacts.publish(store, "ctr", "main", files, meta).version
    actor = {"action": "sync", "run_id": "bench", "run_type": "manual", "triggered_by": None}
    slots.apply(
        store, slots.plan(store, [s for s in slots.load_slots() if s.slot == SLOT], {}), actor
    )
    return version



def _scoring_config(max_query_chars: int | None, backend: str = "duckdb") -> Any:
    from adctr.scoring import batch

    cfg = batch.ScoringConfig.load(backend)
    return dataclasses.replace(
        cfg, slots=[SLOT], max_query_chars=max_query_chars or cfg.max_query_chars
    )


def duckdb_settings(threads: int | None = None, memory_limit: str | None = None) -> dict[str, Any]:
    """config/warehouse.yaml's DuckDB settings (what get_warehouse applies), with the bench's
    overrides; memory_limit "none" = DuckDB's default (80% of RAM)."""
    from adctr.core import settings

    duck = settings.load_config("warehouse").get("duckdb") or {}
    out = {k: duck.get(k) for k in ("memory_limit", "threads")}
    if threads:
        out["threads"] = threads
    if memory_limit:
        out["memory_limit"] = None if memory_limit.lower() == "none" else memory_limit
    return {k: v for k, v in out.items() if v is not None}


def _timed_warehouse(path: Path, config: dict[str, Any]) -> Any:
    """The DuckDB warehouse (with `config` on every connection) with each job timed."""
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    class Timed(DuckDBWarehouse):
        def __init__(self, path: Path) -> None:
            super().__init__(path, config=config)
            self.jobs: list[dict[str, Any]] = []

        def materialize(self, table_id: str, sql: str, *args: Any, **kw: Any) -> None:
            t = time.perf_counter()
            super().materialize(table_id, sql, *args, **kw)
            self.jobs.append(
                {"job": f"materialize {table_id}", "chars": len(sql), "s": time.perf_counter() - t}
            )

        def replace_partition_from_query(
            self, schema: Any, partition: date, sql: str, *args: Any, **kw: Any
        ) -> int:
            t = time.perf_counter()
            rows = super().replace_partition_from_query(schema, partition, sql, *args, **kw)
            self.jobs.append(
                {
                    "job": f"replace {schema.table_id}",
                    "chars": len(sql),
                    "s": time.perf_counter() - t,
                }
            )
            return rows

    return Timed(path)


def _planning_seconds(wh: Any, cfg: Any) -> list[dict[str, Any]]:
    """Per statement of the plan: transpile time, and DuckDB's parse+bind+optimize (EXPLAIN) time.
    Each scratch table is created empty (limit 0) so the next statement can be planned."""
    from adctr.core.storage import get_store
    from adctr.scoring import batch
    from adctr.warehouse.duckdb_backend import transpile

    served = batch.served_model(get_store("artifact"), SLOT)
    t = time.perf_counter()
    plan = batch.compile_slot(served, DAY, cfg.max_query_chars)
    out = [{"step": "compile (tree_sql)", "s": time.perf_counter() - t}]
    with wh.connect() as con:
        try:
            for step in plan.steps:
                t = time.perf_counter()
                duck = transpile(step.sql)
                transpiled = time.perf_counter() - t
                t = time.perf_counter()
                con.execute(
                    f"explain {duck}", {"scoring_date": DAY} if "$scoring_date" in duck else None
                ).fetchall()
                planned = time.perf_counter() - t
                out.append(
                    {
                        "step": step.destination or "final",
                        "transpile_s": transpiled,
                        "plan_s": planned,
                    }
                )
                if step.destination:
                    con.execute(f"create schema if not exists {step.destination.split('.')[0]}")
                    params = {"scoring_date": DAY} if "$scoring_date" in duck else None
                    con.execute(
                        f"create or replace table {step.destination} as select * from ({duck}) limit 0",
                        params,
                    )
        finally:
            for table in plan.intermediate_tables:
                con.execute(f"drop table if exists {table}")
    return out


def child_score(path: str, max_query_chars: int | None, config: dict[str, Any]) -> dict[str, Any]:
    from adctr.core.storage import get_store
    from adctr.scoring import batch

    wh = _timed_warehouse(Path(path), config)
    cfg = _scoring_config(max_query_chars)
    store = get_store("artifact")
    t = time.perf_counter()
    result = batch.score_date(wh, store, DAY, cfg)
    seconds = time.perf_counter() - t
    rss = peak_rss_mb()
    (score_sum,) = wh.execute_native("select sum(score) from scoring.combination_scores")[0]
    return {"seconds": seconds, "peak_rss_mb": rss, "rows": result["rows"], "score_sum": float(score_sum),
            "statements": result["slots"][0]["statements"], "trees": result["slots"][0]["trees"],
            "longest_statement_chars": result["slots"][0]["longest_statement_chars"], "jobs": wh.jobs,
            "planning": _planning_seconds(wh, cfg)}  # fmt: skip


def child_floor(path: str, rows: int) -> dict[str, Any]:
    """Booster.predict on the already-built float matrix of the same rows (build untimed)."""
    import duckdb
    from adctr.core.storage import get_store
    from adctr.model import contract
    from adctr.scoring import batch

    fitted = batch.served_model(get_store("artifact"), SLOT).fitted
    columns = sorted({f.derived_from or f.name for f in fitted.spec.features})
    matrix = np.empty((rows, len(fitted.spec.features)), dtype=np.float64)
    con = duckdb.connect(path, read_only=True)
    reader = con.execute(
        f"select {', '.join(columns)} from scoring.candidates where scoring_date = ?", [DAY]
    ).to_arrow_reader(500_000)
    pos = 0
    for record_batch in reader:
        x = contract.transform(fitted.spec, record_batch.to_pandas())
        matrix[pos : pos + len(x)] = x
        pos += len(x)
    con.close()
    if pos != rows:
        raise RuntimeError(f"read {pos} candidates, expected {rows}")
    t = time.perf_counter()
    raw = fitted.booster.predict(matrix)
    seconds = time.perf_counter() - t
    scores = contract.recalibrate(raw, fitted.spec.negative_sampling_rate)
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "score_sum": float(scores.sum())}


def child_gen(path: str, rows: int, start: int) -> dict[str, Any]:
    return {"seconds": make_candidates(Path(path), rows, start), "peak_rss_mb": peak_rss_mb()}


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env,
                         check=False)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"bench child {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _logical_bytes(wh: Any, table_id: str, columns: list[str] | None = None) -> int:
    """BigQuery logical bytes of (some columns of) a DuckDB table, by adctr.warehouse.cost's sizes."""
    from adctr.warehouse import cost

    dataset, table = table_id.split(".")
    types = wh.execute_native(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ?",
        [dataset, table],
    )
    sizes = [
        cost._size_sql(name, DUCKDB_TYPES[kind])
        for name, kind in types
        if columns is None or name in columns
    ]
    return int(
        wh.execute_native(f'select {" + ".join(sizes)} from "{dataset}"."{table}"')[0][0] or 0
    )


def bigquery_cost(
    workdir: Path, sample_rows: int, target_rows: int, price_per_tib: float
) -> dict[str, Any]:
    """Bytes each BigQuery job of a `target_rows` scoring run bills (offline byte model), from the
    plan compiled at BigQuery's max_query_chars run on `sample_rows` rows and scaled."""
    from adctr.core import settings
    from adctr.core.storage import get_store
    from adctr.scoring import batch
    from adctr.warehouse import cost

    path = workdir / "cost.duckdb"
    make_candidates(path, sample_rows, start=max(0, target_rows - sample_rows))
    wh = _timed_warehouse(path, duckdb_settings())
    cfg = _scoring_config(None, backend="bigquery")
    served = batch.served_model(get_store("artifact"), SLOT)
    plan = batch.compile_slot(served, DAY, cfg.max_query_chars)
    scale = target_rows / sample_rows
    policy = cost.CostPolicy.from_config(settings.load_config("warehouse")["bigquery"]["cost"])
    jobs: list[tuple[str, str, int]] = []  # (job, table read, bytes at sample size)
    # check_inputs: partition_counts groups the whole table by its partition column (one partition here)
    jobs.append(("check_inputs (partition counts)", batch.CANDIDATES, 8 * sample_rows))
    try:
        previous = None
        for step in plan.steps:
            if previous is None:
                read = cost.estimate_on_duckdb(step.sql, {"scoring_date": DAY}, wh).per_table[
                    batch.CANDIDATES
                ]
                table = batch.CANDIDATES
            else:  # `select * replace`, or the final select of keys + _raw
                columns = None if step.destination else [*batch.KEYS, "_raw"]
                read, table = _logical_bytes(wh, previous, columns), previous
            jobs.append((f"materialize {step.destination}" if step.destination else "replace scoring.combination_scores",
                         table, read))  # fmt: skip
            if step.destination:
                wh.materialize(
                    step.destination,
                    step.sql,
                    query_params=batch._used({"scoring_date": DAY}, step.sql),
                )
                previous = step.destination
    finally:
        for table in plan.intermediate_tables:
            wh.drop_table(table)
    rows = []
    for job, table, sample_bytes in jobs:
        processed = int(sample_bytes * scale)
        billed = cost.billed_bytes({table: processed})
        try:
            limit = cost.human(policy.max_bytes_billed(processed, 1, "batch_scoring", job))
        except cost.QueryOverBudget as exc:
            limit = f"over budget: {exc}"
        rows.append({"job": job, "reads": table, "processed_bytes": processed, "billed_bytes": billed,
                     "billed": cost.human(billed), "maximumBytesBilled": limit})  # fmt: skip
    total = sum(r["billed_bytes"] for r in rows)
    return {"rows": target_rows, "sample_rows": sample_rows, "max_query_chars": cfg.max_query_chars,
            "statements": len(plan.steps), "jobs": rows, "billed_bytes": total, "billed": cost.human(total),
            "price_per_tib_usd": price_per_tib, "usd": round(total / TIB * price_per_tib, 2),
            "budget_per_query": cost.human(policy.budget_for("batch_scoring"))}  # fmt: skip


def run(
    sizes: tuple[int, ...] = (1_000_000, 10_000_000),
    trees: int = 400,
    train_rows: int = 200_000,
    floor_max_rows: int = 10_000_000,
    max_query_chars: int | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    cost_rows: int = 100_000_000,
    cost_sample_rows: int = 200_000,
    price_per_tib: float = 6.25,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Every size scored and predicted, then the BigQuery bill; files under `workdir` (a fresh
    temporary directory if None)."""
    with tempfile.TemporaryDirectory(prefix="bench-scoring-", dir=workdir) as tmp:
        workdir = Path(tmp)
        var = workdir / "var"
        var.mkdir()
        env = {**os.environ, "ADCTR_VAR_DIR": str(var),
               "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}  # fmt: skip
        config = duckdb_settings(threads, memory_limit)
        saved = os.environ.get("ADCTR_VAR_DIR")
        os.environ["ADCTR_VAR_DIR"] = str(var)
        try:
            t = time.perf_counter()
            fitted = train_model(train_rows, trees)
            train_s = time.perf_counter() - t
            serve(fitted)
            results = []
            for rows in sizes:
                db = str(workdir / f"candidates_{rows}.duckdb")
                gen = _child(env, "gen", db, str(rows), "0")
                ours = _child(env, "score", db, str(max_query_chars or 0), json.dumps(config))
                floor = _child(env, "floor", db, str(rows)) if rows <= floor_max_rows else None
                Path(db).unlink()
                entry = {"rows": rows, "gen_s": round(gen["seconds"], 1), "ours_s": round(ours["seconds"], 2),
                         "ours_rows_per_s": round(rows / ours["seconds"]), "ours_peak_rss_mb": round(ours["peak_rss_mb"]),
                         "statements": ours["statements"], "longest_statement_chars": ours["longest_statement_chars"],
                         "jobs": [{**j, "s": round(j["s"], 2)} for j in ours["jobs"]],
                         "planning": [{k: round(v, 3) if isinstance(v, float) else v for k, v in p.items()}
                                      for p in ours["planning"]]}  # fmt: skip
                if floor is not None:
                    if not np.isclose(ours["score_sum"], floor["score_sum"], rtol=1e-9, atol=0):
                        raise RuntimeError(
                            f"scores differ from Booster.predict: sum {ours['score_sum']} vs {floor['score_sum']}"
                        )
                    entry |= {"floor_s": round(floor["seconds"], 4), "floor_rows_per_s": round(rows / floor["seconds"]),
                              "floor_peak_rss_mb": round(floor["peak_rss_mb"]),
                              "ratio": round(ours["seconds"] / floor["seconds"], 2)}  # fmt: skip
                results.append(entry)
            largest = max(results, key=lambda r: r["rows"])
            estimate = bigquery_cost(
                workdir, min(cost_sample_rows, cost_rows), cost_rows, price_per_tib
            )
        finally:
            if saved is None:
                os.environ.pop("ADCTR_VAR_DIR", None)
            else:
                os.environ["ADCTR_VAR_DIR"] = saved
    return {
        "trees": fitted.booster.num_trees(), "features": len(fitted.spec.features), "train_rows": train_rows,
        "train_s": round(train_s, 1), "max_query_chars": max_query_chars or _scoring_config(None).max_query_chars,
        "duckdb_settings": config or "DuckDB defaults", "load_average_1m": round(os.getloadavg()[0], 2), "sizes": results,
        "extrapolated_100m_s": round(cost_rows / largest["ours_rows_per_s"]), "bigquery": estimate,
    }  # fmt: skip


def _table(result: dict[str, Any]) -> str:
    lines = ["| rows | ours s | ours rows/s | floor s | floor rows/s | ratio | ours peak RSS MB | floor peak RSS MB |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in result["sizes"]:
        lines.append(
            f"| {r['rows']:,} | {r['ours_s']} | {r['ours_rows_per_s']:,} | {r.get('floor_s', '-')} | "
            f"{r.get('floor_rows_per_s', '-'):,} | {r.get('ratio', '-')} | {r['ours_peak_rss_mb']:,} | "
            f"{r.get('floor_peak_rss_mb', '-')} |"
            if "floor_s" in r
            else f"| {r['rows']:,} | {r['ours_s']} | {r['ours_rows_per_s']:,} | - | - | - | {r['ours_peak_rss_mb']:,} | - |"
        )
    bq = result["bigquery"]
    lines.append(f"\n{bq['rows']:,} combinations: ~{result['extrapolated_100m_s']:,} s here (extrapolated from "
                 f"{result['sizes'][-1]['rows']:,}); BigQuery ({bq['statements']} statements at "
                 f"{bq['max_query_chars']:,} chars) bills {bq['billed']} = ${bq['usd']} at "
                 f"${bq['price_per_tib_usd']}/TiB on demand")  # fmt: skip
    for job in bq["jobs"]:
        lines.append(f"  {job['job']:<48} reads {job['reads']:<36} bills {job['billed']:>12}  "
                     f"maximumBytesBilled {job['maximumBytesBilled']}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", default="1000000 10000000", help="candidate counts (space or comma separated)"
    )
    parser.add_argument("--trees", type=int, default=400)
    parser.add_argument("--train-rows", type=int, default=200_000)
    parser.add_argument(
        "--floor-max-rows",
        type=int,
        default=10_000_000,
        help="no floor above (its matrix is in RAM)",
    )
    parser.add_argument(
        "--max-query-chars", type=int, default=None, help="override config/scoring.yaml (duckdb)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="DuckDB threads (default: DuckDB's, the cores)"
    )
    parser.add_argument(
        "--memory-limit",
        default=None,
        help="DuckDB memory_limit (default config/warehouse.yaml; none = DuckDB's)",
    )
    parser.add_argument("--cost-rows", type=int, default=100_000_000)
    parser.add_argument("--price-per-tib", type=float, default=6.25, help="on-demand USD per TiB")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        if mode == "gen":
            out = child_gen(rest[0], int(rest[1]), int(rest[2]))
        elif mode == "score":
            out = child_score(rest[0], int(rest[1]) or None, json.loads(rest[2]))
        else:
            out = child_floor(rest[0], int(rest[1]))
        print(json.dumps(out))
        return
    sizes = tuple(int(r) for r in args.rows.replace(",", " ").split())
    result = run(sizes, args.trees, args.train_rows, args.floor_max_rows, args.max_query_chars, args.threads,
                 args.memory_limit, args.cost_rows, price_per_tib=args.price_per_tib)  # fmt: skip
    print(json.dumps(result, indent=2))
    print(_table(result))


if __name__ == "__main__":
    main()
