"""Small builders shared by tests (real schema, real types)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
import requests
from adctr.core.table_schemas import all_schemas, get_schema

if TYPE_CHECKING:
    import pandas as pd


def load_bench(name: str) -> Any:
    """A script of bench/ as a module (bench/ is scripts, not a package)."""
    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    key = f"bench_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module  # dataclasses (and pickling for worker processes) look modules up by name
    spec.loader.exec_module(module)
    return module


def raw_rows(day: date, n: int = 6, medium: str = "yahoo_ads") -> pa.Table:
    """n valid raw.ad_performance rows for one day, pulled an hour ago."""
    pulled = datetime.now(timezone.utc) - timedelta(hours=1)
    rows = []
    for i in range(n):
        rows.append(
            {
                "partition_date": day, "report_date": day, "medium": medium, "account_id": "1001",
                "advertiser_id": "adv001", "industry": "games", "campaign_id": "adv001-cmp1",
                "campaign_objective": "traffic", "ad_group_id": "adv001-cmp1-ag1",
                "placement": "search",
                "creative_id": f"adv001-cmp1-ag1-cr{i // 3 + 1}",
                "headline": "話題のゲーム", "description": "今すぐチェック", "ad_format": "image",
                "device": ("mobile", "desktop", "tablet")[i % 3],
                "impressions": 1000 + i, "clicks": 30 + i, "conversions": 2, "cost_micros": 1_500_000_000,
                "currency": "JPY", "source_job_id": "job-1",
                "ingested_at": pulled,
            }
        )  # fmt: skip
    return pa.Table.from_pylist(rows, schema=get_schema("raw.ad_performance").arrow_schema())


def synthetic_examples(
    n: int = 400, seed: int = 7, levels: int = 3, days: int = 14, max_impressions: int = 500
) -> pd.DataFrame:
    """Aggregated CTR examples with every feature source column (for small real models; the
    serving bench uses it with more levels, days and impressions)."""
    import numpy as np
    import pandas as pd
    from adctr.model.contract import CATEGORICAL, NUMERIC

    rng = np.random.default_rng(seed)
    names = [chr(ord("a") + i) for i in range(levels)]
    frame = pd.DataFrame({c: rng.choice([f"{c}_{s}" for s in names], n) for c in CATEGORICAL})
    for name in NUMERIC:
        if name != "day_of_week":
            frame[name] = rng.gamma(2.0, 10.0, n)
    frame.loc[rng.random(n) < 0.1, "creative_ctr_7d"] = np.nan
    frame["report_date"] = [date(2026, 11, 1) + timedelta(days=int(d)) for d in rng.integers(0, days, n)]
    frame["impressions"] = rng.integers(50, max_impressions, n)
    logit = -3 + 0.8 * (frame["device"] == "device_a") + 0.02 * frame["headline_length"]
    frame["clicks"] = rng.binomial(frame["impressions"], 1 / (1 + np.exp(-logit)))
    return frame


def tiny_model_files(seed: int = 7, rounds: int = 20) -> dict[str, bytes]:
    """model.txt, feature_spec.json and metrics.json of a small real LightGBM CTR model."""
    import json

    from training.trainer import fit_frames

    frame = synthetic_examples(seed=seed)
    cfg = {
        "lightgbm": {"objective": "cross_entropy", "num_leaves": 7, "min_data_in_leaf": 5,
                     "verbosity": -1, "num_threads": 1, "deterministic": True, "seed": seed},
        "num_boost_round": rounds, "early_stopping_rounds": rounds,
    }  # fmt: skip
    fitted, _ = fit_frames(frame.iloc[:300], frame.iloc[300:], "clicks", "impressions", cfg)
    return {
        "model.txt": fitted.model_bytes(),
        "feature_spec.json": fitted.spec.to_json().encode(),
        "metrics.json": json.dumps({"decision": {"blessed": True}}).encode(),
    }


def table_checksums(wh: Any, partitions: Iterable[date] | None = None) -> dict[str, tuple]:
    """Order-independent checksum of each table's content columns, plus duplicate keys.

    {table_id: (rows, checksum, duplicate unique keys)} for every schema'd table that exists.
    With `partitions`, only rows whose partition field is one of those dates count.
    """
    days = None if partitions is None else sorted(set(partitions))
    out = {}
    for table_id, schema in all_schemas().items():
        exists = wh.execute_native(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema.dataset, schema.table],
        )[0][0]
        if not exists:
            continue
        where, args = "", []
        if days is not None:
            where = f'where "{schema.partition_field}" in ({", ".join("?" for _ in days)})'
            args = list(days)
        cols = ", ".join(f'"{c}"' for c in schema.content_columns)
        (count, digest) = wh.execute_native(
            f"select count(*), coalesce(sum(hash({cols})::hugeint), 0) from {table_id} {where}", args
        )[0]
        dupes = 0
        if schema.unique_key:
            key = ", ".join(schema.unique_key)
            dupes = wh.execute_native(
                f"select count(*) from (select {key} from {table_id} {where}"
                f" group by {key} having count(*) > 1)",
                args,
            )[0][0]
        out[table_id] = (count, int(digest), dupes)
    return out


def chromium() -> str:
    """Debian's Chromium for the browser tests. They run or fail with the reason, never skip:
    a skipped browser test would let CI pass without the UI ever being looked at."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "chromium is not installed: this browser test needs Debian's chromium "
            "(`make test` installs it as root with apt-get; otherwise run `apt-get install chromium`)",
            pytrace=False,
        )
    return path


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def scoring_service(
    store: Path, slots: str, log: Path, poll_interval: float, env: dict[str, str] | None = None,
    loaded: str | None = None,
) -> Iterator[str]:
    """The real scoring service (`python -m adctr.serving`) on a free loopback port; yields its
    base URL once it answers /healthz (and, with `loaded`, once that slot has a model whose
    compile has ended, so its answers come from one engine and compare exactly). On exit
    it must end by the SIGTERM it is sent: a crash or a restart fails the test."""
    root = Path(__file__).resolve().parents[1]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "adctr.serving", "--store", str(store), "--slots", slots,
         "--port", str(port), "--poll-interval", str(poll_interval)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "plugins"), str(root)]), **(env or {})},
        stdout=subprocess.DEVNULL, stderr=log.open("wb"),  # a file, not a pipe: a full pipe stalls it
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = requests.get(f"{base}/healthz", timeout=1)
                if health.ok and (loaded is None or (health.json()["slots"][loaded] and all(
                    v["predictor"]["state"] == "ready"
                    for v in requests.get(f"{base}/v1/models/{loaded}", timeout=1).json()["versions"]
                ))):  # fmt: skip
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "scoring service did not start"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        # a segfault (-11) or any other exit would mean a request crashed the service
        assert proc.returncode in (0, -15), log.read_text()[-3000:]


def branch_checkout(target: Path, branch: str) -> Path:
    """A git checkout of this repository's working tree (committed or not) on a new branch
    `branch`, at `target`: what a developer's worktree of an experiment branch looks like."""
    root = Path(__file__).resolve().parents[1]
    run = lambda *args, cwd=target: subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=120)  # noqa: E731
    run("git", "clone", "--quiet", "--shared", str(root), str(target), cwd=root)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, check=True,
                            capture_output=True, timeout=60).stdout.decode().split("\0")  # fmt: skip
    for rel in filter(None, listed):
        source = root / rel
        if source.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
    run("git", "checkout", "-q", "-b", branch)
    commit(target, "the working tree under test")
    return target


def commit(checkout: Path, message: str) -> str:
    """Commit everything in `checkout`; returns the new commit."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com"}  # fmt: skip
    subprocess.run(["git", "add", "-A"], cwd=checkout, check=True, capture_output=True, timeout=60)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", message], cwd=checkout, check=True,
                   capture_output=True, timeout=60, env=env)  # fmt: skip
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, check=True, capture_output=True, text=True)
    return out.stdout.strip()
