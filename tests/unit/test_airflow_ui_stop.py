"""`stop_session`'s escalation on real processes: what outlives the first SIGTERM is
terminated as soon as the session's leader has exited, not after the whole grace period."""

from __future__ import annotations

import os
import subprocess
import sys
import time

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


RUNNER = """
import sys
from adctr.local.airflow_ui import run_session
sys.exit(run_session([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"], {}, 30))
"""


@pytest.mark.timeout(120)
def test_ctrl_c_stops_the_session_even_when_sigint_was_inherited_ignored(tmp_path) -> None:  # noqa: ANN001
    """A script's background job starts with SIGINT ignored (POSIX shells without job control
    do that) and Python keeps it so; the command must still stop on Ctrl-C."""
    import signal

    out = tmp_path / "out"
    with out.open("wb") as sink:
        runner = subprocess.Popen(
            [sys.executable, "-c", RUNNER], stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while b"up" not in out.read_bytes():
            assert runner.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        sessions = {p for p in psutil.process_iter() if _sid(p.pid) in {runner.pid, *_child_sids(runner.pid)}}
        os.killpg(runner.pid, signal.SIGINT)
        runner.wait(timeout=30)
        assert "Airflow stopped in" in out.read_text(), out.read_text()
        assert not [p for p in sessions if p.is_running() and p.status() != psutil.STATUS_ZOMBIE and p.pid != runner.pid]
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=10)


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def _child_sids(pid: int) -> set[int]:
    return {s for c in psutil.Process(pid).children(recursive=True) if (s := _sid(c.pid)) is not None}
