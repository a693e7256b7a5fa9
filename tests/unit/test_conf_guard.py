"""Bad conf is refused as a whole, naming each field (unknown keys, schemas, cross-field rules)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from adctr.orchestration import conf_guard

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def specs() -> dict[str, tuple[dict, dict]]:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert not bag.import_errors
    out = {}
    for dag_id, dag in bag.dags.items():
        params = {k: dag.params.get_param(k) for k in dag.params}
        out[dag_id] = ({k: dict(p.schema) for k, p in params.items()}, {k: p.value for k, p in params.items()})
    return out


def _check(specs: dict, dag_id: str, conf: dict) -> list[str]:
    return conf_guard.check_conf(*specs[dag_id], conf)


def test_valid_conf_and_defaults_pass(specs) -> None:  # noqa: ANN001
    assert _check(specs, "ad_performance_daily", {}) == []
    assert _check(specs, "ad_performance_daily", {"media": ["yahoo_ads"], "lookback_days": 3,
                                                  "report_date": "2026-11-20", "skip_ingest": False}) == []  # fmt: skip
    assert _check(specs, "ctr_cvr_retrain", {"force_publish": True, "force_reason": "holiday traffic, gate too strict"}) == []
    assert _check(specs, "serving_slot_sync", {"action": "pin", "slot": "cvr0", "version": 3,
                                               "reason": "v4 over-predicts on feed"}) == []  # fmt: skip


def test_every_problem_is_listed_with_its_field(specs) -> None:  # noqa: ANN001
    problems = _check(specs, "ad_performance_daily", {
        "media": ["yahoo_ads", "myspace_ads"], "lookback_days": 90, "report_date": "20261120",
        "lookback_day": 3,
    })  # fmt: skip
    fields = sorted(p.split(":")[0] for p in problems)
    assert fields == ["lookback_day", "lookback_days", "media", "report_date"], problems
    assert any("unknown param" in p and "lookback_days" in p for p in problems)  # names the real params
    assert any(p.startswith("lookback_days: 90 is greater than the maximum of 30") for p in problems)
    assert _check(specs, "ad_performance_daily", {"media": []})[0].startswith("media: [] should be non-empty")


def test_cross_field_rules(specs) -> None:  # noqa: ANN001
    assert _check(specs, "ctr_cvr_retrain", {"force_publish": True}) == ["force_reason: required when force_publish is true"]
    assert _check(specs, "ctr_cvr_retrain", {"force_publish": True, "force_reason": "   "}) != []
    assert _check(specs, "ctr_cvr_retrain", {"force_publish": True, "force_reason": "too short"}) == [
        "force_reason: 'too short' is too short"
    ]
    assert _check(specs, "serving_slot_sync", {"action": "pin", "slot": "cvr0"}) == [
        "version: required when action is pin", "reason: required when action is pin",
    ]  # fmt: skip
    assert _check(specs, "serving_slot_sync", {"action": "unpin", "slot": "cvr0", "reason": "release the rollback"}) == []


@pytest.fixture(scope="module")
def airflow_auth() -> dict[str, str]:
    """The session's metadata DB migrated and holding the project's serialized DAGs, and
    Airflow's own auth manager (SimpleAuthManager, as configured) initialised in this process.
    Returns real tokens by name: admin, viewer (role viewer: may read DAGs, not run them),
    expired (the admin's, an hour ago) and forged (the admin's claims, another secret)."""
    import jwt
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.datamodels.login import LoginBody
    from airflow.api_fastapi.auth.managers.simple.services.login import SimpleAuthManagerLogin
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from adctr.local import airflow_env as localenv

    airflow = str(Path(sys.executable).with_name("airflow"))
    localenv.write_passwords_file(Path(os.environ["AIRFLOW_HOME"]))
    for command in (["db", "migrate"], ["dags", "reserialize"]):
        subprocess.run([airflow, *command], env=os.environ.copy(), check=True, capture_output=True,
                       timeout=180)  # fmt: skip
    manager = init_auth_manager()
    login = LoginBody(username=localenv.LOCAL_ADMIN_USER, password=localenv.LOCAL_ADMIN_PASSWORD)
    admin = SimpleAuthManagerLogin.create_token(login)
    return {
        "admin": admin,
        "viewer": manager.generate_jwt(SimpleAuthManagerUser(username="viewer", role="viewer")),
        "expired": SimpleAuthManagerLogin.create_token(login, expiration_time_in_seconds=-3600),
        "forged": jwt.encode(jwt.decode(admin, options={"verify_signature": False}), "x" * 64, "HS512"),
    }


def _call(middleware: conf_guard.ConfGuardMiddleware, path: str, body: dict, token: str | None = None,
          cookie: bool = False) -> tuple[int, dict, bool]:
    """(status, JSON body, whether the app got the client's own `receive`) of one POST."""
    sent: list[dict] = []
    raw = json.dumps(body).encode()
    chunks = [raw[:5], raw[5:]]

    async def receive() -> dict:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    receive.from_client = True  # type: ignore[attr-defined]

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    if token and cookie:
        headers.append((b"cookie", f"_token={token}".encode()))
    elif token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers, "query_string": b""}
    asyncio.run(middleware(scope, receive, send))
    untouched = (b"x-untouched", b"1") in sent[0].get("headers", [])
    return sent[0]["status"], json.loads(sent[1]["body"]), untouched


