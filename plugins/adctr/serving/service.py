"""The reference scoring service: TF-Serving-like REST over `VersionReader`s, with metrics.

    POST /v1/models/{slot}:predict   {"instances": [{...}, ...]} (rows) or
                                     {"inputs": {"feature": [...], ...}} (columns),
                                     optional "version": N; or an Arrow IPC stream
                                     (Content-Type: application/vnd.apache.arrow.stream,
                                     ?version=N) of feature columns
         -> {"slot", "model", "variant", "version", "predictions": [p, ...]}
    GET  /v1/models/{slot}           loaded version(s), state, refused versions
    GET  /v1/models                  every slot
    GET  /metrics                    Prometheus text, per slot and version
    GET  /healthz
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from adctr.core.storage import ObjectStore
from adctr.serving.instances import InstanceError
from adctr.serving.reader import NoVersionError, Poller, VersionPolicy, VersionReader

log = logging.getLogger(__name__)

ARROW_STREAM = "application/vnd.apache.arrow.stream"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServingMetrics:
    """Prometheus metrics of one service instance (its own registry, so tests can run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("adctr_serving_requests", "Predict requests by outcome",
                                ["slot", "version", "outcome"], registry=self.registry)  # fmt: skip
        self.instances = Counter("adctr_serving_instances", "Instances scored",
                                 ["slot", "version"], registry=self.registry)  # fmt: skip
        self.latency = Histogram("adctr_serving_request_seconds", "Predict latency (handler)",
                                 ["slot", "version"], buckets=LATENCY_BUCKETS, registry=self.registry)  # fmt: skip
        self.loaded_version = Gauge("adctr_serving_loaded_version", "Newest loaded version (0: none)",
                                    ["slot"], registry=self.registry)  # fmt: skip
        self.version_info = Gauge("adctr_serving_version_loaded", "1 per loaded slot version",
                                  ["slot", "version", "model", "variant"], registry=self.registry)  # fmt: skip
        self.load_failures = Counter("adctr_serving_load_failures", "Versions refused at load",
                                     ["slot"], registry=self.registry)  # fmt: skip

    def load_failed(self, slot: str, version: int, error: str) -> None:
        self.load_failures.labels(slot).inc()

    def refresh(self, readers: dict[str, VersionReader]) -> None:
        self.version_info.clear()
        for slot, reader in readers.items():
            loaded = reader.loaded
            self.loaded_version.labels(slot).set(max(loaded) if loaded else 0)
            for v, lv in loaded.items():
                self.version_info.labels(slot, str(v), lv.model, lv.variant).set(1)


class SlotService:
    """Readers for a set of slots in one store, polled together."""

    def __init__(self, store: ObjectStore, slots: list[str], policy: VersionPolicy | None = None,
                 poll_interval: float = 10.0) -> None:  # fmt: skip
        self.metrics = ServingMetrics()
        self.readers = {
            slot: VersionReader(store, f"serving/{slot}", policy, name=slot, on_load_failure=self.metrics.load_failed)
            for slot in slots
        }
        self.poller = Poller(list(self.readers.values()), poll_interval,
                             after_poll=lambda: self.metrics.refresh(self.readers))  # fmt: skip

    def poll(self) -> None:
        """Poll every slot now (the background poller does this every interval)."""
        self.poller.poll_once()

    def start(self) -> None:
        self.poller.start()

    def stop(self) -> None:
        self.poller.stop()

    def describe(self, slot: str) -> dict[str, Any]:
        reader = self.readers[slot]
        loaded = reader.loaded
        return {
            "slot": slot,
            "policy": reader.policy.describe(),
            "state": "AVAILABLE" if loaded else "NO_VERSION",
            "last_poll": reader.last_poll,
            "versions": [
                {
                    "version": v, "model": lv.model, "variant": lv.variant, "state": "AVAILABLE",
                    "loaded_at": lv.loaded_at, "blessed": lv.manifest.get("blessed"),
                    "created_at": lv.manifest.get("created_at"), "git_commit": lv.manifest.get("git_commit"),
                    "run_id": lv.manifest.get("run_id"),
                }  # fmt: skip
                for v, lv in sorted(loaded.items(), reverse=True)
            ],
            "refused": {str(v): err for v, err in reader.refused.items()},
        }


def _read_arrow(raw: bytes) -> Any:
    import pyarrow as pa

    try:
        return pa.ipc.open_stream(raw).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InstanceError([f"the body is not an Arrow IPC stream: {exc}"]) from None


def create_app(service: SlotService, start_polling: bool = True) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_polling:
            service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title="adctr scoring service", version="1", lifespan=lifespan)

    def reader_for(slot: str) -> VersionReader:
        if slot not in service.readers:
            raise HTTPException(404, f"unknown slot {slot!r}; serving {sorted(service.readers)}")
        return service.readers[slot]

    @app.post("/v1/models/{slot}:predict")
    async def predict(slot: str, request: Request) -> Response:
        """Scores inline on the event loop: CPU-bound work gains nothing from a thread hop
        under the GIL; run several workers (processes) for parallelism."""
        started = time.perf_counter()
        reader = reader_for(slot)
        version_label = "none"
        try:
            raw = await request.body()
            requested: Any = request.query_params.get("version")
            if request.headers.get("content-type", "").startswith(ARROW_STREAM):
                table = _read_arrow(raw)
                body = None
            else:
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise InstanceError([f"the body is not JSON: {exc}"]) from None
                if not isinstance(body, dict):
                    raise InstanceError(["the body must be an object with `instances` or `inputs`"])
                requested = body.get("version", requested)
            if isinstance(requested, str):
                requested = int(requested) if requested.isdigit() else requested
            if requested is not None and (not isinstance(requested, int) or isinstance(requested, bool)):
                raise InstanceError([f"`version` must be an integer, not {requested!r}"])
            lv = reader.get(requested)
            version_label = str(lv.version)
            if body is None:
                predictions = lv.predict_arrow(table)
            else:
                predictions = lv.predict(body.get("instances"), body.get("inputs"))
        except NoVersionError as exc:
            service.metrics.requests.labels(slot, version_label, "unavailable").inc()
            raise HTTPException(503 if requested is None else 404, str(exc)) from None
        except InstanceError as exc:
            service.metrics.requests.labels(slot, version_label, "bad_request").inc()
            raise HTTPException(400, {"error": "invalid request", "problems": exc.problems}) from None
        except Exception:
            service.metrics.requests.labels(slot, version_label, "error").inc()
            log.exception("%s: predict failed", slot)
            raise
        payload = json.dumps({
            "slot": slot, "model": lv.model, "variant": lv.variant, "version": lv.version,
            "predictions": predictions.tolist(),
        })  # fmt: skip
        service.metrics.requests.labels(slot, version_label, "ok").inc()
        service.metrics.instances.labels(slot, version_label).inc(len(predictions))
        service.metrics.latency.labels(slot, version_label).observe(time.perf_counter() - started)
        return Response(payload, media_type="application/json")

    @app.get("/v1/models/{slot}")
    def status(slot: str) -> dict[str, Any]:
        reader_for(slot)
        return service.describe(slot)

    @app.get("/v1/models")
    def all_status() -> list[dict[str, Any]]:
        return [service.describe(slot) for slot in sorted(service.readers)]

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def health() -> dict[str, Any]:
        return {"ok": True, "slots": {s: sorted(r.loaded) for s, r in service.readers.items()}}

    return app
