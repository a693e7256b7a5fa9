"""Ingestion throughput: simulator over HTTP -> landing -> DuckDB raw table, vs. the floor.

    python bench/ingest_http.py --rows 1000000 [--page-size 50000]

Ours: for each of 3 media, the product path (report job created, polled, CSV pages downloaded
and checked, normalised with row checks, landed as Parquet, then the raw partition replaced
and reconciled with the source totals). As the daily DAG runs it: one process per medium's
extract (its own Airflow task), as many at once as the local executor's slots
(`local_parallelism()`, the CPUs), then the load in one more. Ours is the span from the first
extract's start to the load's end, each measured inside its process after its imports (task
start-up is Airflow's, not ingestion's). The same path run serially, the three media one after
another in one process, is reported beside it (`serial_*`). The floor: the same accepted rows,
already in memory as one Arrow table, inserted straight into a DuckDB table. Each side runs in
its own process so its peak RSS is its own; the simulator runs in another (its report
generation is timed separately and reported, as a real API would do that work on its side).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: its shared helpers
from peak_rss import peak_rss_mb  # noqa: E402
from sim_process import simulator_process  # noqa: E402
from sized_world import MEDIA, write_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2026, 11, 10)


def child_http(url: str, media: list[str], load: bool) -> dict:
    from adctr.core.settings import load_config
    from adctr.core.storage import get_store
    from adctr.ingestion import landing, raw_load
    from adctr.ingestion.adapters.report_job import ClientPolicy, ReportJobAdapter
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    policy = ClientPolicy.from_config(load_config("media")["client"])
    token = load_config("simulator")["token"]
    store = get_store("landing")
    started_at = time.time()
    start = time.perf_counter()
    per_medium = {}
    for medium in media:
        t = time.perf_counter()
        landing.extract_to_landing(ReportJobAdapter(medium, url, token, "1001", policy), DAY, store)
        per_medium[medium] = round(time.perf_counter() - t, 3)
    rows, load_s = 0, 0.0
    if load:
        t = time.perf_counter()
        wh = DuckDBWarehouse(Path(os.environ["ADCTR_VAR_DIR"]) / f"ours_{os.getpid()}.duckdb")
        result = raw_load.load_raw_partition(DAY, MEDIA, store, wh)
        load_s = time.perf_counter() - t
        rows = sum(m["accepted"] for m in result.media.values())
    return {"seconds": time.perf_counter() - start, "extract_s": per_medium, "load_and_reconcile_s": load_s,
            "rows": rows, "peak_rss_mb": peak_rss_mb(), "started_at": started_at, "ended_at": time.time()}  # fmt: skip


def _as_the_dag_runs(env: dict[str, str], url: str) -> dict:
    """Each medium's extract in its own process, `slots` at once, then the load in another."""
    from adctr.local.airflow_env import local_parallelism

    slots, waiting, running, done = local_parallelism(), list(MEDIA), [], []
    while waiting or running:
        while waiting and len(running) < slots:
            running.append(_spawn("http", env, "--url", url, "--media", waiting.pop(0)))
        done.append(_result(running.pop(0)))
    load = _child("http", env, "--url", url, "--media", "", "--load")
    extract_span = max(d["ended_at"] for d in done) - min(d["started_at"] for d in done)
    return {
        # Extract span + load: the gap between them is the load process starting (Airflow's).
        "seconds": extract_span + load["seconds"],
        "extract_s": {m: d["extract_s"][m] for d in done for m in d["extract_s"]},
        "extract_span_s": round(extract_span, 3),
        "load_and_reconcile_s": load["load_and_reconcile_s"],
        "rows": load["rows"],
        "peak_rss_mb": max(d["peak_rss_mb"] for d in [*done, load]),
        "slots": slots,
    }


