"""serving_slot_sync through Airflow on the production storage path: the Google provider's
GCSHook against a real GCS API emulator (fake-gcs-server); and the GCS store's share of the
artifact contract there: sealed versions, idempotent re-syncs, no temp objects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from adctr.core.storage import ImmutableVersionError, get_store, open_store
from adctr.local.airflow_runner import DagRunFailed
from adctr.release import artifacts, retention, slots
from adctr.serving.reader import VersionReader

from tests.helpers import tiny_model_files

ROOT = Path(__file__).resolve().parents[2]
ELIGIBLE = {"blessed": True, "promotion": {"eligible": True, "why": "scheduled run on the newest data"}}
ACTOR = {"action": "sync", "run_id": "scheduled__1", "run_type": "scheduled", "triggered_by": None}
SMALL = {"model.txt": b"tree", "feature_spec.json": b"{}", "metrics.json": b"{}"}
BIG_MODEL = 9 * 1024 * 1024  # above google-cloud-storage's 8 MiB multipart limit: a resumable upload

# Publishes a model too big for one request; stops itself (SIGSTOP) with the resumable upload
# session open and no byte of the model sent, so the test can SIGKILL it mid-upload.
GCS_PUBLISHER = textwrap.dedent(
    """
    import os, signal, sys
    from google.cloud.storage._media.requests.upload import ResumableUpload
    from adctr.core.storage import open_store
    from adctr.release import artifacts

    real_transmit = ResumableUpload.transmit_next_chunk

    def transmit_next_chunk(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGSTOP)
        return real_transmit(self, *args, **kwargs)

    ResumableUpload.transmit_next_chunk = transmit_next_chunk
    files = {"model.txt": os.urandom(int(sys.argv[2])), "feature_spec.json": b"{}", "metrics.json": b"{}"}
    print(artifacts.publish(open_store(sys.argv[1]), "ctr", "main", files, {}).version)
    """
)


def test_slot_sync_dag_on_gcs(runner, gcs_airflow_backend, config_copy, isolated_var) -> None:  # noqa: ANN001
    store = get_store("artifact")
    files = tiny_model_files()
    for model in ("ctr", "cvr"):
        artifacts.publish(store, model, "main", files, ELIGIBLE)
        artifacts.publish(store, model, "main", files, {**ELIGIBLE, "blessed": False})
    reader = VersionReader(open_store(gcs_airflow_backend), "serving/cvr0")
    assert reader.poll() == {}

    outcome = runner.run("serving_slot_sync", None, conf={"retention_dry_run": True})
    assert outcome.state == "success"
    assert slots.current(store, "cvr0") == {"model": "cvr", "variant": "main", "version": 1}
    assert sorted(reader.poll()) == [1]
    configured = yaml.safe_load((config_copy / "slots.yaml").read_text())["slots"]
    assert len(configured) == 11  # ctr0, cvr0, and the A/B slots cvr1..cvr9 (main's until a variant claims one)
    assert [r["to"]["version"] for r in slots.audit_log(store)] == [1] * len(configured)

    # A slot naming a variant nothing was published for fails the run and moves no slot.
    cfg = yaml.safe_load((config_copy / "slots.yaml").read_text())
    cfg["slots"]["cvr1"] = {"model": "cvr", "variant": "exp-missing", "policy": "newest_blessed"}
    (config_copy / "slots.yaml").write_text(yaml.safe_dump(cfg))
    before = store.list("serving/")
    with pytest.raises(DagRunFailed, match="sync_slots"):
        runner.run("serving_slot_sync", None)
    assert store.list("serving/") == before


def test_a_published_version_on_gcs_refuses_every_write(gcs_store_uri: str) -> None:
    store = open_store(gcs_store_uri)
    artifacts.publish(store, "ctr", "main", SMALL, ELIGIBLE)
    base = "models/ctr/main/1"
    bucket = store._bucket()
    generations = {b.name: b.generation for b in bucket.list_blobs(prefix=store._name(base + "/"))}
    for name in ("model.txt", "manifest.json", "_SUCCESS", "new-file.txt"):
        for if_absent in (False, True):
            with pytest.raises(ImmutableVersionError, match="a published version never changes"):
                store.write_bytes(f"{base}/{name}", b"x", if_absent=if_absent)
    with pytest.raises(ImmutableVersionError):
        store.copy(f"{base}/metrics.json", f"{base}/model.txt")  # server-side copy, same rule
    assert {b.name: b.generation for b in bucket.list_blobs(prefix=store._name(base + "/"))} == generations
    artifacts.verify(store, "ctr", "main", 1)
    # A version without _SUCCESS, or retired, is writable (a killed sync's partial copy is redone).
    store.write_bytes("serving/ctr0/1/model.txt", b"half")
    store.write_bytes("serving/ctr0/1/model.txt", b"again")
    assert artifacts.copy_version(store, "models/ctr/main", 1, "serving/ctr0") is True
    artifacts.retire_version(store, "serving/ctr0", 1)
    assert artifacts.copy_version(store, "models/ctr/main", 1, "serving/ctr0") is True


def test_slot_sync_on_gcs_stays_idempotent_with_sealed_versions(gcs_store_uri: str) -> None:
    store = open_store(gcs_store_uri)
    for variant in ("exp-a", "exp-b"):
        artifacts.publish(store, "cvr", variant, SMALL, ELIGIBLE)
    specs = slots.parse_slots({"slots": {"cvr1": {"model": "cvr", "variant": "exp-a"}}}, {"ctr", "cvr"})
    changes = slots.plan(store, specs, {})
    slots.apply(store, changes, ACTOR)
    assert slots.plan(store, specs, {}) == []  # the next sync has nothing to do
    slots.apply(store, changes, ACTOR)  # even a stale plan re-applied skips the complete copy
    assert slots.current(store, "cvr1") == {"model": "cvr", "variant": "exp-a", "version": 1}
    # Switching variant replaces the same-numbered sealed copy (retired first, then copied).
    specs = slots.parse_slots({"slots": {"cvr1": {"model": "cvr", "variant": "exp-b"}}}, {"ctr", "cvr"})
    slots.apply(store, slots.plan(store, specs, {}), ACTOR)
    assert slots.current(store, "cvr1") == {"model": "cvr", "variant": "exp-b", "version": 1}
    artifacts.verify_files(store, "serving/cvr1", 1)


def test_a_publisher_killed_mid_upload_leaves_no_object_on_gcs(gcs_store_uri: str) -> None:
    """GCS writes no temp objects: the killed upload's session holds the bytes, not the bucket.
    The sweep still clears temp-named objects another tool may leave, once they are old."""
    store = open_store(gcs_store_uri)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    proc = subprocess.Popen([sys.executable, "-c", GCS_PUBLISHER, gcs_store_uri, str(BIG_MODEL)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (status := os.waitpid(proc.pid, os.WUNTRACED | os.WNOHANG))[0]:
        assert time.monotonic() < deadline, "publisher did not reach the model upload"
        time.sleep(0.02)
    assert os.WIFSTOPPED(status[1]), proc.stderr.read()[-2000:]  # paused inside the upload
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    raw = sorted(b.name for b in store._bucket().list_blobs())  # everything in the bucket
    written = ("_VERSION", "feature_spec.json", "metrics.json")  # the claim and the files before the model
    assert raw == [store._name(f"models/ctr/main/1/{n}") for n in written]
    assert store.temp_objects("") == []
    assert artifacts.complete_versions(store, "ctr", "main") == []

    store.write_bytes("models/ctr/main/1/.model.txt.x1y2.tmp", b"z" * 1000)  # left by another tool
    now = datetime.now(timezone.utc)
    max_age = retention.temp_file_max_age()
    assert retention.sweep_temp_files(store, max_age, now=now).deleted == ()  # too young
    swept = retention.sweep_temp_files(store, max_age, now=now + max_age + timedelta(minutes=1))
    assert [t.key for t in swept.deleted] == ["models/ctr/main/1/.model.txt.x1y2.tmp"]
    assert swept.bytes_reclaimed == 1000
    assert store.temp_objects("") == []
