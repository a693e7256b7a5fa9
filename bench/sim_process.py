"""The ad-media simulator in a process of its own, for the benches that pull from it over HTTP
(its CPU is then its own, as a real API's would be, and not charged to the client's process)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path


@contextlib.contextmanager
def simulator_process(env: dict[str, str], today: date, tmp: Path, timeout: float = 120) -> Iterator[str]:
    """Start `python -m adctr.simulator` with `env` (its ADCTR_CONFIG_DIR picks the world) and
    its clock at `today`; yield its base URL; stop it on exit."""
    url_file = tmp / f"simulator-{time.monotonic_ns()}.url"
    sim = subprocess.Popen(
        [sys.executable, "-m", "adctr.simulator", "--url-file", str(url_file), "--today", today.isoformat()], env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while not url_file.exists():
            if sim.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start (exit code {sim.poll()})")
            time.sleep(0.1)
        yield url_file.read_text()
    finally:
        sim.terminate()
        sim.wait(timeout=30)
