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
    GET  /openapi.json               the request bodies and answers (`adctr.serving.openapi`)

Inputs are bounded (config/slots.yaml `serving:`, `adctr.serving.limits`): a body over
`max_body_bytes` or more than `max_instances` instances gets 413 naming the limit, before the
body is read past it; a Content-Type other than JSON or Arrow gets 415; malformed JSON, NaN or
Infinity, a stream that is not Arrow, or JSON nested too deeply gets 400 naming the problem.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import msgspec
import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from adctr.core.storage import ObjectStore
from adctr.serving import openapi
from adctr.serving.compiled import PredictorConfig
from adctr.serving.instances import InstanceError, read_arrow, short_repr
from adctr.serving.limits import (
    BadContentLength,
    LimitExceeded,
    ServingLimits,
    check_instances,
    json_instance_count,
    read_body,
)
from adctr.serving.reader import LoadedVersion, NoVersionError, Poller, VersionPolicy, VersionReader

log = logging.getLogger(__name__)

ARROW_STREAM = openapi.ARROW_STREAM
_ENCODE = msgspec.json.Encoder().encode  # a tenth of json.dumps' time for 1,000 floats
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
                 poll_interval: float = 10.0, predictor: PredictorConfig | None = None) -> None:  # fmt: skip
        self.metrics = ServingMetrics()
        predictor = predictor or PredictorConfig.configured()
        self.readers = {
            slot: VersionReader(store, f"serving/{slot}", policy, name=slot, on_load_failure=self.metrics.load_failed,
                                predictor=predictor)  # fmt: skip
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
                    "run_id": lv.manifest.get("run_id"), "predictor": lv.predictor.describe(),
                }  # fmt: skip
                for v, lv in sorted(loaded.items(), reverse=True)
            ],
            "refused": {str(v): err for v, err in reader.refused.items()},
        }


class UnsupportedMediaType(ValueError):
    """The Content-Type is neither JSON nor an Arrow stream (HTTP 415)."""


def _media_type(request: Request) -> str | None:
    """`application/json; charset=utf-8` -> `application/json`; None when the header is absent."""
    value = request.headers.get("content-type")
    return None if value is None else value.partition(";")[0].strip().lower()


def _is_json(media: str | None) -> bool:
    """No Content-Type is taken as JSON (bare clients); `application/*+json` is JSON too."""
    if media is None or media == "application/json":
        return True
    return media.startswith("application/") and media.endswith("+json")


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON value (send null, or leave the feature out, for a missing value)")


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise InstanceError(["the body nests too deeply to parse as JSON"]) from None
    except ValueError as exc:  # also UnicodeDecodeError and the integer digit limit
        raise InstanceError([f"the body is not JSON: {str(exc)[:200]}"]) from None
    if not isinstance(body, dict):
        raise InstanceError(["the body must be an object with `instances` or `inputs`"])
    return body


def _version(requested: Any) -> int | None:
    if requested is None or (isinstance(requested, int) and not isinstance(requested, bool)):
        return requested
    if isinstance(requested, str) and requested.isascii() and requested.isdigit() and len(requested) < 19:
        return int(requested)
    raise InstanceError([f"`version` must be an integer, not {short_repr(requested)}"])


def _fast_json(reader: VersionReader, raw: bytes, limits: ServingLimits,
               query_version: str | None) -> tuple[LoadedVersion, np.ndarray] | None:  # fmt: skip
    """The usual JSON request in one pass (`adctr.serving.jsonbody`); None: anything else, which
    the validating path answers (or refuses, naming the problem) as it always did."""
    loaded = reader.loaded  # one reference for the whole request
    if not loaded:
        return None
    lv = loaded[max(loaded)]
    parsed = lv.json_body.decode(raw)
    if parsed is None or parsed.count > limits.max_instances:
        return None
    try:
        requested = _version(query_version if parsed.version is msgspec.UNSET else parsed.version)
    except InstanceError:
        return None
    if requested is not None and requested != lv.version:
        if requested not in loaded:
            return None
        lv = loaded[requested]
        parsed = lv.json_body.decode(raw)  # with that version's features and types
        if parsed is None:
            return None
    matrix = lv.json_body.matrix(parsed)
    return None if matrix is None else (lv, lv.predict_matrix(matrix))


