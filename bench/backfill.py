"""The whole pipeline at production volume, through Airflow, from an empty warehouse.

    python bench/backfill.py [--days 30] [--rows-per-day 1000000] [--parallelism 4]

Airflow as in the production topology (tests/system/celery_stack.PostgresStack: api-server,
scheduler, dag-processor, triggerer, LocalExecutor, metadata on PostgreSQL), the simulator in a
process of its own, sized to `rows-per-day` report rows a day over three media
(bench/sized_world.py). Then:

1. a backfill of `ad_performance_daily` over `days` report dates (POST /api/v2/backfills, the
   DAG's max_active_runs), every quality gate included;
2. `ctr_cvr_retrain` triggered for the newest date: the training sets, their gates, CTR and
   CVR trained on the window, evaluated and published.

Reported: wall time of each part; per stage (ingest, ELT, DQ, training) the task-seconds (sum
of task durations) and the busy wall time (union of the stage's task intervals); Airflow's own
share (wall time in which no task ran); peak RSS of the whole stack (every process of it,
sampled each second) and of its largest process. Beside it, the sum of the stages' floors,
measured afterwards on the same data (the floors of the other benches):
- ingest: each date's landed rows, in memory as Arrow, inserted into DuckDB and checkpointed;
- ELT: every SQL model's transpiled SQL hand-run as delete + insert in one DuckDB connection,
  each date of the daily models and the snapshot date of the training ones;
- DQ: one hand-written aggregate query per validated table and date (bench/dq_validate.py);
- training: bare `lightgbm.train` on the training rows already in memory, as many trees as
  each published model has.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: its shared helpers
from peak_rss import peak_rss_mb  # noqa: E402
from sim_process import simulator_process  # noqa: E402
from sized_world import MEDIA, write_config, write_expectations  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
END = date(2026, 11, 10)
DAILY, RETRAIN = "ad_performance_daily", "ctr_cvr_retrain"
STAGES = ("ingest", "elt", "dq", "training", "other")
TIMEOUT_S = 4 * 3600


def stage_of(dag_id: str, task_id: str) -> str:
    """The stage a task instance's time counts to (task ids of dags/*.py)."""
    if task_id.startswith("build__"):
        return "elt"
    if task_id.startswith("validate__"):
        return "dq"
    if task_id in ("summarize", "report_date", "snapshot_date", "media"):
        return "other"  # the run's date, media and summary: Airflow bookkeeping
    if dag_id == RETRAIN:
        return "training"  # check_inputs, train__<model>, publish__<model>
    return "ingest"  # plan_*, extract*, load_*


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def merged(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of [start, end] intervals, as disjoint intervals in order."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of [start, end] intervals."""
    return sum(end - start for start, end in merged(intervals))


def spans(tis: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(start, end) in epoch seconds of each task instance that ran (a skipped one has neither)."""
    return [(_ts(t["start_date"]), _ts(t["end_date"])) for t in tis if t["start_date"] and t["end_date"]]


def stage_times(tis: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per stage: task-seconds, busy wall seconds and task count, from the API's task instances."""
    out = {}
    for stage in STAGES:
        ran = spans([t for t in tis if stage_of(t["dag_id"], t["task_id"]) == stage])
        out[stage] = {"task_s": round(sum(e - s for s, e in ran), 1), "busy_s": round(union_seconds(ran), 1),
                      "tasks": len(ran)}  # fmt: skip
    return out


def pool_profile(tis: list[dict[str, Any]], pool: str = "warehouse") -> dict[str, float]:
    """Where the time of one pool's tasks goes. The warehouse pool's tasks take turns at the
    DuckDB file's single writer, so the backfill lasts at least the pool's busy time plus its
    hand-offs: the gaps, between its first start and last end, in which none of its tasks
    ran. `lightest_task_median_s` is the median run of the pool's task with the least work
    (the gate of a table that stays near-empty): what every task pays before and after its
    own work (process, DAG parse, imports, warehouse open, XCom)."""
    mine = [t for t in tis if t.get("pool") == pool and t["start_date"] and t["end_date"]]
    if not mine:
        return {"tasks": 0}
    ran = spans(mine)
    busy = merged(ran)
    gaps = [b[0] - a[1] for a, b in zip(busy, busy[1:])]
    by_task: dict[str, list[float]] = {}
    for t, (start, end) in zip(mine, ran):
        by_task.setdefault(t["task_id"], []).append(end - start)
    lightest = min(by_task, key=lambda k: statistics.median(by_task[k]))
    return {
        "tasks": len(mine), "task_s": round(sum(e - s for s, e in ran), 1),
        "busy_s": round(sum(e - s for s, e in busy), 1),
        "handoff_gaps_s": round(sum(gaps), 1), "handoff_gap_median_s": round(statistics.median(gaps), 2) if gaps else 0.0,
        "task_median_s": round(statistics.median(e - s for s, e in ran), 2),
        "lightest_task": lightest, "lightest_task_median_s": round(statistics.median(by_task[lightest]), 2),
    }  # fmt: skip


class StackMemory(threading.Thread):
    """Samples, each second, the RSS of every live process of the stack: its components and
    everything they started (executor workers, task processes). Found by environment
    (`PostgresStack.leftover_processes`) and by descent: a task process sets its title, which
    on Linux overwrites the environment `/proc/<pid>/environ` shows, so the marker alone misses
    every task. The simulator, standing for the media's APIs, is not counted."""

    def __init__(self, stack: Any) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.peak_total_mb = self.peak_process_mb = 0.0
        self.peak_process = ""
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        while not self._stop_event.wait(1.0):
            total = 0.0
            for pid, name in self._processes(psutil).items():
                try:
                    rss = psutil.Process(pid).memory_info().rss / 2**20
                except psutil.Error:
                    continue
                total += rss
                if rss > self.peak_process_mb:
                    self.peak_process_mb, self.peak_process = rss, name
            self.peak_total_mb = max(self.peak_total_mb, total)

    def _processes(self, psutil: Any) -> dict[int, str]:
        found = {pid: cmdline[:120] for pid, cmdline in self.stack.leftover_processes().items()}
        for pid in list(found):
            try:
                children = psutil.Process(pid).children(recursive=True)
            except psutil.Error:
                continue
            for child in children:
                try:
                    found.setdefault(child.pid, " ".join(child.cmdline())[:120])
                except psutil.Error:
                    continue
        return found

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


# -- driving Airflow -------------------------------------------------------------------------


def _runs(stack: Any, dag_id: str) -> list[dict[str, Any]]:
    return stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]


def _wait_runs(stack: Any, dag_id: str, count: int, what: str) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        runs = _runs(stack, dag_id)
        failed = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
        if failed:
            raise RuntimeError(f"{dag_id} runs failed: {failed}\n{stack.logs(40)}")
        return runs if len(runs) == count and all(r["state"] == "success" for r in runs) else None

    return stack.wait_for(done, what, TIMEOUT_S)


def _task_instances(stack: Any, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
    out, offset = [], 0
    while True:
        page = stack.api("GET", path, params={"limit": 100, "offset": offset})["task_instances"]
        out += page
        if len(page) < 100:
            return out
        offset += len(page)


def _account_clock() -> tuple[ZoneInfo, str]:
    """The account's zone and the daily DAG's start time of day (config/pipeline.yaml)."""
    from adctr.core import settings

    pipeline = settings.load_config("pipeline")
    minute, hour = pipeline["daily_schedule_cron"].split()[:2]
    return ZoneInfo(pipeline["account_timezone"]), f"{int(hour):02d}:{int(minute):02d}:00"


def drive(stack: Any, window: list[date]) -> dict[str, Any]:
    """The backfill of `window`, then the retrain for its last date; wall times and task instances."""
    zone, at = _account_clock()
    offset = datetime.combine(window[0], datetime.min.time(), zone).strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    for dag_id in (DAILY, RETRAIN):
        stack.wait_for(lambda d=dag_id: stack._get(f"/api/v2/dags/{d}").status_code == 200, f"{dag_id} parsed", 300)
        stack.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
    max_active = stack.api("GET", f"/api/v2/dags/{DAILY}/details")["max_active_runs"]
    body = {
        "dag_id": DAILY,
        # Data-interval timetable in the account's zone: logical date = report date + cron time.
        "from_date": f"{window[0]}T{at}{offset}", "to_date": f"{window[-1]}T{at}{offset}",
        "run_backwards": False, "dag_run_conf": {}, "reprocess_behavior": "none", "max_active_runs": max_active,
    }  # fmt: skip
    t = time.monotonic()
    stack.api("POST", "/api/v2/backfills", json=body)  # one backfill: the DAG's runs, in date order
    daily_runs = _wait_runs(stack, DAILY, len(window), f"{len(window)} backfill runs")
    backfill_s = time.monotonic() - t
    t = time.monotonic()
    run = stack.api("POST", f"/api/v2/dags/{RETRAIN}/dagRuns",
                    json={"logical_date": None, "conf": {"snapshot_date": window[-1].isoformat()}})  # fmt: skip
    _wait_runs(stack, RETRAIN, 1, "the retrain run")
    retrain_s = time.monotonic() - t
    tis = []
    for r in daily_runs:  # the report date of a daily run: its logical date in the account's zone
        day = datetime.fromisoformat(r["logical_date"].replace("Z", "+00:00")).astimezone(zone).date()
        tis += [{**ti, "bench_run_date": day.isoformat()} for ti in _task_instances(stack, DAILY, r["dag_run_id"])]
    tis += [{**ti, "bench_run_date": window[-1].isoformat()} for ti in _task_instances(stack, RETRAIN, run["dag_run_id"])]
    return {"backfill_s": backfill_s, "retrain_s": retrain_s, "max_active_runs": max_active, "tis": tis,
            "retrain_run_id": run["dag_run_id"]}  # fmt: skip


# -- floors ----------------------------------------------------------------------------------


def ingest_floor(window: list[date], tmp: Path) -> float:
    from adctr.core.storage import get_store
    from ingest_http import durable_insert  # sibling scripts of bench/ (on sys.path above)

    store, total = get_store("landing"), 0.0
    for day in window:
        db = tmp / f"floor_ingest_{day}.duckdb"
        total += durable_insert(store, day, MEDIA, db)["with_checkpoint_s"]
        db.unlink()
    return total


def elt_floor(copy: Path, window: list[date]) -> float:
    import elt_rebuild

    return sum(elt_rebuild.floor(copy, window)) + sum(elt_rebuild.floor(copy, window[-1:], RETRAIN))


def dq_floor(copy: Path, tis: list[dict[str, Any]]) -> float:
    """Each validate__<dataset>__<table> task's partition, checked by one hand-written query."""
    from adctr.core import settings
    from adctr.core.table_schemas import get_schema
    from adctr.quality.runner import suite_parameters
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse
    from dq_validate import floor_query

    wh = DuckDBWarehouse(copy)
    suites: dict[str, dict[str, Any]] = {}
    total = 0.0
    for ti in tis:
        if not ti["task_id"].startswith("validate__"):
            continue
        dataset, table = ti["task_id"].removeprefix("validate__").split("__", 1)
        table_id = f"{dataset}.{table}"
        day = _partition_of(ti)
        if table_id not in suites:
            suites[table_id] = json.loads((settings.expectations_dir() / f"{table_id}.json").read_text())
        suite = suites[table_id]
        params = suite_parameters(wh, get_schema(table_id), suite, day, datetime.now(timezone.utc))
        sql = floor_query(table_id, day, params)
        t = time.perf_counter()
        wh.execute_native(sql)
        total += time.perf_counter() - t
    return total


def _partition_of(ti: dict[str, Any]) -> date:
    """The partition a validate task checked: its rendered map index (the date it is mapped
    over) or else its run's report date."""
    label = ti.get("rendered_map_index")
    if label and ti.get("map_index", -1) >= 0:
        return date.fromisoformat(str(label)[:10])
    return date.fromisoformat(ti["bench_run_date"])


def child_training_floor(db: str, model: str, trees: int, snapshot: str) -> dict[str, Any]:
    """Bare lightgbm.train on the model's training rows already in memory (float64 Arrow
    feature columns, the trainer's spill file without the file, filled from the split's
    batches, not from a frame of the window), `trees` rounds, no validation set."""
    import lightgbm as lgb
    import numpy as np
    import pyarrow as pa
    from adctr.model.contract import CATEGORICAL, feature_columns
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    from training.config import model_config
    from training.dataset import plan_examples
    from training.features import lightgbm_params_for, spec_from_vocabularies
    from training.trainer import label_and_weight

    cfg = model_config(model)
    examples = plan_examples(DuckDBWarehouse(db), cfg, date.fromisoformat(snapshot))
    rate = cfg.get("negative_downsampling_rate")  # the spec training.trainer.fit builds
    spec = spec_from_vocabularies(examples.vocabularies(CATEGORICAL), tuple(cfg.get("exclude_features") or ()),
                                  float(rate) if rate else None)  # fmt: skip
    batches, labels, weights = [], [], []
    for frame in examples.batches("train"):
        batches.append(pa.record_batch([pa.array(np.asarray(c, dtype=np.float64)) for c in feature_columns(spec, frame)],
                                       names=spec.names))  # fmt: skip
        label, n = label_and_weight(frame, examples.num, examples.den, spec.negative_sampling_rate)
        labels.append(label)
        weights.append(n)
    columns = pa.Table.from_batches(batches)
    label, n = np.concatenate(labels), np.concatenate(weights)
    rows = len(n)
    del batches
    start = time.perf_counter()
    data = lgb.Dataset(columns, label=label, weight=n, **lightgbm_params_for(spec))
    lgb.train(dict(cfg["lightgbm"]), data, num_boost_round=trees)
    return {"seconds": time.perf_counter() - start, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def _trees_published(run_id: str) -> dict[str, int]:
    """Per model, the number of trees of the version the retrain run published."""
    from adctr.core.storage import get_store
    from adctr.release import artifacts

    store = get_store("artifact")
    trees = {}
    for v in artifacts.published_versions(store, run_id):
        metrics = artifacts.read_json(store, v["model"], v["variant"], v["version"], artifacts.METRICS_FILE)
        trees[v["model"]] = int(metrics["training"]["num_trees"])
    if sorted(trees) != ["ctr", "cvr"]:
        raise RuntimeError(f"the retrain run {run_id} published {sorted(trees)}, expected ctr and cvr")
    return trees


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the bench -------------------------------------------------------------------------------


def _through_airflow(tmp: Path, env: dict[str, str], window: list[date], parallelism: int) -> dict[str, Any]:
    """Start the stack, drive the backfill and the retrain, stop the stack; the stack's side
    of the result (also written to `tmp`/airflow_side.json, for --floors-only)."""
    from tests.system.celery_stack import PostgresStack

    # The clock a week past the window: every date's conversions are final at its first pull.
    with simulator_process(env, END + timedelta(days=8), tmp) as url:
        stack = PostgresStack(url, executor="LocalExecutor")
        stack.env["AIRFLOW__CORE__PARALLELISM"] = str(parallelism)
        memory = StackMemory(stack)
        try:
            stack.start()
            memory.start()
            t = time.monotonic()
            driven = drive(stack, window)
            driven["wall_s"] = time.monotonic() - t
        finally:
            memory.stop()
            stack.stop()
    driven.update(peak_rss_total_mb=memory.peak_total_mb, peak_rss_process_mb=memory.peak_process_mb,
                  peak_rss_process=memory.peak_process)  # fmt: skip
    (tmp / "airflow_side.json").write_text(json.dumps(driven))
    print(f"through Airflow: {driven['wall_s']:.0f}s (backfill {driven['backfill_s']:.0f}s, retrain "
          f"{driven['retrain_s']:.0f}s); measuring the floors", file=sys.stderr, flush=True)  # fmt: skip
    return driven


def run(days: int = 30, rows_per_day: int = 1_000_000, page_size: int = 50_000, parallelism: int = 4,
        listing_page_size: int = 10_000, workdir: Path | None = None, floors_only: bool = False) -> dict[str, Any]:  # fmt: skip
    """The bench; `workdir` keeps its warehouse, landing and Airflow home (a temporary
    directory otherwise), and `floors_only` re-measures the floors of a kept `workdir`."""
    window = [END - timedelta(days=i) for i in range(days - 1, -1, -1)]
    with contextlib.ExitStack() as cleanup:
        if workdir is None:
            tmp = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="adctr-bench-backfill-")))
        else:
            tmp = workdir
            tmp.mkdir(parents=True, exist_ok=True)
        var = tmp / "var"
        if floors_only:
            cfg_dir, expectations = tmp / "config", tmp / "expectations"
        else:
            cfg_dir = write_config(tmp, rows_per_day, page_size, listing_page_size)
            expectations = write_expectations(tmp)
        os.environ.update(ADCTR_CONFIG_DIR=str(cfg_dir), ADCTR_EXPECTATIONS_DIR=str(expectations), ADCTR_VAR_DIR=str(var))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
        if floors_only:
            driven = json.loads((tmp / "airflow_side.json").read_text())
        else:
            driven = _through_airflow(tmp, env, window, parallelism)
        wall_s = driven["wall_s"]
        tis = driven["tis"]
        stages = stage_times(tis)
        busy_s = union_seconds(spans(tis))
        from adctr.warehouse import get_warehouse

        copy = tmp / "floor_copy.duckdb"
        shutil.copyfile(get_warehouse().path, copy)
        trees = _trees_published(driven["retrain_run_id"])
        floors = {"ingest": ingest_floor(window, tmp), "dq": dq_floor(copy, tis)}
        training = {
            model: {**_child(env, "training_floor", str(copy), model, str(n), window[-1].isoformat()), "trees": n}
            for model, n in sorted(trees.items())
        }
        floors["elt"] = elt_floor(copy, window)  # last: it rewrites the copy's tables
        floors["training"] = sum(t["seconds"] for t in training.values())
        raw_rows = _raw_rows(copy)
    floor_total = sum(floors.values())
    return {
        "days": days, "rows_per_day_requested": rows_per_day, "raw_rows": raw_rows, "media": len(MEDIA),
        "parallelism": parallelism, "max_active_runs": driven["max_active_runs"],
        "wall_s": round(wall_s, 1), "backfill_s": round(driven["backfill_s"], 1), "retrain_s": round(driven["retrain_s"], 1),
        "stages": stages,
        "tasks_busy_s": round(busy_s, 1),
        "warehouse_pool": pool_profile(tis),
        "no_task_running_s": round(wall_s - busy_s, 1),
        "task_instances": len(tis),
        "peak_rss_total_mb": round(driven["peak_rss_total_mb"]), "peak_rss_process_mb": round(driven["peak_rss_process_mb"]),
        "peak_rss_process": driven["peak_rss_process"],
        "floors_s": {k: round(v, 1) for k, v in floors.items()}, "floor_total_s": round(floor_total, 1),
        "training_floor": training,
        "ratio_vs_floor_sum": round(wall_s / floor_total, 2),
    }  # fmt: skip


def _raw_rows(db: Path) -> int:
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    return int(DuckDBWarehouse(db).execute_native("select count(*) from raw.ad_performance")[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=50_000, help="report CSV rows per page")
    parser.add_argument("--listing-page-size", type=int, default=10_000, help="asset-library rows per page")
    parser.add_argument("--parallelism", type=int, default=4, help="[core] parallelism: task slots")
    parser.add_argument("--workdir", type=Path, help="keep the run's files here (default: a temporary directory)")
    parser.add_argument("--floors-only", action="store_true", help="re-measure the floors of a kept --workdir")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        assert kind == "training_floor", kind
        db, model, trees, snapshot = rest
        print(json.dumps(child_training_floor(db, model, int(trees), snapshot)))
        return
    if args.floors_only and not args.workdir:
        parser.error("--floors-only needs the --workdir of an earlier run")
    result = run(args.days, args.rows_per_day, args.page_size, args.parallelism, args.listing_page_size,
                 args.workdir, args.floors_only)  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
