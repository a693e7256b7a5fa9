"""`make airflow-ui` with a task running: Ctrl-C stops every process the command started
(api-server, scheduler, its LocalExecutor workers, the task, dag-processor, triggerer, simulator),
and the LocalExecutor runs as many workers as the machine has CPUs, not Airflow's default 32.

Starts the real command (`python -m adctr.local.airflow_ui`, so a real `airflow standalone`) on a
throwaway project root whose only DAG sleeps, and sends SIGINT to its process group, as a
terminal does on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from adctr.local import airflow_env as localenv

from tests.conftest import ROOT
from tests.helpers import free_port

SLEEPER = '''
from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def sleeper():
    @task
    def sleep():
        import time

        time.sleep(600)

    sleep()


sleeper()
'''



def _sessions(pid: int) -> set[int]:
    """The sessions of `pid` and of its descendants (the command may start one of its own)."""
    sessions = {os.getsid(pid)}
    for child in psutil.Process(pid).children(recursive=True):
        try:
            sessions.add(os.getsid(child.pid))
        except OSError:
            pass
    return sessions


def _processes_in(sessions: set[int]) -> list[psutil.Process]:
    """Every live process of these sessions, wherever it was re-parented to. (Not found by its
    environment: Airflow's setproctitle overwrites /proc/<pid>/environ.)"""
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) in sessions and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (OSError, psutil.NoSuchProcess):
            pass
    return found


def _wait(predicate: Callable[[], Any], what: str, timeout: float, ui: subprocess.Popen, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ui.poll() is not None:
            raise AssertionError(f"airflow-ui exited with {ui.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if result := predicate():
                return result
        except requests.RequestException:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}:\n{log.read_text()[-4000:]}")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("stop", ["Ctrl-C", "SIGTERM"])
def test_a_signal_stops_every_process_the_command_started(tmp_path: Path, stop: str) -> None:
    """Ctrl-C: SIGINT to the command's foreground process group, as a terminal sends it.
    SIGTERM: to the command alone, as `kill`, systemd or a closing IDE sends it."""
    root = tmp_path / "project"
    (root / "dags").mkdir(parents=True)
    (root / "dags" / "sleeper.py").write_text(SLEEPER)
    for name in ("config", "plugins"):
        (root / name).symlink_to(ROOT / name)
    var = tmp_path / "var"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("AIRFLOW__CORE__PARALLELISM", "ADCTR_DAGS_FOLDER")}
    env.update({
        "ADCTR_PROJECT_ROOT": str(root), "ADCTR_VAR_DIR": str(var),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    })  # fmt: skip
    log = tmp_path / "airflow-ui.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        ui = subprocess.Popen(
            [sys.executable, "-m", "adctr.local.airflow_ui", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    sessions = {ui.pid}
    try:
        _wait(lambda: requests.get(f"{base}/api/v2/monitor/health", timeout=5).ok, "the api-server", 180, ui, log)
        token = requests.post(f"{base}/auth/token", timeout=10, json={
            "username": localenv.LOCAL_ADMIN_USER, "password": localenv.LOCAL_ADMIN_PASSWORD})  # fmt: skip
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        _wait(lambda: requests.get(f"{base}/api/v2/dags/sleeper", headers=auth, timeout=5).ok, "the DAG", 120, ui, log)
        requests.patch(f"{base}/api/v2/dags/sleeper", headers=auth, json={"is_paused": False}, timeout=10).raise_for_status()
        run = requests.post(f"{base}/api/v2/dags/sleeper/dagRuns", headers=auth, json={"logical_date": None},
                            timeout=10)  # fmt: skip
        run.raise_for_status()
        tis = f"{base}/api/v2/dags/sleeper/dagRuns/{run.json()['dag_run_id']}/taskInstances"
        _wait(lambda: requests.get(tis, headers=auth, timeout=5).json()["task_instances"][0]["state"] == "running",
              "the task to run", 120, ui, log)  # fmt: skip

        sessions = _sessions(ui.pid)
        started = _processes_in(sessions)
        names = sorted(" ".join(p.cmdline())[:80] for p in started)
        print(f"{len(started)} processes before {stop}:\n" + "\n".join(names))
        scheduler = [p for p in started if " ".join(p.cmdline()).endswith("airflow scheduler")]
        assert scheduler, names
        assert scheduler[0].environ()["AIRFLOW__CORE__PARALLELISM"] == str(localenv.local_parallelism())
        # The task runs in a process group of its own (Airflow's supervisor makes one), which a
        # terminal's SIGINT to the foreground group never reaches.
        assert [p for p in started if os.getpgid(p.pid) == p.pid and os.getsid(p.pid) != p.pid], names

        stopping = time.monotonic()
        if stop == "Ctrl-C":
            os.killpg(ui.pid, signal.SIGINT)
        else:
            ui.send_signal(signal.SIGTERM)
        try:
            ui.wait(timeout=60)  # default --stop-timeout 30 s, then SIGTERM and SIGKILL
        except subprocess.TimeoutExpired:  # the command's log says which escalation it was in
            raise AssertionError(f"airflow-ui still running 60 s after {stop}:\n{log.read_text()[-4000:]}") from None
        # When the command is back (the shell prompt returns), nothing it started runs on.
        survivors = _processes_in(sessions)
        print(f"{stop}: the command exited after {time.monotonic() - stopping:.1f}s")
        assert not survivors, [" ".join(p.cmdline())[:120] for p in survivors]
    finally:
        if ui.poll() is None:
            sessions |= _sessions(ui.pid)
        for proc in _processes_in(sessions):
            proc.kill()
        ui.wait(timeout=30)