class _PathParamRoute(APIRoute):
    """The predict route: its OpenAPI entry comes from the endpoint's signature as usual, but a
    request goes straight to the endpoint with the path's `slot`. The endpoint reads and checks
    its body itself, so FastAPI's parameter solving would only re-read one string; in a profile of
    the service it cost about as much as decoding, transforming and scoring one instance."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            return await endpoint(request.path_params["slot"], request)

        return handle


def create_app(service: SlotService, start_polling: bool = True, limits: ServingLimits | None = None) -> FastAPI:
    """The FastAPI app; `limits` default to those of config/slots.yaml."""
    limits = limits or ServingLimits.configured()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_polling:
            service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title="adctr scoring service", version="1", lifespan=lifespan)
    app.openapi = lambda: openapi.build(  # type: ignore[method-assign]  # rebuilt: follows hot swaps
        app, list(service.readers), [lv.fitted.spec for r in service.readers.values() for lv in r.loaded.values()],
        limits,
    )

    def reader_for(slot: str) -> VersionReader:
        if slot not in service.readers:
            raise HTTPException(404, f"unknown slot {slot!r}; serving {sorted(service.readers)}")
        return service.readers[slot]

    async def predict(slot: str, request: Request) -> Response:
        """Scores inline on the event loop: CPU-bound work gains nothing from a thread hop
        under the GIL; run several workers (processes) for parallelism."""
        started = time.perf_counter()
        reader = reader_for(slot)
        version_label = "none"
        requested: Any = None
        try:
            media = _media_type(request)
            arrow = media == ARROW_STREAM
            if not arrow and not _is_json(media):
                raise UnsupportedMediaType(
                    f"Content-Type {short_repr(media)} is neither application/json nor {ARROW_STREAM}"
                )
            raw = await read_body(request, limits)
            requested = request.query_params.get("version")
            fast = None if arrow else _fast_json(reader, raw, limits, requested)
            if fast is not None:
                lv, predictions = fast
                version_label = str(lv.version)
            else:  # the validating path: Arrow, and every JSON body the fast path leaves
                if arrow:
                    table = read_arrow(raw, limits.max_instances)
                    body = None
                else:
                    body = _parse_json(raw)
                    check_instances(json_instance_count(body), limits)
                    requested = body.get("version", requested)
                requested = _version(requested)
                lv = reader.get(requested)
                version_label = str(lv.version)
                if body is None:
                    predictions = lv.predict_arrow(table)
                else:
                    predictions = lv.predict(body.get("instances"), body.get("inputs"))
        except NoVersionError as exc:
            service.metrics.requests.labels(slot, version_label, "unavailable").inc()
            raise HTTPException(503 if requested is None else 404, str(exc)) from None
        except LimitExceeded as exc:
            service.metrics.requests.labels(slot, version_label, "too_large").inc()
            detail = {"error": "request too large", "problems": [str(exc)], "limit": f"serving.{exc.key}",
                      "value": exc.limit}  # fmt: skip
            raise HTTPException(413, detail) from None
        except UnsupportedMediaType as exc:
            service.metrics.requests.labels(slot, version_label, "bad_request").inc()
            raise HTTPException(415, {"error": "unsupported media type", "problems": [str(exc)]}) from None
        except (InstanceError, BadContentLength) as exc:
            service.metrics.requests.labels(slot, version_label, "bad_request").inc()
            problems = exc.problems if isinstance(exc, InstanceError) else [str(exc)]
            raise HTTPException(400, {"error": "invalid request", "problems": problems}) from None
        except Exception:
            service.metrics.requests.labels(slot, version_label, "error").inc()
            log.exception("%s: predict failed", slot)
            raise
        payload = _ENCODE({
            "slot": slot, "model": lv.model, "variant": lv.variant, "version": lv.version,
            "predictions": predictions.tolist(),
        })  # fmt: skip
        service.metrics.requests.labels(slot, version_label, "ok").inc()
        service.metrics.instances.labels(slot, version_label).inc(len(predictions))
        service.metrics.latency.labels(slot, version_label).observe(time.perf_counter() - started)
        return Response(payload, media_type="application/json")

    app.router.add_api_route(openapi.PREDICT_PATH, predict, methods=["POST"], responses=openapi.PREDICT_RESPONSES,
                             route_class_override=_PathParamRoute)  # fmt: skip

    @app.get(openapi.STATUS_PATH, responses=openapi.STATUS_RESPONSES)
    def status(slot: str) -> dict[str, Any]:
        reader_for(slot)
        return service.describe(slot)

    @app.get("/v1/models")
    def all_status() -> list[dict[str, Any]]:
        return [service.describe(slot) for slot in sorted(service.readers)]

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def health() -> dict[str, Any]:
        return {"ok": True, "slots": {s: sorted(r.loaded) for s, r in service.readers.items()}}

    return app
