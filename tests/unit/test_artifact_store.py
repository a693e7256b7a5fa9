"""The version contract on both stores (local folder, and GCS on a real GCS API emulator):
kill -9 at every publish step, concurrent publishers, tampering, copies and retirement."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from adctr.core.storage import GCSStore, ObjectExistsError, ObjectStore, open_store
from adctr.release import artifacts
from adctr.serving.reader import VersionReader

from tests.helpers import tiny_model_files

ROOT = Path(__file__).resolve().parents[2]
FILES = tiny_model_files()
PUBLISH_WRITES = 1 + len(FILES) + 2  # claim, each file, manifest, _SUCCESS

# Publishes one version, SIGKILLing itself just before write number `kill_at` (0-based).
KILLED_PUBLISHER = textwrap.dedent(
    """
    import os, signal, sys
    from adctr.release import artifacts
    from adctr.core.storage import open_store
    from tests.helpers import tiny_model_files

    store, kill_at = open_store(sys.argv[1]), int(sys.argv[2])
    writes, original = [0], store.write_bytes

    def write_bytes(key, data, if_absent=False):
        if writes[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        writes[0] += 1
        return original(key, data, if_absent)

    store.write_bytes = write_bytes
    print(artifacts.publish(store, "cvr", "main", tiny_model_files(), {"blessed": True}).version)
    """
)


@pytest.fixture(params=["local", "gcs"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "artifacts")
    return request.getfixturevalue("gcs_store_uri")


def _tamper(store: ObjectStore, key: str, data: bytes) -> None:
    """Change an object behind the store's back (a disk fault, a hand edit): the store itself
    refuses to write into a published version."""
    if isinstance(store, GCSStore):
        store._bucket().blob(store._name(key)).upload_from_string(data)
    else:
        Path(store.uri(key)).write_bytes(data)


def _publisher(store_uri: str, kill_at: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    return subprocess.run([sys.executable, "-c", KILLED_PUBLISHER, store_uri, str(kill_at)],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_kill_9_at_every_publish_step_never_shows_a_partial_version(store_uri: str) -> None:
    store = open_store(store_uri)
    first = artifacts.publish(store, "cvr", "main", FILES, {"blessed": True})
    reader = VersionReader(store, artifacts.model_prefix("cvr", "main"))
    assert sorted(reader.poll()) == [first.version]
    claimed = first.version
    for kill_at in range(PUBLISH_WRITES):
        result = _publisher(store_uri, kill_at)
        assert result.returncode == -9, (kill_at, result.stderr[-2000:])
        claimed += kill_at > 0  # the claim is the first write: killed before it, nothing taken
        assert artifacts.complete_versions(store, "cvr", "main") == [first.version], kill_at
        assert sorted(reader.poll()) == [first.version]  # the reader still serves the old one
        assert not reader.refused  # a partial version is invisible, not an error
    # The next publisher gets a number no killed publisher took, and completes.
    result = _publisher(store_uri, PUBLISH_WRITES + 1)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) == claimed + 1
    assert artifacts.complete_versions(store, "cvr", "main") == [first.version, claimed + 1]
    assert sorted(reader.poll()) == [claimed + 1]
    artifacts.verify(store, "cvr", "main", claimed + 1)


def test_concurrent_publishers_get_distinct_complete_versions(store_uri: str) -> None:
    store = open_store(store_uri)
    with ThreadPoolExecutor(4) as pool:  # separate store objects, as separate processes would have
        published = list(pool.map(
            lambda _: artifacts.publish(open_store(store_uri), "ctr", "main", FILES, {"blessed": True}).version,
            range(4),
        ))  # fmt: skip
    assert sorted(published) == [1, 2, 3, 4]
    assert artifacts.complete_versions(store, "ctr", "main") == [1, 2, 3, 4]
    for version in published:
        artifacts.verify(store, "ctr", "main", version)


def test_exclusive_create_is_enforced_by_the_store(store_uri: str) -> None:
    store = open_store(store_uri)
    store.write_bytes("models/x/main/1/_VERSION", b"a", if_absent=True)
    with pytest.raises(ObjectExistsError):
        store.write_bytes("models/x/main/1/_VERSION", b"b", if_absent=True)
    assert store.read_bytes("models/x/main/1/_VERSION") == b"a"


def test_tampered_version_is_refused_naming_the_file_and_the_old_one_serves_on(store_uri: str) -> None:
    store = open_store(store_uri)
    artifacts.publish(store, "cvr", "main", FILES, {"blessed": True})
    reader = VersionReader(store, artifacts.model_prefix("cvr", "main"))
    assert sorted(reader.poll()) == [1]
    artifacts.publish(store, "cvr", "main", FILES, {"blessed": True})
    _tamper(store, "models/cvr/main/2/model.txt", FILES["model.txt"].replace(b"tree", b"TREE", 1))
    assert sorted(reader.poll()) == [1]
    assert "model.txt: sha256" in reader.refused[2]
    assert reader.get().version == 1
    with pytest.raises(artifacts.ArtifactError, match="model.txt: sha256"):
        artifacts.verify(store, "cvr", "main", 2)


def test_copy_is_idempotent_and_retire_hides_before_deleting(store_uri: str) -> None:
    store = open_store(store_uri)
    v = artifacts.publish(store, "ctr", "main", FILES, {"blessed": True}).version
    assert artifacts.copy_version(store, "models/ctr/main", v, "serving/ctr0") is True
    assert artifacts.copy_version(store, "models/ctr/main", v, "serving/ctr0") is False
    assert artifacts.versions_under(store, "serving/ctr0") == [v]
    assert artifacts.verify_files(store, "serving/ctr0", v)[0]["version"] == v
    artifacts.retire_version(store, "serving/ctr0", v)
    assert artifacts.versions_under(store, "serving/ctr0") == []
    assert artifacts.complete_versions(store, "ctr", "main") == [v]  # the source is untouched
    # Foreign entries in a version folder are ignored by readers.
    store.write_bytes("serving/ctr0/notes.txt", b"x")
    store.write_bytes("serving/ctr0/7.bak/_SUCCESS", b"")
    store.write_bytes("serving/ctr0/007/_SUCCESS", b"")
    assert artifacts.versions_under(store, "serving/ctr0") == []


def test_the_airflow_path_goes_through_gcshook_on_the_emulator(gcs_airflow_backend: str) -> None:
    """get_store() in a task builds GCSStore on the provider's GCSHook (an anonymous
    google_cloud_default connection here); what it publishes, a serving reader reads."""
    from adctr.core.storage import GCSStore, get_store

    bucket = gcs_airflow_backend.split("/")[2]
    store = get_store("artifact")
    assert isinstance(store, GCSStore) and store._client is None
    version = artifacts.publish(store, "ctr", "main", FILES, {"blessed": True}).version
    assert type(store._client).__module__.startswith("google.cloud.storage")  # made by GCSHook
    assert store.uri("x") == f"gs://{bucket}/artifacts/x"
    reader = VersionReader(open_store(f"gs://{bucket}/artifacts"), "models/ctr/main")
    assert sorted(reader.poll()) == [version]
