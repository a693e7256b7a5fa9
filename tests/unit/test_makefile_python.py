"""The Makefile finds a suitable Python or stops at once, saying what it needs and what it found
(Debian 12's python3.11 is 3.11.2, too old for the pinned set: pip would die deep in an install)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

MAKE = shutil.which("make")


def _old_python(folder: Path, name: str) -> Path:
    """A real interpreter that reports itself as 3.11.2 (as Debian 12's python3.11 does)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    code = 'import sys; sys.version_info = (3, 11, 2, "final", 0); exec(sys.argv.pop(1))'
    path.write_text(
        "#!/bin/bash\n"
        f'if [ "$1" = "-c" ]; then exec {sys.executable} -c \'{code}\' "$2"; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    path.chmod(0o755)
    return path


def _make(tmp_path: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """`make install` from a bare project folder (Makefile + requirements.txt) in tmp_path."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    shutil.copy2(ROOT / "Makefile", project / "Makefile")
    shutil.copy2(ROOT / "requirements.txt", project / "requirements.txt")
    env = {"HOME": str(tmp_path / "home"), "PATH": path or os.environ["PATH"]}
    assert MAKE, "make is not installed"
    return subprocess.run([MAKE, "--no-print-directory", "-C", str(project), "install", *args], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_an_explicit_python_that_is_too_old_stops_before_any_install(tmp_path: Path) -> None:
    old = _old_python(tmp_path / "bin", "python3.11")
    out = _make(tmp_path, f"PYTHON={old}")
    assert out.returncode != 0
    assert f"PYTHON={old} is Python 3.11.2" in out.stderr and "needs 3.11.3 or a newer 3.11.x" in out.stderr
    assert "PYTHON=/path/to/python3.11" in out.stderr
    assert not (tmp_path / "project" / ".venv").exists()  # nothing half-installed


def test_without_a_suitable_python_on_path_it_lists_what_it_found(tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    for name in ("python3.11", "python3"):
        _old_python(fake_bin, name)
    out = _make(tmp_path, path=f"{fake_bin}:/nonexistent")
    assert out.returncode != 0
    assert "needs Python 3.11.3 or a newer 3.11.x" in out.stderr
    assert f"{fake_bin}/python3.11=3.11.2" in out.stderr and f"{fake_bin}/python3=3.11.2" in out.stderr
    assert not (tmp_path / "project" / ".venv").exists()


def test_a_suitable_python_is_found_and_named(tmp_path: Path) -> None:
    assert (3, 11, 3) <= sys.version_info[:3] < (3, 12), "the test suite itself runs on a suitable 3.11"
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy2(ROOT / "Makefile", project / "Makefile")
    out = subprocess.run([MAKE or "make", "--no-print-directory", "-C", str(project), "check-python",
                          f"PYTHON={sys.executable}"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"using {sys.executable} (Python {'.'.join(map(str, sys.version_info[:3]))})" in out.stdout


def test_a_venv_made_by_a_too_old_python_is_refused_not_installed_into(tmp_path: Path) -> None:
    """The state a failed first `make demo` on 3.11.2 leaves: the next run must say so, not die in pip."""
    _old_python(tmp_path / "project" / ".venv" / "bin", "python")
    out = _make(tmp_path, f"PYTHON={sys.executable}")
    assert out.returncode != 0
    assert ".venv was made by Python 3.11.2" in out.stderr and "rm -rf .venv" in out.stderr
    assert not (tmp_path / "project" / ".venv" / ".requirements-installed").exists()
