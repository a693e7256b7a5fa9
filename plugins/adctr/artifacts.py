"""Versioned model artifacts, the contract serving relies on (DESIGN.md, "Artifact contract").

    models/<model>/<variant>/<version>/{model.txt, feature_spec.json, metrics.json,
                                         manifest.json, _SUCCESS}
Version numbers are integers, strictly increasing per model/variant, and taken by an
exclusive create of `<version>/_VERSION`, so two concurrent publishers never share one.
Files go first, then `manifest.json` (sha256 of each), then `_SUCCESS`: a version without
`_SUCCESS` does not exist for any reader, so a crash mid-publish is never half-visible.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from adctr.storage import ObjectExistsError, ObjectStore

MODEL_FILE = "model.txt"
FEATURE_SPEC_FILE = "feature_spec.json"
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
SUCCESS_MARKER = "_SUCCESS"
VERSION_CLAIM = "_VERSION"
REQUIRED_FILES = (MODEL_FILE, FEATURE_SPEC_FILE, METRICS_FILE)
# Written by every training run and published with the model (calibration curve, importance).
PLOT_FILES = ("calibration.png", "feature_importance.png")
CANDIDATE_FILES = REQUIRED_FILES + PLOT_FILES


class ArtifactError(RuntimeError):
    """A version is incomplete, corrupt or cannot be published."""


@dataclass(frozen=True)
class PublishedVersion:
    model: str
    variant: str
    version: int
    uri: str
    manifest: dict[str, Any]


def _version_prefix(model: str, variant: str, version: int | None = None) -> str:
    base = f"models/{model}/{variant}"
    return base if version is None else f"{base}/{version}"


def _versions_in(store: ObjectStore, model: str, variant: str, marker: str) -> list[int]:
    prefix = _version_prefix(model, variant) + "/"
    found = set()
    for key in store.list(prefix):
        parts = key[len(prefix):].split("/")
        if len(parts) == 2 and parts[1] == marker and parts[0].isdigit():
            found.add(int(parts[0]))
    return sorted(found)


def complete_versions(store: ObjectStore, model: str, variant: str) -> list[int]:
    """Versions a reader may use (those with `_SUCCESS`), ascending."""
    return _versions_in(store, model, variant, SUCCESS_MARKER)


def read_json(store: ObjectStore, model: str, variant: str, version: int, name: str) -> dict[str, Any]:
    return json.loads(store.read_bytes(f"{_version_prefix(model, variant, version)}/{name}"))


def read_file(store: ObjectStore, model: str, variant: str, version: int, name: str) -> bytes:
    return store.read_bytes(f"{_version_prefix(model, variant, version)}/{name}")


def latest_blessed(store: ObjectStore, model: str, variant: str) -> int | None:
    """Newest complete version whose champion gate blessed it (the current champion)."""
    for version in reversed(complete_versions(store, model, variant)):
        if read_json(store, model, variant, version, MANIFEST_FILE).get("blessed"):
            return version
    return None


def verify(store: ObjectStore, model: str, variant: str, version: int) -> dict[str, Any]:
    """Check every file against the manifest's sha256; return the manifest."""
    prefix = _version_prefix(model, variant, version)
    if not store.exists(f"{prefix}/{SUCCESS_MARKER}"):
        raise ArtifactError(f"{store.uri(prefix)} has no {SUCCESS_MARKER}: not a published version")
    manifest = json.loads(store.read_bytes(f"{prefix}/{MANIFEST_FILE}"))
    for name, digest in manifest["files"].items():
        actual = hashlib.sha256(store.read_bytes(f"{prefix}/{name}")).hexdigest()
        if actual != digest:
            raise ArtifactError(f"{store.uri(prefix)}/{name}: sha256 {actual} != manifest {digest}")
    return manifest


def _claim_version(store: ObjectStore, model: str, variant: str) -> int:
    existing = _versions_in(store, model, variant, VERSION_CLAIM)
    version = (existing[-1] if existing else 0) + 1
    while True:
        key = f"{_version_prefix(model, variant, version)}/{VERSION_CLAIM}"
        try:
            store.write_bytes(key, str(version).encode(), if_absent=True)
            return version
        except ObjectExistsError:
            version += 1


def publish(
    store: ObjectStore,
    model: str,
    variant: str,
    files: dict[str, bytes],
    manifest_fields: dict[str, Any],
) -> PublishedVersion:
    """Publish a new immutable version; returns it once `_SUCCESS` is written."""
    missing = [name for name in REQUIRED_FILES if name not in files]
    if missing:
        raise ArtifactError(f"cannot publish {model}/{variant}: missing files {missing}")
    version = _claim_version(store, model, variant)
    prefix = _version_prefix(model, variant, version)
    for name in sorted(files):
        store.write_bytes(f"{prefix}/{name}", files[name], if_absent=True)
    manifest = {
        "model": model,
        "variant": variant,
        "version": version,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **manifest_fields,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    store.write_bytes(
        f"{prefix}/{MANIFEST_FILE}",
        (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(),
        if_absent=True,
    )
    store.write_bytes(f"{prefix}/{SUCCESS_MARKER}", b"", if_absent=True)
    return PublishedVersion(model, variant, version, store.uri(prefix), manifest)
