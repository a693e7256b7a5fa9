"""Retention of killed writers' temp files: real publisher processes are SIGKILLed between
writing a multi-MB model's temp file and renaming it; the sweep reclaims the old leftovers,
leaves young ones (a writer may still be running), and a paused publisher still completes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from adctr.core import settings
from adctr.core.storage import LocalStore
from adctr.release import artifacts, retention

ROOT = Path(__file__).resolve().parents[2]
MODEL_BYTES = 4 * 1024 * 1024
HOUR = 3600.0

# Publishes through the real store and artifacts code; stops itself (SIGSTOP) once the model's
# temp file is fully written and before the rename that would publish it, so the test can
# SIGKILL it exactly there, or let it go on (SIGCONT).
PUBLISHER = textwrap.dedent(
    """
    import os, signal, sys
    from adctr.core.storage import open_store
    from adctr.release import artifacts

    store, size = open_store(sys.argv[1]), int(sys.argv[2])
    real_link = os.link

    def link(src, dst, *args, **kwargs):
        if os.path.basename(src).startswith(".model.txt."):
            os.kill(os.getpid(), signal.SIGSTOP)
        return real_link(src, dst, *args, **kwargs)

    os.link = link
    files = {"model.txt": os.urandom(size), "feature_spec.json": b"{}", "metrics.json": b"{}"}
    print(artifacts.publish(store, "ctr", "main", files, {"blessed": True}).version)
    """
)


def _temp_files(root: Path) -> set[Path]:
    return {p for p in root.rglob(".*.tmp") if p.is_file()}


def _disk_usage(root: Path) -> int:
    """Bytes allocated on disk under root, hidden files included (what `du` counts)."""
    return sum((root / d / f).stat().st_blocks * 512 for d, _, files in os.walk(root) for f in files)


def _paused_publisher(root: Path) -> tuple[subprocess.Popen, Path]:
    """Start a publisher and wait until it stops mid-publish; return it and its temp file."""
    before = _temp_files(root)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(root), str(MODEL_BYTES)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        pid, status = os.waitpid(proc.pid, os.WUNTRACED | os.WNOHANG)
        if pid and os.WIFSTOPPED(status):
            break
        if pid or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"publisher did not pause mid-publish: {proc.stderr.read()[-2000:]}")
        time.sleep(0.02)
    (temp,) = _temp_files(root) - before
    assert temp.stat().st_size == MODEL_BYTES  # written in full, not yet renamed
    return proc, temp


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def test_killed_publishers_temp_files_are_reclaimed_and_live_ones_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "artifacts"
    store = LocalStore(root)
    killed_long_ago, killed_just_now, live = [], [], []
    for bucket in (killed_long_ago, killed_long_ago, killed_just_now, live):
        bucket.append(_paused_publisher(root))
    for proc, _ in killed_long_ago + killed_just_now:
        _kill(proc)
    for _, temp in killed_long_ago:
        aged = time.time() - 7 * HOUR
        os.utime(temp, (aged, aged))
    before_model = ("_VERSION", "feature_spec.json", "metrics.json")  # written before model.txt
    assert store.list("models/") == sorted(f"models/ctr/main/{v}/{n}" for v in (1, 2, 3, 4) for n in before_model)
    assert len(store.temp_objects("")) == 4  # hidden from listings, so only the sweep sees them
    before = _disk_usage(root)

    with caplog.at_level(logging.INFO, logger="adctr.release.retention"):
        dry = retention.sweep_temp_files(store, retention.temp_file_max_age(), dry_run=True)
        assert _temp_files(root) == {t for _, t in killed_long_ago + killed_just_now + live}
        sweep = retention.sweep_temp_files(store, retention.temp_file_max_age())
    after = _disk_usage(root)

    assert retention.temp_file_max_age().total_seconds() == 6 * HOUR  # config/storage.yaml
    assert dry.deleted == sweep.deleted and sweep.bytes_reclaimed == 2 * MODEL_BYTES
    assert {root / t.key for t in sweep.deleted} == {t for _, t in killed_long_ago}
    assert _temp_files(root) == {t for _, t in killed_just_now + live}  # too young to be sure
    assert before - after >= 2 * MODEL_BYTES, (before, after)
    messages = [r.getMessage() for r in caplog.records]
    for temp in sweep.deleted:
        assert any(temp.key in m and f"{MODEL_BYTES} bytes" in m for m in messages), messages
    assert any(f"reclaimed {2 * MODEL_BYTES} bytes in 2 files" in m for m in messages), messages
    print(f"\ndisk under the store: {before} bytes before the sweep, {after} after")

    # The paused publisher was never disturbed: resumed, it renames its temp file and completes.
    (proc, temp), = live
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert int(out) == 4 and not temp.exists()
    assert artifacts.complete_versions(store, "ctr", "main") == [4]
    artifacts.verify(store, "ctr", "main", 4)


def test_the_nightly_retention_task_sweeps_temp_files(isolated_var: Path) -> None:
    """serving_slot_sync's apply_retention runs the sweep (only lists it in a dry run)."""
    from adctr.orchestration.tasks.slot_sync import apply_retention

    root = isolated_var / "artifacts"
    proc, temp = _paused_publisher(root)
    _kill(proc)
    aged = time.time() - 7 * HOUR
    os.utime(temp, (aged, aged))
    apply_retention({"params": {"retention_dry_run": True}})
    assert temp.exists()
    apply_retention({"params": {}})
    assert not temp.exists()


@pytest.mark.parametrize("hours", [0.5, 0, -1, "6", True])
def test_a_temp_file_age_below_an_hour_is_refused(hours: object, config_copy: Path) -> None:
    cfg = yaml.safe_load((config_copy / "storage.yaml").read_text())
    (config_copy / "storage.yaml").write_text(yaml.safe_dump({**cfg, "temp_file_max_age_hours": hours}))
    with pytest.raises(settings.ConfigError, match="temp_file_max_age_hours"):
        retention.temp_file_max_age()
