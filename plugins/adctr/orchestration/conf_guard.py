"""Refuse a DAG run's conf before the run exists, naming every bad field.

Airflow validates each Param against its own JSON schema, one at a time, and accepts keys
that are no Param at all (a typo such as `lookback_day` would be ignored in silence). This
module adds what a whole-conf check needs:

- unknown keys are refused, with the DAG's real Param names;
- every Param's schema is checked and *all* problems are listed, not only the first;
- cross-field rules are declared on the Param they hang off, with the custom schema keyword
  `x-requires` (JSON Schema tools ignore unknown `x-` keywords): `{value: [params...]}` means
  "when this Param equals value, these Params must be non-empty". Example, on `action`:
  `{"pin": ["slot", "version", "reason"]}`; on a boolean switch: `{"true": ["force_reason"]}`.

`check_conf` is pure (unit-tested); `ConfGuardMiddleware` applies it in the api-server to
`POST /api/v2/dags/{dag_id}/dagRuns` (UI trigger form and REST) and `POST /api/v2/backfills`,
answering HTTP 400 before Airflow creates anything. It is registered by
`plugins/adctr_operations.py`. The tasks keep their own checks for runs created elsewhere
(`dag.test`, the CLI).

A root middleware runs before Airflow's route dependencies, so the guard first asks Airflow
itself who the caller is and whether they may run the DAG (the same `get_user` and
`requires_access_dag` the trigger and backfill routes depend on). Only an authenticated caller
allowed to create runs of that DAG gets the 400 naming its Params; anyone else's request goes
to Airflow untouched (and unread), which answers its own 401/403. The buffered body is capped
(`conf_guard_max_body_bytes` in config/pipeline.yaml, HTTP 413 beyond it).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

REQUIRES = "x-requires"
log = logging.getLogger(__name__)

_DAG_RUNS = re.compile(r"/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")
_BACKFILLS = re.compile(r"/api/v2/backfills/?$")


def _rule_key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not (value.strip() if isinstance(value, str) else value))


def check_conf(schemas: Mapping[str, Mapping[str, Any]], defaults: Mapping[str, Any], conf: Mapping[str, Any]) -> list[str]:
    """Problems of `conf` for a DAG whose Params have these JSON `schemas` and `defaults`
    (empty list = valid). Each problem starts with the field it concerns."""
    from jsonschema import Draft7Validator, FormatChecker

    problems = [
        f"{key}: unknown param (this DAG's params: {', '.join(sorted(schemas))})"
        for key in sorted(set(conf) - set(schemas))
    ]
    merged = {**defaults, **{k: v for k, v in conf.items() if k in schemas}}
    for name in sorted(schemas):
        if name not in conf:
            continue
        schema = {k: v for k, v in schemas[name].items() if k != REQUIRES}
        for error in Draft7Validator(schema, format_checker=FormatChecker()).iter_errors(conf[name]):
            problems.append(f"{name}: {error.message}")
    for name, schema in sorted(schemas.items()):
        for value, needed in (schema.get(REQUIRES) or {}).items():
            if name in merged and _rule_key(merged[name]) == value:
                problems.extend(
                    f"{other}: required when {name} is {value}" for other in needed if _empty(merged.get(other))
                )
    return problems


def dag_param_specs(dag_id: str) -> tuple[dict[str, dict], dict[str, Any]] | None:
    """(schemas, defaults) of the DAG's Params from the serialized DAG, or None if unknown."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        dag = SerializedDagModel.get_dag(dag_id, session=session)
    if dag is None:
        return None
    schemas, defaults = {}, {}
    for name in dag.params:
        param = dag.params.get_param(name)
        schemas[name] = dict(param.schema)
        defaults[name] = param.value
    return schemas, defaults


def problems_for(dag_id: str, conf: Any) -> list[str]:
    """Problems of a conf posted for `dag_id` (none if the DAG is unknown: Airflow answers 404)."""
    if conf is None:
        return []
    if not isinstance(conf, dict):
        return ["conf: must be a JSON object"]
    specs = dag_param_specs(dag_id)
    if specs is None:
        return []
    return check_conf(*specs, conf)


