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
import time
from collections.abc import Callable, Sequence
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


def stop_session(leader: int, timeout: float, interrupt_grace: float = 5.0) -> list[psutil.Process]:
    """Stop the session of `leader` (`airflow standalone`) and wait for every process of it.

    - SIGTERM to the processes of the leader's own group: Airflow's components shut down
      gracefully on it.
    - SIGINT to those Airflow moved to groups of their own (running tasks: the task runner fails
      the task and exits on SIGINT, while SIGTERM only runs the operator's on_kill). After
      `interrupt_grace` s, SIGTERM to what is left of them and to processes that appeared
      meanwhile, as Airflow's own supervisor escalates SIGINT -> SIGTERM.
    - The components get up to `timeout` s. Once the leader itself has exited, what is left has
      nobody to stop it (an idle LocalExecutor worker outlives the first SIGTERM, and the
      multiprocessing resource tracker waits for it): it gets SIGTERM then, not after the
      whole `timeout`.
    - SIGKILL 5 s after that (at once on a second Ctrl-C).

    Returns the processes still alive after that (none). Each escalation says which processes
    it waited for."""
    members = session_processes(leader)
    terminated = {p for p in members if _pgid(p) == leader}
    _signal(terminated, signal.SIGTERM)
    _signal(members - terminated, signal.SIGINT)
    grace = min(interrupt_grace, timeout)
    try:
        members = _wait_gone(members, grace) | session_processes(leader)
        late = members - terminated
        if late:
            _escalate(late, signal.SIGTERM, f"{grace:.0f}s after SIGINT")
        start = time.monotonic()
        members = _wait_gone(members, timeout - grace, until=lambda: not _alive_pid(leader)) | session_processes(leader)
        if members:
            waited = "after the leader exited" if not _alive_pid(leader) else f"after {timeout:.0f}s"
            _escalate(members, signal.SIGTERM, f"{waited} ({time.monotonic() - start + grace:.0f}s)")
            members = _wait_gone(members, 5.0) | session_processes(leader)
            if members:
                _escalate(members, signal.SIGKILL, "5s after SIGTERM")
    except KeyboardInterrupt:
        print("Killing the remaining Airflow processes", flush=True)
        members = {p for p in members if p.is_running()} | session_processes(leader)
        _signal(members, signal.SIGKILL)
    return sorted(_wait_gone(members, 10.0), key=lambda p: p.pid)


def _escalate(procs: set[psutil.Process], signum: int, when: str) -> None:
    print(f"{len(procs)} processes still running {when}, sending {signal.Signals(signum).name}: {_names(procs)}",
          flush=True)  # fmt: skip
    _signal(procs, signum)


def _alive_pid(pid: int) -> bool:
    try:
        return _alive(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False


def _wait_gone(
    procs: set[psutil.Process], timeout: float, until: Callable[[], bool] | None = None
) -> set[psutil.Process]:
    """Wait up to `timeout` s (or until `until()` holds) for `procs` to exit; the ones still
    alive. A zombie has exited (it holds nothing but its exit status until its parent reaps
    it), so it counts as gone: psutil.wait_procs would wait out the whole timeout for a zombie
    that is not our child."""
    deadline = time.monotonic() + timeout
    alive = {p for p in procs if _alive(p)}
    while alive and time.monotonic() < deadline and not (until and until()):
        psutil.wait_procs(alive, timeout=0.2)  # reaps our own children, sleeps otherwise
        alive = {p for p in alive if _alive(p)}
    return alive


def _names(procs: set[psutil.Process]) -> str:
    names = []
    for proc in sorted(procs, key=lambda p: p.pid):
        try:
            names.append(f"{proc.pid} {' '.join(proc.cmdline())[:60]}")
        except psutil.Error:
            names.append(str(proc.pid))
    return "; ".join(names)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_session(command: Sequence[str], env: dict[str, str], stop_timeout: float) -> int:
    """Run `command` in a session of its own until it exits or this process gets SIGINT/SIGTERM;
    either way, no process of that session outlives this call.

    Both signals get an explicit handler, held until the session is stopped (a second one
    kills at once). A command started from a script's background job inherits SIGINT ignored
    (POSIX shells do that without job control), and Python then leaves it ignored: Ctrl-C
    would do nothing at all (CI ran the tests that way)."""
    proc = subprocess.Popen(list(command), env=env, start_new_session=True)
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        print("\nStopping Airflow (every process it started)...", flush=True)
    finally:
        started = time.monotonic()
        try:
            survivors = stop_session(proc.pid, stop_timeout)
            proc.wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if survivors:
            print(f"Could not stop: {_names(set(survivors))}", file=sys.stderr, flush=True)
        else:
            print(f"Airflow stopped in {time.monotonic() - started:.1f}s", flush=True)
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
