"""Start and stop a real local Airflow (api-server + scheduler + dag-processor, LocalExecutor).

Each component runs in its own process group, so teardown kills workers and children too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from adctr.local import airflow_env as localenv
from adctr.orchestration.pools import import_pools

from tests.helpers import free_port

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
VIEWER = "viewer"  # a second login, role viewer: may read DAGs, not run them


class AirflowStack:
    def __init__(self, simulator_url: str, schedule: bool = False) -> None:
        """`schedule=False` (the default) sets [scheduler] use_job_schedule off: the scheduler
        creates no run from a timetable (unpausing a DAG would otherwise start its latest
        interval's run, the whole pipeline for today, beside the test's own runs), while
        backfills and triggered runs run as usual."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **localenv.airflow_env(simulator_url),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # The DAG files do not change during a test: parse each once, not every 30 s.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(schedule),
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{localenv.LOCAL_ADMIN_USER}:admin,{VIEWER}:viewer",
        }
        self.home = Path(self.env["AIRFLOW_HOME"])
        self.procs: dict[str, subprocess.Popen] = {}
        self.scheduler_restarts = 0
        self.session = requests.Session()

    def start(self) -> None:
        localenv.write_passwords_file(self.home)
        subprocess.run([AIRFLOW, "db", "migrate"], env=self.env, check=True, capture_output=True)
        import_pools(self.env)
        for name, args in self.commands.items():
            self._launch(name, args)
        self.wait_for(lambda: self._get("/api/v2/monitor/health").status_code == 200, "api-server", 120)
        self.session.headers["Authorization"] = f"Bearer {self.login(localenv.LOCAL_ADMIN_USER)}"

    def login(self, username: str) -> str:
        """A JWT from POST /auth/token, with the password of the passwords file (the viewer's is
        generated into it by the api-server)."""
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json").read_text())
        token = requests.post(
            f"{self.base}/auth/token", json={"username": username, "password": passwords[username]}, timeout=10
        )
        token.raise_for_status()
        return token.json()["access_token"]

    @property
    def commands(self) -> dict[str, list[str]]:
        return {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port)],
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
        }

    def env_for(self, name: str) -> dict[str, str]:
        """The environment of component `name` (a subclass may give one component its own)."""
        return self.env

    def _launch(self, name: str, args: list[str]) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(
            [AIRFLOW, *args], env=self.env_for(name), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def _get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(f"{self.base}{path}", timeout=10, **kw)

    def api(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.session.request(method, f"{self.base}{path}", timeout=30, **kw)
        if resp.status_code >= 400:
            raise AssertionError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:500]}")
        return resp.json()

    def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in list(self.procs.items()):
                if proc.poll() is None:
                    continue
                # On the SQLite metadata DB the scheduler can die of a concurrent-write race
                # in Airflow itself (StaleDataError on dag_run). Restart it once, as any
                # supervisor (systemd, Kubernetes, Composer) would; report it; fail on a second.
                if name == "scheduler" and self.scheduler_restarts == 0:
                    self.scheduler_restarts += 1
                    print(f"scheduler exited with {proc.returncode}; restarting it once\n{self.logs(40)}")
                    self._launch(name, self.commands[name])
                    continue
                raise AssertionError(f"{name} exited with {proc.returncode}")
            try:
                result = predicate()
                if result:
                    return result
            except requests.RequestException:
                pass
            time.sleep(1)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    def logs(self, tail: int = 60) -> str:
        out = []
        for name in self.procs:
            path = self.home / f"{name}.log"
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            out.append(f"----- {name} (last {tail} lines) -----\n" + "\n".join(lines[-tail:]))
        task_logs = sorted((self.home / "logs").rglob("*.log")) if (self.home / "logs").exists() else []
        for path in task_logs[-6:]:
            out.append(f"----- {path.relative_to(self.home)} -----\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(out)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