def _target(path: str, payload: Any) -> tuple[str, Any] | None:
    if not isinstance(payload, dict):
        return None
    if match := _DAG_RUNS.search(path):
        return match["dag_id"], payload.get("conf")
    if _BACKFILLS.search(path) and isinstance(payload.get("dag_id"), str):
        return payload["dag_id"], payload.get("dag_run_conf")
    return None


Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


async def caller(request: Any) -> Any | None:
    """The user Airflow would see on this request (bearer token, else session cookie), or None
    when Airflow would refuse it (no, invalid, expired or revoked token)."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
    from fastapi import HTTPException

    try:
        return await get_user(request, None, await bearer_scheme(request))
    except HTTPException:
        return None


async def may_create_runs(request: Any, user: Any, dag_id: str) -> bool:
    """Whether Airflow lets `user` create runs of `dag_id` (what trigger and backfill require).
    False also when this Airflow's check cannot be called: the request then goes to Airflow
    untouched, which authorises it itself."""
    import anyio
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import HTTPException

    from starlette.requests import Request

    # The two-argument form reads the DAG id from the path parameters: it is the one every
    # Airflow from 3.1.0 to 3.3 has (the `param_dag_id` argument only came in 3.1.8).
    scoped = Request({**request.scope, "path_params": {**request.path_params, "dag_id": dag_id}})
    try:
        check = requires_access_dag("POST", DagAccessEntity.RUN)
        await anyio.to_thread.run_sync(check, scoped, user)  # looks the DAG's team up in the DB
    except HTTPException:
        return False
    except (TypeError, AttributeError):  # another Airflow's security API: step aside
        log.warning("conf guard off: this Airflow's requires_access_dag differs", exc_info=True)
        return False
    return True


async def _answer(send: Send, status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": payload})


class ConfGuardMiddleware:
    """ASGI middleware: HTTP 400 `{"detail": ...}` for a trigger or backfill with bad conf, sent
    only to a caller Airflow authenticates and authorises for that DAG."""

    def __init__(self, app: Callable, max_body_bytes: int | None = None) -> None:
        self.app = app
        if max_body_bytes is None:
            from adctr.core import settings

            max_body_bytes = int(settings.load_config("pipeline")["conf_guard_max_body_bytes"])
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope.get("type") != "http" or scope.get("method") != "POST" or not (
            _DAG_RUNS.search(path) or _BACKFILLS.search(path)
        ):
            await self.app(scope, receive, send)
            return
        from starlette.requests import Request

        request = Request(scope)
        try:
            user = await caller(request)
        except (ImportError, TypeError, AttributeError):  # another Airflow's security API
            log.warning("conf guard off: this Airflow's auth helpers differ", exc_info=True)
            user = None  # never guess who the caller is: Airflow alone answers (tasks still check)
        if user is None:  # Airflow answers 401/403 itself; nothing read, nothing said
            await self.app(scope, receive, send)
            return
        path_match = _DAG_RUNS.search(path)
        if path_match and not await may_create_runs(request, user, path_match["dag_id"]):
            await self.app(scope, receive, send)
            return

        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await _answer(send, 413, f"Request body larger than {self.max_body_bytes} bytes")
            return
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await _answer(send, 413, f"Request body larger than {self.max_body_bytes} bytes")
                return
            if not message.get("more_body"):
                break

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        try:
            target = _target(path, json.loads(body or b"null"))
        except ValueError:
            target = None  # not JSON: FastAPI answers it
        if target is not None and (path_match or await may_create_runs(request, user, target[0])):
            import anyio

            problems = await anyio.to_thread.run_sync(problems_for, *target)
            if problems:
                await _answer(send, 400, f"Invalid conf for {target[0]}: " + "; ".join(problems))
                return
        await self.app(scope, replay, send)
