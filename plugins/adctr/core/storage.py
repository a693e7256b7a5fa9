"""Object storage for landed reports and model artifacts: a local directory or GCS.

Keys are '/'-separated paths under a root. `write_bytes(..., if_absent=True)` is an
exclusive create on both backends (local: hard link of a finished temp file; GCS:
`if_generation_match=0`), which is what makes version numbers safe to allocate concurrently.
Every object write is atomic: a reader sees the old bytes or the new, never a part.

A folder holding `_SUCCESS` is sealed: the store refuses any write or copy of a key directly
in it (`ImmutableVersionError`), whatever flag the caller passes, so a published version
cannot be changed through the store. Only removing `_SUCCESS` (retiring the version) unseals.
The local store checks the seal and renames under one lock on the folder, so no write lands
after `_SUCCESS`; GCS has no multi-object transaction, so a write that checked the seal just
before another process wrote `_SUCCESS` can still land (readers' sha256 check against the
manifest refuses a version changed that way).

The local store writes a `.<name>.<random>.tmp` file next to the key and renames it; a writer
killed in between leaves it behind. `temp_objects` lists such leftovers (which `list` hides)
so retention can reclaim them. GCS uploads are atomic server-side (multipart, or a resumable
session that creates nothing until finished), so the GCS store writes no temp objects.

This module imports no Airflow at top level: the serving library uses it (`open_store`).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from adctr.core import settings
from adctr.core.errors import PermanentError

SEAL_MARKER = "_SUCCESS"
TEMP_PREFIX, TEMP_SUFFIX = ".", ".tmp"


class ObjectExistsError(FileExistsError):
    """An exclusive create found the key already taken."""


class ImmutableVersionError(PermanentError, ObjectExistsError):
    """A write into a sealed folder (one holding `_SUCCESS`): published versions never change.
    An ObjectExistsError too, so a version-number claim treats a sealed folder as taken."""


class ObjectNotFoundError(FileNotFoundError):
    """The key does not exist (both backends raise this, not their own error)."""


@dataclass(frozen=True)
class TempObject:
    """A writer's leftover temp file: what it is, how big, when it was last written."""

    key: str
    size: int
    modified: datetime


def is_temp_name(name: str) -> bool:
    """The store's own temp-file names, `.<name>.<random>.tmp`."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def seal_key(key: str) -> str:
    """The `_SUCCESS` key that seals the folder `key` is directly in."""
    folder = key.rpartition("/")[0]
    return f"{folder}/{SEAL_MARKER}" if folder else SEAL_MARKER


class ObjectStore(ABC):
    @abstractmethod
    def write_bytes(self, key: str, data: bytes, if_absent: bool = False) -> None:
        """Write atomically (`if_absent`: exclusive create); refused in a sealed folder."""

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

    @abstractmethod
    def temp_objects(self, prefix: str) -> list[TempObject]:
        """Leftover temp files under prefix (recursive), which `list` does not show."""

    def copy(self, src: str, dst: str) -> None:
        """Copy one object within the store (overwrites `dst`, unless its folder is sealed)."""
        self.write_bytes(dst, self.read_bytes(src))

    def _sealed(self, key: str) -> ImmutableVersionError:
        return ImmutableVersionError(
            f"{self.uri(key)}: its folder holds {SEAL_MARKER}, a published version never changes"
        )


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
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            with _folder_lock(path.parent):  # the seal check and the rename are one step
                if (path.parent / SEAL_MARKER).exists():
                    raise self._sealed(key)
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
            if p.is_file() and not is_temp_name(p.name)
        )

    def temp_objects(self, prefix: str) -> list[TempObject]:
        base = self._path(prefix) if prefix else self.root
        found = []
        for p in base.rglob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}") if base.is_dir() else ():
            try:
                st = p.stat()
            except FileNotFoundError:  # its writer finished (renamed it) meanwhile
                continue
            if p.is_file():
                modified = datetime.fromtimestamp(st.st_mtime, timezone.utc)
                found.append(TempObject(p.relative_to(self.root).as_posix(), st.st_size, modified))
        return sorted(found, key=lambda t: t.key)

    def uri(self, key: str) -> str:
        return str(self.root / key)


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive flock on the folder itself, released when its descriptor closes."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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

        if self.exists(seal_key(key)):
            raise self._sealed(key)
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
        blobs = self._bucket().list_blobs(prefix=full)
        return sorted(b.name[strip:] for b in blobs if not is_temp_name(b.name.rsplit("/", 1)[-1]))

    def temp_objects(self, prefix: str) -> list[TempObject]:
        """Objects named like the local store's temp files: the GCS store never writes any
        (uploads are atomic), so this finds only what another tool left there."""
        full = self._name(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        return [
            TempObject(b.name[strip:], int(b.size or 0), b.updated)
            for b in self._bucket().list_blobs(prefix=full)
            if is_temp_name(b.name.rsplit("/", 1)[-1])
        ]

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self._bucket().blob(self._name(key)).delete()
        except NotFound:
            pass

    def copy(self, src: str, dst: str) -> None:
        if self.exists(seal_key(dst)):
            raise self._sealed(dst)
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
