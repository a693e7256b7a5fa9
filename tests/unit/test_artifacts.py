"""Artifact store: immutable, strictly increasing versions, atomic from a reader's view."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from adctr.core.storage import LocalStore
from adctr.release import artifacts

FILES = {"model.txt": b"tree", "feature_spec.json": b"{}", "metrics.json": b"{}"}


def test_publish_writes_manifest_hashes_and_success_last(tmp_path) -> None:  # noqa: ANN001
    store = LocalStore(tmp_path)
    v1 = artifacts.publish(store, "ctr", "main", FILES, {"blessed": True})
    v2 = artifacts.publish(store, "ctr", "main", FILES, {"blessed": False})
    assert (v1.version, v2.version) == (1, 2)
    manifest = artifacts.verify(store, "ctr", "main", 1)
    assert set(manifest["files"]) == set(FILES)
    assert artifacts.latest_blessed(store, "ctr", "main") == 1
    success = (tmp_path / "models/ctr/main/1/_SUCCESS").stat().st_mtime_ns
    assert all(
        (tmp_path / "models/ctr/main/1" / name).stat().st_mtime_ns <= success
        for name in (*FILES, "manifest.json")
    )


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


def test_versions_are_immutable(tmp_path) -> None:  # noqa: ANN001
    store = LocalStore(tmp_path)
    artifacts.publish(store, "ctr", "main", FILES, {})
    with pytest.raises(FileExistsError):
        store.write_bytes("models/ctr/main/1/model.txt", b"x", if_absent=True)


def _publish_one(root: str) -> int:
    return artifacts.publish(LocalStore(root), "ctr", "main", FILES, {}).version


def test_concurrent_publishers_never_share_a_version(tmp_path) -> None:  # noqa: ANN001
    with mp.get_context("spawn").Pool(4) as pool:
        versions = pool.map(_publish_one, [str(tmp_path)] * 12)
    assert sorted(versions) == list(range(1, 13))
