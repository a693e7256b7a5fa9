"""Load, verify, poll and hot-swap model versions from a version folder (TF Serving style).

A version folder holds integer subfolders; a version exists only once `_SUCCESS` is there,
and is loaded only if every file matches the sha256 in its `manifest.json`. A loaded version
scores with `Booster.predict` at once and with its compiled trees once they are proved
(`adctr.serving.compiled`). A refused version is logged with the file named and counted as a
load failure, and whatever was serving keeps serving. Requests take a reference to the loaded set when they start, so a
swap never drops or mixes a request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm  # noqa: F401 - loaded with the service, not during its first hot swap
import numpy as np

from adctr.core.storage import ObjectNotFoundError, ObjectStore
from adctr.model import contract
from adctr.model.contract import FittedModel, load_model
from adctr.release import artifacts
from adctr.serving.compiled import LivePredictor, PredictorConfig
from adctr.serving.instances import ArrowMatrixBuilder, InstanceError, MatrixBuilder
from adctr.serving.jsonbody import JsonBodyDecoder

log = logging.getLogger(__name__)


class PolicyError(ValueError):
    """A version policy is malformed."""


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions to serve: `latest` (1), `{latest: k}`, or `{specific: [N, ...]}`."""

    latest: int | None = 1
    specific: tuple[int, ...] = ()

    @classmethod
    def parse(cls, value: Any) -> VersionPolicy:
        if value in (None, "latest"):
            return cls()
        if isinstance(value, dict) and len(value) == 1:
            (kind, arg), = value.items()
            if kind == "latest" and isinstance(arg, int) and not isinstance(arg, bool) and arg >= 1:
                return cls(latest=arg)
            if kind == "specific" and isinstance(arg, list) and arg and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in arg
            ):
                return cls(latest=None, specific=tuple(sorted(set(arg))))
        raise PolicyError(f"version policy must be latest, {{latest: k}} or {{specific: [N, ...]}}, not {value!r}")

    def select(self, available: list[int]) -> list[int]:
        if self.latest is not None:
            return sorted(available)[-self.latest:]
        return [v for v in self.specific if v in available]

    def describe(self) -> str:
        return f"latest: {self.latest}" if self.latest is not None else f"specific: {list(self.specific)}"


@dataclass(frozen=True)
class LoadedVersion:
    version: int
    manifest: dict[str, Any]
    manifest_sha256: str
    fitted: FittedModel
    builder: MatrixBuilder
    arrow_builder: ArrowMatrixBuilder
    json_body: JsonBodyDecoder
    predictor: LivePredictor
    loaded_at: float = field(default_factory=time.time)

    @property
    def model(self) -> str:
        return str(self.manifest["model"])

    @property
    def variant(self) -> str:
        return str(self.manifest["variant"])

    def predict(self, instances: Any = None, inputs: Any = None) -> np.ndarray:
        """Probabilities for rows (`instances`) or columns (`inputs`) of raw feature values."""
        if (instances is None) == (inputs is None):
            raise InstanceError(["send exactly one of `instances` (rows) or `inputs` (columns)"])
        b = self.builder
        columns, n = b.columns_of_inputs(inputs) if inputs is not None else b.columns_of_instances(instances)
        return self.predict_matrix(b.matrix(columns, n))

    def predict_arrow(self, table: Any) -> np.ndarray:
        """Probabilities for an Arrow table of raw feature columns."""
        return self.predict_matrix(self.arrow_builder.matrix(table))

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """`FittedModel.predict_matrix` on this version's predictor (the compiled trees once proved)."""
        return self.fitted.predict_matrix(matrix, self.predictor.score)


class NoVersionError(LookupError):
    """Nothing is loaded for the slot (yet), or the requested version is not loaded."""


