"""What one predict request may cost: body bytes and instances (config/slots.yaml `serving:`).

The body is read as a stream and refused with 413 as soon as it passes the byte limit (or
before reading anything when Content-Length already says so), so a client cannot make the
service buffer more than the limit; the instance limit bounds the scoring work the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from adctr.core import settings
from adctr.core.errors import ConfigError


@dataclass(frozen=True)
class ServingLimits:
    """The fallbacks apply only when config/slots.yaml leaves a key out."""

    max_body_bytes: int = 32 * 1024 * 1024
    max_instances: int = 100_000

    @classmethod
    def configured(cls) -> ServingLimits:
        """The limits of config/slots.yaml (adctr.core.settings: ADCTR_CONFIG_DIR, deployments)."""
        return cls.from_config(settings.load_config("slots").get("serving"))

    @classmethod
    def from_config(cls, serving: dict[str, Any] | None) -> ServingLimits:
        """Read the `serving:` section of config/slots.yaml (None or {} = fallbacks)."""
        serving = serving or {}
        values: dict[str, int] = {}
        for key in ("max_body_bytes", "max_instances"):
            if key not in serving:
                continue
            value = serving[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"config/slots.yaml serving.{key} must be a positive integer, not {value!r}")
            values[key] = value
        return cls(**values)


class LimitExceeded(Exception):
    """The request passes a configured limit (HTTP 413); the message names the limit."""

    def __init__(self, key: str, limit: int, what: str) -> None:
        super().__init__(f"{what} exceeds serving.{key} = {limit:,}")
        self.key = key
        self.limit = limit


class BadContentLength(ValueError):
    """The Content-Length header is not a non-negative integer."""


async def read_body(request: Request, limits: ServingLimits) -> bytes:
    """The whole body, never holding more than `max_body_bytes` of it.

    Joins the chunks once, as `Request.body()` does (a single chunk is returned as is).
    """
    limit = limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise BadContentLength(f"Content-Length {declared[:40]!r} is not a byte count")
        if int(declared) > limit:
            raise LimitExceeded("max_body_bytes", limit, f"the body ({int(declared):,} bytes, Content-Length)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise LimitExceeded("max_body_bytes", limit, f"the body (more than {limit:,} bytes read)")
        chunks.append(chunk)
    return b"".join(chunks)


def check_instances(n: int, limits: ServingLimits) -> None:
    if n > limits.max_instances:
        raise LimitExceeded("max_instances", limits.max_instances, f"the request's {n:,} instances")


def json_instance_count(body: dict[str, Any]) -> int:
    """How many instances a JSON body asks to score (rows, or the longest column)."""
    instances, inputs = body.get("instances"), body.get("inputs")
    if isinstance(instances, list):
        return len(instances)
    if isinstance(inputs, dict):
        return max((len(v) for v in inputs.values() if isinstance(v, list)), default=0)
    return 0
