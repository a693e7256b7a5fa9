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
