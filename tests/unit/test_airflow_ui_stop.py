"""`stop_session`'s escalation on real processes: what outlives the first SIGTERM is
terminated as soon as the session's leader has exited, not after the whole grace period."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest
from adctr.local.airflow_ui import session_processes, stop_session

# A leader that exits on SIGTERM, with a child that survives its first SIGTERM (as an idle
# LocalExecutor worker does) and dies on the second.
LEADER = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import signal, time
signal.signal(signal.SIGTERM, lambda *_: signal.signal(signal.SIGTERM, signal.SIG_DFL))
print("ready", flush=True)
while True:
    time.sleep(0.1)
'''], stdout=subprocess.PIPE, text=True)
child.stdout.readline()
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.timeout(120)
def test_what_outlives_the_first_sigterm_is_stopped_once_the_leader_has_exited(capsys) -> None:  # noqa: ANN001
    leader = subprocess.Popen([sys.executable, "-c", LEADER], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)  # fmt: skip
    child = psutil.Process(int(leader.stdout.readline()))
    assert child in session_processes(leader.pid)
    try:
        survivors = stop_session(leader.pid, timeout=600, interrupt_grace=1)
        leader.wait(timeout=10)
        out = capsys.readouterr().out
        assert survivors == []
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
        assert "still running after the leader exited" in out and "SIGTERM" in out, out
        assert "SIGKILL" not in out, out  # the second SIGTERM was enough: no kill needed
    finally:
        for proc in (child, leader):
            try:
                proc.kill()
            except (psutil.NoSuchProcess, ProcessLookupError):
                pass
        leader.wait(timeout=10)
