"""The production topology, natively: Airflow on a fresh PostgreSQL database, with the
LocalExecutor or the CeleryExecutor (Redis broker, two `airflow celery worker` processes).

Components: api-server, scheduler, dag-processor, triggerer and, for Celery, the workers.
Each runs in its own process group with its log in AIRFLOW_HOME (`<component>.log`). The
database (`adctr_it_<pid>_<n>`) and the Redis database index are created for this stack and
dropped / flushed at `stop()`, which also checks that no process of this stack is left.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import time
from pathlib import Path

from tests.system.airflow_stack import AirflowStack, free_port

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
_serial = itertools.count(1)


def _pg_admin(sql: str) -> None:
    """One statement on the server's `postgres` database, outside a transaction."""
    import psycopg2

    con = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=10)
    with contextlib.closing(con):
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(sql)


def _redis(db: int):  # noqa: ANN202 - a redis.Redis client
    import redis

    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_timeout=10)


def _free_redis_db() -> int:
    """The first empty Redis database index above 0 (a broker in use always holds keys)."""
    for db in range(1, 16):
        if _redis(db).dbsize() == 0:
            return db
    raise RuntimeError("no empty Redis database among 1..15 for the Celery broker")


class PostgresStack(AirflowStack):
    """Airflow on its own PostgreSQL database; `executor` is LocalExecutor or CeleryExecutor."""

    def __init__(
        self,
        simulator_url: str,
        executor: str = "CeleryExecutor",
        workers: int = 2,
        worker_concurrency: int = 2,
        schedule: bool = False,
    ) -> None:
        if executor not in ("LocalExecutor", "CeleryExecutor"):
            raise ValueError(f"unsupported executor {executor!r}")
        super().__init__(simulator_url, schedule=schedule)
        self.executor = executor
        self.tag = f"adctr_it_{os.getpid()}_{next(_serial)}"
        self.database = self.tag
        self.redis_db: int | None = None
        self.killed_leftovers: dict[int, str] = {}
        pg = f"{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}"
        self.env.update({
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{pg}",
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        })  # fmt: skip
        self.workers: dict[str, dict[str, str]] = {}
        if executor == "CeleryExecutor":
            self.redis_db = _free_redis_db()
            self.env.update({
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}",
                # Explicit driver: SQLAlchemy 2.1's default for postgresql:// is psycopg 3 (not installed).
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{pg}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
                "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "adctr.orchestration.preload.CELERY_CONFIG",
            })  # fmt: skip
            for i in range(1, workers + 1):
                name = f"celery-worker-{i}"
                # Each worker serves its task logs on its own port (both run on this host).
                self.workers[name] = {
                    "hostname": f"{self.tag}_w{i}",
                    "log_port": str(free_port()),
                    "concurrency": str(worker_concurrency),
                }

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        _pg_admin(f'create database "{self.database}"')
        if self.redis_db is not None:
            _redis(self.redis_db).flushdb()
        super().start()
        for name, worker in self.workers.items():
            # Celery prints "celery@<hostname> ready." once the worker consumes its queue.
            ready = f"celery@{worker['hostname']} ready."
            self.wait_for(lambda n=name, r=ready: r in self._log_text(n), f"{name} ready", 120)

    @property
    def commands(self) -> dict[str, list[str]]:
        commands = {**super().commands, "triggerer": ["triggerer"]}
        for name, worker in self.workers.items():
            commands[name] = ["celery", "worker", "--celery-hostname", worker["hostname"],
                              "--concurrency", worker["concurrency"]]  # fmt: skip
        return commands

    def env_for(self, name: str) -> dict[str, str]:
        if name in self.workers:
            return {**self.env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": self.workers[name]["log_port"]}
        return self.env

    def stop(self) -> None:
        """Stop every component (process groups), then kill any process of this stack still
        alive: Airflow starts each task process in a process group of its own, so a task still
        running at teardown (a failed test) outlives its worker. Those are kept in
        `self.killed_leftovers`; after a clean run it is empty."""
        try:
            super().stop()
            self.killed_leftovers = self.leftover_processes()
            for pid in self.killed_leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if self.killed_leftovers:
                print(f"killed processes that outlived their component: {self.killed_leftovers}")
                time.sleep(1)
            still = self.leftover_processes()
            assert not still, f"processes of this stack survived teardown: {still}"
        finally:
            if self.redis_db is not None:
                _redis(self.redis_db).flushdb()
            _pg_admin(f'drop database if exists "{self.database}" with (force)')

    # -- inspection --------------------------------------------------------------------------

    def leftover_processes(self) -> dict[int, str]:
        """Live processes started for this stack: those whose environment has its AIRFLOW_HOME."""
        marker = f"AIRFLOW_HOME={self.home}".encode()
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                    found[int(entry.name)] = cmdline.decode(errors="replace")
            except OSError:  # gone meanwhile, or not ours to read
                continue
        return found

    def _log_text(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def executed_on_workers(self, run_ids: set[str]) -> dict[str, list[tuple[str, str, int]]]:
        """Per Celery worker: the (run_id, task_id, map_index) workloads it executed, from its
        log ("Executing workload in Celery: ExecuteTask(... ti=TaskInstance(...))")."""
        pattern = re.compile(
            r"Executing workload in Celery: .*?task_id='(?P<task>[^']+)'.*?"
            r"run_id='(?P<run>[^']+)'.*?map_index=(?P<idx>-?\d+)"
        )
        out: dict[str, list[tuple[str, str, int]]] = {}
        for name in self.workers:
            out[name] = [
                (m["run"], m["task"], int(m["idx"]))
                for m in pattern.finditer(self._log_text(name))
                if m["run"] in run_ids
            ]
        return out
