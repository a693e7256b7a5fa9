"""Object storage for landed reports and model artifacts: a local directory or GCS.

Keys are '/'-separated paths under a root. `write_bytes(..., if_absent=True)` is an
exclusive create on both backends (local: hard link of a finished temp file; GCS:
`if_generation_match=0`), which is what makes version numbers safe to allocate concurrently.
Every object write is atomic: a reader sees the old bytes or the new, never a part.

This module imports no Airflow at top level: the serving library uses it (`open_store`).
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adctr.core import settings


class ObjectExistsError(FileExistsError):
    """An exclusive create found the key already taken."""


class ObjectNotFoundError(FileNotFoundError):
    """The key does not exist (both backends raise this, not their own error)."""


class ObjectStore(ABC):
    @abstractmethod
    def write_bytes(self, key: str, data: bytes, if_absent: bool = False) -> None: ...

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Keys under prefix (recursive), sorted."""

    @abstractmethod
    def uri(self, key: str) -> str: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove one key; a missing key is not an error (deletes are retried)."""

    def copy(self, src: str, dst: str) -> None:
        """Copy one object within the store (overwrites `dst`)."""
        self.write_bytes(dst, self.read_bytes(src))


class LocalStore(ObjectStore):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents and path != self.root.resolve():
            raise ValueError(f"key {key!r} escapes the store root")
        return path

    def write_bytes(self, key: str, data: bytes, if_absent: bool = False) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if if_absent:
                try:
                    os.link(tmp, path)  # atomic, fails if the key exists
                except FileExistsError:
                    raise ObjectExistsError(self.uri(key)) from None
            else:
                os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(self.uri(key)) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.endswith(".tmp")
        )

    def uri(self, key: str) -> str:
        return str(self.root / key)


class GCSStore(ObjectStore):
    """A bucket prefix in GCS.

    The client (a `google.cloud.storage.Client`) is made on first use by `client_factory`:
    inside Airflow `airflow_gcs_client` (credentials from an Airflow Connection), outside it
    `gcs_client` (the serving library's own credentials). A ready `client` may be given instead.
    """

    def __init__(
        self, bucket: str, prefix: str, client: Any = None, client_factory: Callable[[], Any] | None = None
    ) -> None:
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self._client = client
        self._client_factory = client_factory or gcs_client

    def __repr__(self) -> str:
        return f"GCSStore(gs://{self.bucket_name}/{self.prefix})"

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _bucket(self) -> Any:  # google.cloud.storage.Bucket
        if self._client is None:
            self._client = self._client_factory()
        return self._client.bucket(self.bucket_name)

    def write_bytes(self, key: str, data: bytes, if_absent: bool = False) -> None:
        from google.api_core.exceptions import PreconditionFailed

        blob = self._bucket().blob(self._name(key))
        try:
            blob.upload_from_string(data, if_generation_match=0 if if_absent else None)
        except PreconditionFailed:
            raise ObjectExistsError(self.uri(key)) from None

    def read_bytes(self, key: str) -> bytes:
        from google.api_core.exceptions import NotFound

        try:
            return self._bucket().blob(self._name(key)).download_as_bytes()
        except NotFound:
            raise ObjectNotFoundError(self.uri(key)) from None

    def exists(self, key: str) -> bool:
        return self._bucket().blob(self._name(key)).exists()

    def list(self, prefix: str) -> list[str]:
        full = self._name(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        return sorted(b.name[strip:] for b in self._bucket().list_blobs(prefix=full))

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self._bucket().blob(self._name(key)).delete()
        except NotFound:
            pass

    def copy(self, src: str, dst: str) -> None:
        bucket = self._bucket()
        bucket.copy_blob(bucket.blob(self._name(src)), bucket, self._name(dst))  # server-side

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{self._name(key)}"


def gcs_client(project: str | None = None) -> Any:
    """A google-cloud-storage client outside Airflow (serving): application default
    credentials, or anonymous against an emulator named by STORAGE_EMULATOR_HOST."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project or "local", credentials=AnonymousCredentials())
    return storage.Client(project=project)


def airflow_gcs_client(gcp_conn_id: str) -> Any:
    """A google-cloud-storage client from the Google provider's GCSHook (credentials from an
    Airflow Connection): the one place the core touches Airflow, only for `get_store` inside
    Airflow tasks. The serving library opens stores with `open_store`, which never calls it."""
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    return GCSHook(gcp_conn_id=gcp_conn_id).get_conn()


def open_store(uri: str) -> ObjectStore:
    """A store from a URI: `gs://bucket/prefix` or a local directory path (no Airflow needed)."""
    if uri.startswith("gs://"):
        bucket, _, prefix = uri[len("gs://"):].partition("/")
        return GCSStore(bucket, prefix, client=gcs_client())
    return LocalStore(uri)


def get_store(purpose: str) -> ObjectStore:
    """The store for 'landing', 'artifact' or 'dq' data, from config/storage.yaml."""
    if purpose not in ("landing", "artifact", "dq"):
        raise ValueError(f"unknown store purpose {purpose!r}")
    cfg = settings.load_config("storage")
    backend = settings.selected_backend("storage")
    if backend == "local":
        local = cfg.get("local") or {}
        return LocalStore(settings.resolve_var_path(local.get(f"{purpose}_dir", purpose)))
    gcs = cfg.get("gcs") or {}
    bucket = os.environ.get("ADCTR_GCS_BUCKET") or gcs.get("bucket")
    if not bucket:
        raise settings.ConfigError("GCS storage selected but no bucket: set ADCTR_GCS_BUCKET")
    conn_id = gcs.get("gcp_conn_id", "google_cloud_default")
    return GCSStore(bucket, gcs.get(f"{purpose}_prefix", purpose), client_factory=lambda: airflow_gcs_client(conn_id))
