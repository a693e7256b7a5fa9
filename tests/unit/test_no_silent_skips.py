"""No test skips: under `make test` a test runs or fails with its reason. A skip is a place where
CI passes without the thing having been checked (the browser tests used to skip when Chromium
was missing, and `make browser` said "skipped" and went on)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT

SKIPS = re.compile(r"pytest\.(?:mark\.)?(?:skip|skipif|xfail|importorskip)\b|unittest\.skip")


def test_no_test_file_skips_or_expects_failure() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.resolve() != Path(__file__).resolve()
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if SKIPS.search(line)
    ]
    assert not found, "tests must run or fail, not skip:\n" + "\n".join(found)


def test_make_browser_stops_with_the_reason_when_chromium_cannot_be_had(tmp_path: Path) -> None:
    """Without chromium and without apt-get (a non-Debian laptop), the step fails, saying so."""
    tools = tmp_path / "bin"  # only what the recipe needs: no chromium, no apt-get
    tools.mkdir()
    for tool in ("id",):
        os.symlink(shutil.which(tool) or f"/usr/bin/{tool}", tools / tool)
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy2(ROOT / "Makefile", project / "Makefile")
    make = shutil.which("make")
    assert make, "make is not installed"
    out = subprocess.run([make, "--no-print-directory", "-C", str(project), "browser", "PYTHON=/bin/false"],
                         env={"PATH": str(tools), "HOME": str(tmp_path)}, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert out.returncode != 0, out.stdout
    assert "the browser tests need Debian's chromium" in out.stderr
    assert "apt-get install chromium" in out.stderr and "skipped" not in out.stdout + out.stderr
