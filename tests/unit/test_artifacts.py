"""Artifact store: immutable, strictly increasing versions, atomic from a reader's view."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from pathlib import Path

import pytest
from adctr.core.errors import PermanentError
from adctr.core.storage import ImmutableVersionError, LocalStore
from adctr.release import artifacts

FILES = {"model.txt": b"tree", "feature_spec.json": b"{}", "metrics.json": b"{}"}


class RecordingStore(LocalStore):
    """The real local store plus the order of its completed writes (key, sha256 of the bytes):
    write order recorded as it happens, not inferred from mtimes a coarse clock makes equal."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        super().__init__(root)
        self.writes: list[tuple[str, str]] = []

    def write_bytes(self, key: str, data: bytes, if_absent: bool = False) -> None:
        super().write_bytes(key, data, if_absent)
        self.writes.append((key, hashlib.sha256(data).hexdigest()))


def _check_write_order(store: RecordingStore, base: str, first: str) -> dict:
    """`first` opens the folder, files follow, then the manifest, then `_SUCCESS` last; the
    manifest's sha256 covers every file written and every file now in the folder."""
    keys = [k.removeprefix(base + "/") for k, _ in store.writes if k.startswith(base + "/")]
    assert keys[0] == first and keys[-2:] == [artifacts.MANIFEST_FILE, artifacts.SUCCESS_MARKER], keys
    assert len(keys) == len(set(keys)), keys  # each key written once
    manifest = json.loads(store.read_bytes(f"{base}/{artifacts.MANIFEST_FILE}"))
    markers = {artifacts.VERSION_CLAIM, artifacts.MANIFEST_FILE, artifacts.SUCCESS_MARKER}
    written = {k.removeprefix(base + "/"): h for k, h in store.writes if k.startswith(base + "/")}
    files = {k: h for k, h in written.items() if k not in markers}
    assert manifest["files"] == files
    assert {k.removeprefix(base + "/") for k in store.list(base + "/")} - markers == set(files)
    return manifest


def test_publish_writes_manifest_hashes_and_success_last(tmp_path) -> None:  # noqa: ANN001
    store = RecordingStore(tmp_path)
    v1 = artifacts.publish(store, "ctr", "main", FILES, {"blessed": True})
    v2 = artifacts.publish(store, "ctr", "main", FILES, {"blessed": False})
    assert (v1.version, v2.version) == (1, 2)
    manifest = artifacts.verify(store, "ctr", "main", 1)
    assert set(manifest["files"]) == set(FILES)
    assert artifacts.latest_blessed(store, "ctr", "main") == 1
    for version in (1, 2):
        _check_write_order(store, f"models/ctr/main/{version}", first=artifacts.VERSION_CLAIM)
    assert manifest["files"] == {n: hashlib.sha256(d).hexdigest() for n, d in FILES.items()}


def test_a_slot_copy_writes_success_last(tmp_path) -> None:  # noqa: ANN001
    store = RecordingStore(tmp_path)
    artifacts.publish(store, "ctr", "main", FILES, {"blessed": True})
    store.writes.clear()
    assert artifacts.copy_version(store, "models/ctr/main", 1, "serving/ctr0") is True
    manifest = _check_write_order(store, "serving/ctr0/1", first=sorted(FILES)[0])
    assert manifest == artifacts.verify(store, "ctr", "main", 1)
    store.writes.clear()
    assert artifacts.copy_version(store, "models/ctr/main", 1, "serving/ctr0") is False
    assert store.writes == []  # a re-run writes nothing into the complete copy


def test_a_version_without_success_does_not_exist(tmp_path) -> None:  # noqa: ANN001
    store = LocalStore(tmp_path)
    artifacts.publish(store, "cvr", "main", FILES, {"blessed": True})
    (tmp_path / "models/cvr/main/2").mkdir(parents=True)
    (tmp_path / "models/cvr/main/2/model.txt").write_text("half")
    assert artifacts.complete_versions(store, "cvr", "main") == [1]
    with pytest.raises(artifacts.ArtifactError, match="not a published version"):
        artifacts.verify(store, "cvr", "main", 2)


def test_tampered_file_is_refused_naming_it(tmp_path) -> None:  # noqa: ANN001
    store = LocalStore(tmp_path)
    artifacts.publish(store, "ctr", "main", FILES, {"blessed": True})
    (tmp_path / "models/ctr/main/1/model.txt").write_text("other")
    with pytest.raises(artifacts.ArtifactError, match="model.txt: sha256"):
        artifacts.verify(store, "ctr", "main", 1)


def test_versions_are_immutable(tmp_path: Path) -> None:
    """The store itself refuses every write into a published version, whatever the flag."""
    store = LocalStore(tmp_path)
    artifacts.publish(store, "ctr", "main", FILES, {})
    base = "models/ctr/main/1"
    before = {k: store.read_bytes(k) for k in store.list(base + "/")}
    for name in ("model.txt", "manifest.json", "_SUCCESS", "_VERSION", "new-file.txt"):
        for if_absent in (False, True):
            with pytest.raises(ImmutableVersionError, match="a published version never changes"):
                store.write_bytes(f"{base}/{name}", b"x", if_absent=if_absent)
    with pytest.raises(ImmutableVersionError):
        store.copy(f"{base}/metrics.json", f"{base}/model.txt")
    assert {k: store.read_bytes(k) for k in store.list(base + "/")} == before
    assert store.temp_objects(base) == []  # the refused writes left no temp file behind
    artifacts.verify(store, "ctr", "main", 1)
    assert issubclass(ImmutableVersionError, PermanentError)  # a failed task at once, no retries
    # Other folders are unaffected, and a retired version (no _SUCCESS) may be written again.
    store.write_bytes("models/ctr/main/2/model.txt", b"y")
    store.write_bytes("models/ctr/main/2/model.txt", b"z")
    artifacts.retire_version(store, "models/ctr/main", 1)
    store.write_bytes(f"{base}/model.txt", b"x")


def _publish_one(root: str) -> int:
    return artifacts.publish(LocalStore(root), "ctr", "main", FILES, {}).version


def test_concurrent_publishers_never_share_a_version(tmp_path) -> None:  # noqa: ANN001
    with mp.get_context("spawn").Pool(4) as pool:
        versions = pool.map(_publish_one, [str(tmp_path)] * 12)
    assert sorted(versions) == list(range(1, 13))
