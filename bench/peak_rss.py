"""Peak resident memory of this process, for the benches that compare two sides' memory.

Linux keeps `getrusage().ru_maxrss` across fork + exec: a child spawned by a parent that
once held 1 GB reports at least 1 GB whatever it used itself. `VmHWM` in /proc/self/status is
the high-water mark of this process's own address space (reset by exec), so it is read first.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class AnonPeak:
    """Peak anonymous resident memory (`RssAnon`), sampled every `interval` s on a thread.

    VmHWM also counts file pages mapped into the process, which the kernel can drop under
    pressure (training's memory-mapped spill file); what can run a machine out of memory,
    and what the OOM killer weighs, is the anonymous part. A sample may miss a peak shorter
    than `interval`."""

    def __init__(self, interval: float = 0.05) -> None:
        import threading

        self.interval, self.peak_kb = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                self.peak_kb = max(self.peak_kb, int(line.split()[1]))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "AnonPeak":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def mb(self) -> float:
        return self.peak_kb / 1024