async def _echo(scope: dict, receive, send) -> None:  # noqa: ANN001
    """Stands for Airflow's routes: echoes the body it receives (status 200), and says whether
    it reads the client's stream itself (the middleware buffered nothing)."""
    untouched = getattr(receive, "from_client", False)
    body = b""
    while True:
        message = await receive()
        body += message["body"]
        if not message["more_body"]:
            break
    headers = [(b"x-untouched", b"1")] if untouched else []
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


TRIGGER = "/api/v2/dags/ctr_cvr_retrain/dagRuns"
BAD = {"conf": {"force_publish": True}}


def test_an_authorised_caller_gets_every_problem_before_the_app(airflow_auth) -> None:  # noqa: ANN001
    guard = conf_guard.ConfGuardMiddleware(_echo)
    status, body, _ = _call(guard, TRIGGER, BAD, airflow_auth["admin"])
    assert status == 400 and body["detail"] == (
        "Invalid conf for ctr_cvr_retrain: force_reason: required when force_publish is true"
    )
    # The UI's trigger form authenticates with the session cookie instead of a bearer token.
    assert _call(guard, TRIGGER, BAD, airflow_auth["admin"], cookie=True)[0] == 400
    backfill = {"dag_id": "ad_performance_daily", "dag_run_conf": {"lookback": 2}}
    status, body, _ = _call(guard, "/api/v2/backfills", backfill, airflow_auth["admin"])
    assert status == 400 and "lookback: unknown param" in body["detail"]
    ok = {"conf": {"lookback_days": 2}, "logical_date": None}
    # A good conf reaches the app intact (replayed), and so does an unknown DAG's (Airflow: 404).
    assert _call(guard, "/api/v2/dags/ad_performance_daily/dagRuns", ok, airflow_auth["admin"]) == (200, ok, False)
    unknown = {"conf": {"x": 1}}
    assert _call(guard, "/api/v2/dags/no_such_dag/dagRuns", unknown, airflow_auth["admin"])[:2] == (200, unknown)


@pytest.mark.parametrize("who", [None, "expired", "forged", "viewer"])
def test_a_caller_airflow_would_refuse_reaches_airflow_untouched(airflow_auth, who: str | None) -> None:  # noqa: ANN001
    """No token, an expired or forged one, or a role that may not run DAGs: the request goes to
    Airflow as it came (Airflow answers its own 401/403), and the guard names no Param."""
    guard = conf_guard.ConfGuardMiddleware(_echo)
    token = airflow_auth[who] if who else None
    assert _call(guard, TRIGGER, BAD, token) == (200, BAD, True)
    assert _call(guard, TRIGGER, BAD, token, cookie=True) == (200, BAD, True)
    backfill = {"dag_id": "ctr_cvr_retrain", "dag_run_conf": {"force_publish": True}}
    # A backfill names its DAG in the body: an authenticated viewer's is read, then handed on.
    assert _call(guard, "/api/v2/backfills", backfill, token)[:2] == (200, backfill)


def test_the_buffered_body_is_capped_and_unauthenticated_bodies_are_not_buffered(airflow_auth) -> None:  # noqa: ANN001
    guard = conf_guard.ConfGuardMiddleware(_echo, max_body_bytes=64)
    big = {"conf": {"force_reason": "x" * 200}}
    too_large = (413, {"detail": "Request body larger than 64 bytes"})
    assert _call(guard, TRIGGER, big, airflow_auth["admin"])[:2] == too_large
    # Without credentials the guard reads nothing itself: the app gets the client's stream.
    assert _call(guard, TRIGGER, big) == (200, big, True)
    assert conf_guard.ConfGuardMiddleware(_echo).max_body_bytes == 1024 * 1024  # config/pipeline.yaml


def test_an_airflow_whose_auth_helpers_differ_gets_the_request_untouched(airflow_auth, monkeypatch) -> None:  # noqa: ANN001
    """Cloud Composer runs an older Airflow: if its `get_user` takes other arguments, the guard
    must not guess who the caller is (nor answer 500): Airflow alone answers the request."""
    from airflow.api_fastapi.core_api import security

    async def other_signature(request) -> None:  # noqa: ANN001 - a different Airflow's helper
        raise AssertionError("not called with this signature")

    monkeypatch.setattr(security, "get_user", other_signature)
    guard = conf_guard.ConfGuardMiddleware(_echo)
    assert _call(guard, TRIGGER, BAD, airflow_auth["admin"]) == (200, BAD, True)


def test_an_airflow_whose_dag_access_check_differs_gets_the_request_untouched(airflow_auth, monkeypatch) -> None:  # noqa: ANN001
    """`requires_access_dag` took no DAG-id argument before Airflow 3.1.8, and the guard uses
    the form all versions share; a check that still cannot be called means: step aside."""
    from airflow.api_fastapi.core_api import security

    real = security.requires_access_dag

    def airflow_3_1_0(method, access_entity=None):  # noqa: ANN001, ANN202 - its signature
        return real(method, access_entity)

    monkeypatch.setattr(security, "requires_access_dag", airflow_3_1_0)
    guard = conf_guard.ConfGuardMiddleware(_echo)
    assert _call(guard, TRIGGER, BAD, airflow_auth["admin"])[0] == 400  # still guarded on 3.1.0
    assert _call(guard, TRIGGER, BAD, airflow_auth["viewer"]) == (200, BAD, True)

    def unknown(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise TypeError("another signature")

    monkeypatch.setattr(security, "requires_access_dag", unknown)
    assert _call(guard, TRIGGER, BAD, airflow_auth["admin"]) == (200, BAD, True)
