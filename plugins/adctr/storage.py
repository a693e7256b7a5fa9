"""Object storage for landed reports and model artifacts: a local directory or GCS.

Keys are '/'-separated paths under a root. `write_bytes(..., if_absent=True)` is an
exclusive create on both backends (local: hard link of a finished temp file; GCS:
`if_generation_match=0`), which is what makes version numbers safe to allocate concurrently.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

from adctr import settings


class ObjectExistsError(FileExistsError):
    """An exclusive create found the key already taken."""


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
        return self._path(key).read_bytes()

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
    """GCS through the Google provider's GCSHook (credentials from an Airflow Connection)."""

    def __init__(self, bucket: str, prefix: str, gcp_conn_id: str = "google_cloud_default") -> None:
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.hook = GCSHook(gcp_conn_id=gcp_conn_id)

    def __repr__(self) -> str:
        return f"GCSStore(gs://{self.bucket_name}/{self.prefix})"

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _bucket(self):  # noqa: ANN202 - google.cloud.storage.Bucket
        return self.hook.get_conn().bucket(self.bucket_name)

    def write_bytes(self, key: str, data: bytes, if_absent: bool = False) -> None:
        from google.api_core.exceptions import PreconditionFailed

        blob = self._bucket().blob(self._name(key))
        try:
            blob.upload_from_string(data, if_generation_match=0 if if_absent else None)
        except PreconditionFailed:
            raise ObjectExistsError(self.uri(key)) from None

    def read_bytes(self, key: str) -> bytes:
        return self._bucket().blob(self._name(key)).download_as_bytes()

    def exists(self, key: str) -> bool:
        return self._bucket().blob(self._name(key)).exists()

    def list(self, prefix: str) -> list[str]:
        full = self._name(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        return sorted(b.name[strip:] for b in self._bucket().list_blobs(prefix=full))

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{self._name(key)}"


def get_store(purpose: str) -> ObjectStore:
    """The store for 'landing', 'artifact' or 'dq' data, from config/storage.yaml."""
    if purpose not in ("landing", "artifact", "dq"):
        raise ValueError(f"unknown store purpose {purpose!r}")
    cfg = settings.load_config("storage")
    backend = os.environ.get("ADCTR_STORAGE") or cfg.get("backend") or "local"
    if backend == "local":
        local = cfg.get("local") or {}
        return LocalStore(settings.resolve_var_path(local.get(f"{purpose}_dir", purpose)))
    if backend == "gcs":
        gcs = cfg.get("gcs") or {}
        bucket = os.environ.get("ADCTR_GCS_BUCKET") or gcs.get("bucket")
        if not bucket:
            raise settings.ConfigError("GCS storage selected but no bucket: set ADCTR_GCS_BUCKET")
        return GCSStore(bucket, gcs.get(f"{purpose}_prefix", purpose), gcs.get("gcp_conn_id", "google_cloud_default"))
    raise settings.ConfigError(f"unknown storage backend {backend!r}; use 'local' or 'gcs'")
