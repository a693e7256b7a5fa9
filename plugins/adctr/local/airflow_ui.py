"""`make airflow-ui`: the Airflow web UI on this project, embedded default, fixed local login.

Starts the ad-media simulator on a loopback port and `airflow standalone` with the project's
DAGs, plugins and a project-local AIRFLOW_HOME (var/airflow). Login: admin / admin (written
into the SimpleAuthManager passwords file, never generated into a log).

Ctrl-C (SIGINT) or SIGTERM stops every process the command started before it returns.
Left to itself, that does not happen: `airflow standalone` only terminates its direct children
and nothing waits for their workers, a SIGTERM to this command reaches none of them, and
Airflow puts each running task in a process group of its own, which a terminal's Ctrl-C misses.
Hence standalone runs in a session of its own, and on a signal this command stops every process
of that session (and every descendant) and waits for them: see `stop_session`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import psutil

from adctr.local import airflow_env as localenv
from adctr.local.demo import simulator_process


def session_processes(leader: int) -> set[psutil.Process]:
    """The process `leader` (a session leader), its descendants, and every other process still in
    its session (orphans re-parented to init, task processes in process groups of their own)."""
    found: set[psutil.Process] = set()
    try:
        root = psutil.Process(leader)
        found |= {root, *root.children(recursive=True)}
    except psutil.NoSuchProcess:
        pass
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == leader:
                found.add(proc)
        except OSError:
            pass
    return {p for p in found if p.pid != os.getpid() and _alive(p)}


def _signal(procs: set[psutil.Process], signum: int) -> None:
    for proc in procs:
        try:
            proc.send_signal(signum)
        except psutil.NoSuchProcess:
            pass


def _pgid(proc: psutil.Process) -> int | None:
    try:
        return os.getpgid(proc.pid)
    except OSError:
        return None


def stop_session(leader: int, timeout: float) -> list[psutil.Process]:
    """Stop the session of `leader`: SIGTERM to the processes of its own group (Airflow's
    components shut down gracefully on it), SIGINT to those Airflow moved to groups of their own
    (running tasks: the task runner fails the task and exits on SIGINT, while SIGTERM only runs
    the operator's on_kill, as Airflow's own supervisor escalates); SIGTERM to everything left
    after `timeout` s, SIGKILL 5 s later (at once on a second Ctrl-C). Returns the processes
    still alive after that (none)."""
    members = session_processes(leader)
    for proc in members:
        _signal({proc}, signal.SIGTERM if _pgid(proc) == leader else signal.SIGINT)
    try:
        for signum, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            _, alive = psutil.wait_procs(members, timeout=wait)
            members = set(alive) | session_processes(leader)
            if not members:
                return []
            _signal(members, signum)
    except KeyboardInterrupt:
        print("Killing the remaining Airflow processes", flush=True)
        members = {p for p in members if p.is_running()} | session_processes(leader)
        _signal(members, signal.SIGKILL)
    _, alive = psutil.wait_procs(members, timeout=10)
    return [p for p in alive if _alive(p)]


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_session(command: Sequence[str], env: dict[str, str], stop_timeout: float) -> int:
    """Run `command` in a session of its own until it exits or this process gets SIGINT/SIGTERM;
    either way, no process of that session outlives this call."""
    proc = subprocess.Popen(list(command), env=env, start_new_session=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    code = 0
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        print("\nStopping Airflow (every process it started)...", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        survivors = stop_session(proc.pid, stop_timeout)
        proc.wait()
        if survivors:
            print(f"Could not stop: {sorted(p.pid for p in survivors)}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--stop-timeout", type=float, default=30.0,
        help="seconds Airflow's processes get to exit after Ctrl-C before they are killed (default 30)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    with simulator_process() as sim_url:
        from adctr.local.airflow_runner import prepare

        prepare(sim_url, quiet=False)
        env = {
            **os.environ,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(args.port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{args.port}",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        print(
            f"Airflow UI: http://127.0.0.1:{args.port}  login {localenv.LOCAL_ADMIN_USER} / "
            f"{localenv.LOCAL_ADMIN_PASSWORD}  (parallelism {env['AIRFLOW__CORE__PARALLELISM']}; "
            "Ctrl-C stops it)",
            flush=True,
        )
        return run_session([str(Path(sys.executable).with_name("airflow")), "standalone"], env, args.stop_timeout)


if __name__ == "__main__":
    raise SystemExit(main())
