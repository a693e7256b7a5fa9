"""Versioned model artifacts, the contract serving relies on (DESIGN.md, "Artifact contract").

    models/<model>/<variant>/<version>/{model.txt, feature_spec.json, metrics.json,
                                         manifest.json, _SUCCESS}
Version numbers are integers, strictly increasing per model/variant, and taken by an
exclusive create of `<version>/_VERSION`, so two concurrent publishers never share one; a
claim is never deleted (not even by retention), so a number is never handed out twice.
Files go first, then `manifest.json` (sha256 of each), then `_SUCCESS`: a version without
`_SUCCESS` does not exist for any reader, so a crash mid-publish is never half-visible.
`_SUCCESS` also seals the folder: the store refuses any later write into it
(`adctr.core.storage.ImmutableVersionError`), so a published version never changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from adctr.core.storage import SEAL_MARKER, ObjectExistsError, ObjectNotFoundError, ObjectStore
from adctr.model.contract import FEATURE_SPEC_FILE, MODEL_FILE

METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
SUCCESS_MARKER = SEAL_MARKER  # the store seals a folder holding it
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


def model_prefix(model: str, variant: str) -> str:
    return f"models/{model}/{variant}"


def _version_prefix(model: str, variant: str, version: int | None = None) -> str:
    base = model_prefix(model, variant)
    return base if version is None else f"{base}/{version}"


def versions_under(store: ObjectStore, prefix: str, marker: str = SUCCESS_MARKER) -> list[int]:
    """Integer version folders directly under `prefix` holding `marker`, ascending.

    Anything else in the folder (temp files, `7.bak/`, notes) is ignored.
    """
    base = prefix.rstrip("/") + "/"
    found = set()
    for key in store.list(base):
        parts = key[len(base):].split("/")
        if len(parts) == 2 and parts[1] == marker and parts[0].isdigit() and not parts[0].startswith("0"):
            found.add(int(parts[0]))
    return sorted(found)


def _versions_in(store: ObjectStore, model: str, variant: str, marker: str) -> list[int]:
    return versions_under(store, model_prefix(model, variant), marker)


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


def promotable(manifest: dict[str, Any]) -> bool:
    """Blessed and published by a run allowed to move serving slots (see adctr.release.promotion)."""
    return bool(manifest.get("blessed")) and bool((manifest.get("promotion") or {}).get("eligible"))


def latest_promotable(store: ObjectStore, model: str, variant: str) -> int | None:
    """Newest version the slot sync may serve without an operator's pin."""
    for version in reversed(complete_versions(store, model, variant)):
        if promotable(read_json(store, model, variant, version, MANIFEST_FILE)):
            return version
    return None


def verify_files(store: ObjectStore, prefix: str, version: int) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Read a complete version under `prefix` and check every file against the manifest.

    Returns (manifest, files). Raises ArtifactError naming the first file that is missing
    or whose sha256 differs; a version without `_SUCCESS` is refused as unpublished.
    """
    base = f"{prefix}/{version}"
    if not store.exists(f"{base}/{SUCCESS_MARKER}"):
        raise ArtifactError(f"{store.uri(base)} has no {SUCCESS_MARKER}: not a published version")
    try:
        manifest = json.loads(store.read_bytes(f"{base}/{MANIFEST_FILE}"))
    except (ObjectNotFoundError, ValueError) as exc:
        raise ArtifactError(f"{store.uri(base)}/{MANIFEST_FILE} is missing or unreadable: {exc}") from None
    files = {}
    for name, digest in sorted(manifest.get("files", {}).items()):
        try:
            data = store.read_bytes(f"{base}/{name}")
        except ObjectNotFoundError:
            raise ArtifactError(f"{store.uri(base)}/{name} is listed in the manifest but missing") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise ArtifactError(f"{store.uri(base)}/{name}: sha256 {actual} != manifest {digest}")
        files[name] = data
    missing = [n for n in REQUIRED_FILES if n not in files]
    if missing:
        raise ArtifactError(f"{store.uri(base)}: manifest lists no {missing}")
    return manifest, files


def verify(store: ObjectStore, model: str, variant: str, version: int) -> dict[str, Any]:
    """Check every file of a model version against the manifest's sha256; return the manifest."""
    return verify_files(store, model_prefix(model, variant), version)[0]


def copy_version(store: ObjectStore, src_prefix: str, version: int, dst_prefix: str) -> bool:
    """Copy a verified version to `dst_prefix/<version>/` (files, manifest, `_SUCCESS` last).

    Idempotent: an identical complete copy is left alone (returns False). A different version
    with the same number there (another variant's) is retired first. The source is untouched.
    """
    manifest, files = verify_files(store, src_prefix, version)
    manifest_bytes = store.read_bytes(f"{src_prefix}/{version}/{MANIFEST_FILE}")
    dst = f"{dst_prefix}/{version}"
    if store.exists(f"{dst}/{SUCCESS_MARKER}"):
        if store.read_bytes(f"{dst}/{MANIFEST_FILE}") == manifest_bytes:
            return False
        retire_version(store, dst_prefix, version)
    for name in sorted(files):
        store.copy(f"{src_prefix}/{version}/{name}", f"{dst}/{name}")
    store.write_bytes(f"{dst}/{MANIFEST_FILE}", manifest_bytes)
    verify_copy = {n: hashlib.sha256(store.read_bytes(f"{dst}/{n}")).hexdigest() for n in files}
    if verify_copy != manifest["files"]:
        raise ArtifactError(f"copy of {store.uri(src_prefix)}/{version} to {store.uri(dst)} does not match")
    store.write_bytes(f"{dst}/{SUCCESS_MARKER}", b"")
    return True


def retire_version(store: ObjectStore, prefix: str, version: int) -> None:
    """Remove a version: `_SUCCESS` first (readers stop seeing it at once), then the rest."""
    base = f"{prefix}/{version}"
    store.delete(f"{base}/{SUCCESS_MARKER}")
    for key in store.list(base + "/"):
        if key.rsplit("/", 1)[-1] != VERSION_CLAIM:
            store.delete(key)


def _claim_version(store: ObjectStore, model: str, variant: str) -> int:
    existing = _versions_in(store, model, variant, VERSION_CLAIM)
    version = (existing[-1] if existing else 0) + 1
    while True:
        key = f"{_version_prefix(model, variant, version)}/{VERSION_CLAIM}"
        try:
            claim = {"claimed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            store.write_bytes(key, json.dumps(claim).encode(), if_absent=True)
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


def published_versions(store: ObjectStore, run_id: str | None = None) -> list[dict[str, Any]]:
    """Complete versions of every model/variant (only those of `run_id` if given)."""
    rows = []
    for key in store.list("models/"):
        parts = key.split("/")
        if len(parts) != 5 or parts[4] != SUCCESS_MARKER:
            continue
        model, variant, version = parts[1], parts[2], int(parts[3])
        manifest = read_json(store, model, variant, version, MANIFEST_FILE)
        if run_id and manifest.get("run_id") != run_id:
            continue
        metrics = read_json(store, model, variant, version, METRICS_FILE)
        rows.append(
            {
                "model": model,
                "variant": variant,
                "version": version,
                "uri": store.uri(f"models/{model}/{variant}/{version}"),
                "blessed": manifest.get("blessed"),
                "decision": manifest.get("decision"),
                "holdout": metrics["holdout"]["overall"],
                "base_rate_log_loss": metrics["baseline"]["base_rate_log_loss"],
            }
        )
    return sorted(rows, key=lambda r: (r["model"], r["variant"], r["version"]))