class VersionReader:
    """Serves the versions of one folder (`serving/<slot>` or `models/<model>/<variant>`)."""

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        policy: VersionPolicy | None = None,
        name: str | None = None,
        on_load_failure: Callable[[str, int, str], None] | None = None,
        predictor: PredictorConfig | None = None,
    ) -> None:
        self.store = store
        self.predictor = predictor or PredictorConfig.configured()
        self.prefix = prefix.rstrip("/")
        self.policy = policy or VersionPolicy()
        self.name = name or self.prefix
        self._loaded: dict[int, LoadedVersion] = {}  # replaced whole, never mutated
        self._refused: dict[int, tuple[str, str]] = {}  # version -> (manifest sha, error)
        self._on_load_failure = on_load_failure
        self._lock = threading.Lock()  # one poll at a time; requests never take it
        self.last_poll: float | None = None

    @property
    def loaded(self) -> dict[int, LoadedVersion]:
        return self._loaded

    @property
    def refused(self) -> dict[int, str]:
        return {v: err for v, (_, err) in self._refused.items()}

    def _manifest_sha(self, version: int) -> str | None:
        try:
            data = self.store.read_bytes(f"{self.prefix}/{version}/{artifacts.MANIFEST_FILE}")
        except ObjectNotFoundError:
            return None  # retired between list and read
        return hashlib.sha256(data).hexdigest()

    def _load(self, version: int, sha: str) -> LoadedVersion:
        manifest, files = artifacts.verify_files(self.store, self.prefix, version)
        model_text = files[contract.MODEL_FILE].decode("utf-8")
        fitted = load_model(model_text, files[contract.FEATURE_SPEC_FILE].decode("utf-8"))
        builder = MatrixBuilder(fitted.spec)
        predictor = LivePredictor(self.predictor, model_text, fitted.booster, fitted.spec, f"{self.name} v{version}")
        return LoadedVersion(version, manifest, sha, fitted, builder, ArrowMatrixBuilder(builder, fitted.spec),
                             JsonBodyDecoder(builder), predictor)  # fmt: skip

    def poll(self) -> dict[int, LoadedVersion]:
        """Re-read the folder, load what the policy selects, swap in the new set.

        If none of the selected versions can be loaded, the current set keeps serving.
        """
        with self._lock:
            available = artifacts.versions_under(self.store, self.prefix)
            current = self._loaded
            fresh: dict[int, LoadedVersion] = {}
            for version in self.policy.select(available):
                sha = self._manifest_sha(version)
                if sha is None:
                    continue
                if version in current and current[version].manifest_sha256 == sha:
                    fresh[version] = current[version]
                    continue
                if self._refused.get(version, ("", ""))[0] == sha:
                    continue  # refused before and unchanged: do not retry every poll
                try:
                    fresh[version] = self._load(version, sha)
                    self._refused.pop(version, None)
                    log.info("%s: loaded version %d (%s/%s)", self.name, version,
                             fresh[version].model, fresh[version].variant)  # fmt: skip
                except Exception as exc:  # noqa: BLE001 - any bad version is refused, never served
                    self._refused[version] = (sha, str(exc))
                    log.error("%s: refused version %d: %s", self.name, version, exc)
                    if self._on_load_failure:
                        self._on_load_failure(self.name, version, str(exc))
            if fresh or not current:
                self._loaded = fresh
            elif current:
                log.warning("%s: no selected version loadable; still serving %s", self.name, sorted(current))
            self.last_poll = time.time()
            return self._loaded

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every loaded version's compile has ended (proved or refused): from then on a
        version's scores come from one engine (tests and benches compare answers exactly)."""
        for lv in self._loaded.values():
            lv.predictor.wait(timeout)

    def get(self, version: int | None = None) -> LoadedVersion:
        loaded = self._loaded  # one reference for the whole request
        if not loaded:
            raise NoVersionError(f"{self.name}: no version loaded")
        if version is None:
            return loaded[max(loaded)]
        if version not in loaded:
            raise NoVersionError(f"{self.name}: version {version} is not loaded (loaded: {sorted(loaded)})")
        return loaded[version]


class Poller:
    """Calls `poll()` on readers every `interval` seconds in a daemon thread."""

    def __init__(
        self, readers: list[VersionReader], interval: float, after_poll: Callable[[], None] | None = None
    ) -> None:
        self.readers = readers
        self.interval = interval
        self.after_poll = after_poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        for reader in self.readers:
            try:
                reader.poll()
            except Exception:  # noqa: BLE001 - a storage hiccup must not kill the poller
                log.exception("%s: poll failed; keeping the loaded versions", reader.name)
        if self.after_poll:
            self.after_poll()

    def start(self) -> None:
        self.poll_once()
        self._thread = threading.Thread(target=self._run, name="adctr-version-poller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll_once()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