def durable_insert(store, day: date, media: list[str], db_path: Path) -> dict:  # noqa: ANN001 - an ObjectStore
    """The floor for one report date: its landed accepted rows of `media`, read into memory as
    one Arrow table (not timed), inserted into a new DuckDB table, then the database closed
    (checkpointed to its file: our loads are durable too)."""
    import duckdb
    import pyarrow as pa
    from adctr.ingestion import landing, raw_load

    tables = [raw_load.read_landed(store, landing.landed(store, day, medium))[0] for medium in media]
    arrow_rows = pa.concat_tables(tables)  # noqa: F841 - read by DuckDB's replacement scan below
    con = duckdb.connect(str(db_path))
    start = time.perf_counter()
    con.execute("create table raw_floor as select * from arrow_rows")
    seconds = time.perf_counter() - start
    rows = con.execute("select count(*) from raw_floor").fetchone()[0]
    con.close()
    return {"seconds": seconds, "with_checkpoint_s": time.perf_counter() - start, "rows": rows}


def child_floor() -> dict:
    from adctr.core.storage import get_store

    db = Path(os.environ["ADCTR_VAR_DIR"]) / "floor.duckdb"
    return {**durable_insert(get_store("landing"), DAY, MEDIA, db), "peak_rss_mb": peak_rss_mb()}


def _spawn(mode: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--child", mode, *args], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench child failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def _child(mode: str, env: dict[str, str], *args: str) -> dict:
    return _result(_spawn(mode, env, *args))


def run(rows: int = 1_000_000, page_size: int = 50_000) -> dict:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cfg_dir = write_config(tmp, rows, page_size)
        env = {**os.environ, "ADCTR_CONFIG_DIR": str(cfg_dir), "ADCTR_VAR_DIR": str(tmp / "var"),
               "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}  # fmt: skip
        os.environ["ADCTR_CONFIG_DIR"] = str(cfg_dir)
        try:
            from adctr.core import settings
            from adctr.simulator.reports import report_table
            from adctr.simulator.world import world_from_config

            sim_cfg = settings.load_config("simulator")
            world = world_from_config(sim_cfg)
            t = time.perf_counter()
            for medium in MEDIA:
                report_table(world, medium, DAY, DAY, DAY + timedelta(days=8))
            generation_s = time.perf_counter() - t
        finally:
            os.environ.pop("ADCTR_CONFIG_DIR", None)
        with simulator_process(env, DAY + timedelta(days=8), tmp) as url:
            serial = _child("http", env, "--url", url, "--media", ",".join(MEDIA), "--load")
            ours = _as_the_dag_runs(env, url)
        floor = _child("floor", env)
    result = {
        "rows": ours["rows"],
        "media": len(MEDIA),
        "page_size": page_size,
        "ours_s": round(ours["seconds"], 3),
        "ours_rows_per_s": round(ours["rows"] / ours["seconds"]),
        "ours_extract_s": ours["extract_s"],
        "ours_extract_span_s": ours["extract_span_s"],
        "ours_extract_slots": ours["slots"],
        "ours_load_and_reconcile_s": round(ours["load_and_reconcile_s"], 3),
        "ours_peak_rss_mb": round(ours["peak_rss_mb"]),
        "serial_s": round(serial["seconds"], 3),
        "serial_extract_s": serial["extract_s"],
        "serial_load_and_reconcile_s": round(serial["load_and_reconcile_s"], 3),
        "source_generation_s": round(generation_s, 3),
        "floor_s": round(floor["seconds"], 3),
        "floor_with_checkpoint_s": round(floor["with_checkpoint_s"], 3),
        "floor_rows_per_s": round(floor["rows"] / floor["seconds"]),
        "floor_peak_rss_mb": round(floor["peak_rss_mb"]),
        "ratio": round(ours["seconds"] / floor["seconds"], 2),
        "ratio_without_source_generation": round((ours["seconds"] - generation_s) / floor["seconds"], 2),
        "ratio_vs_durable_floor": round(ours["seconds"] / floor["with_checkpoint_s"], 2),
        "serial_ratio_vs_durable_floor": round(serial["seconds"] / floor["with_checkpoint_s"], 2),
    }
    for side in (ours, serial):
        if floor["rows"] != side["rows"]:
            raise RuntimeError(f"floor loaded {floor['rows']} rows, ours {side['rows']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=50_000)
    parser.add_argument("--child", choices=["http", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--media", default="", help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "http":
        print(json.dumps(child_http(args.url, [m for m in args.media.split(",") if m], args.load)))
    elif args.child == "floor":
        print(json.dumps(child_floor()))
    else:
        print(json.dumps(run(args.rows, args.page_size), indent=2))


if __name__ == "__main__":
    main()
