"""Bad conf is refused as a whole, naming each field (unknown keys, schemas, cross-field rules)."""

from __future__ import annotations

import asyncio
import json

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


def _call(middleware: conf_guard.ConfGuardMiddleware, path: str, body: dict) -> tuple[int, dict]:
    sent: list[dict] = []
    chunks = [json.dumps(body).encode()[:5], json.dumps(body).encode()[5:]]

    async def receive() -> dict:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(middleware({"type": "http", "method": "POST", "path": path}, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


def test_middleware_refuses_before_the_app_and_replays_the_body_otherwise(specs, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(conf_guard, "dag_param_specs", lambda dag_id: specs.get(dag_id))

    async def app(scope: dict, receive, send) -> None:  # noqa: ANN001
        body = b""
        while True:
            message = await receive()
            body += message["body"]
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": body})

    guard = conf_guard.ConfGuardMiddleware(app)
    status, body = _call(guard, "/api/v2/dags/ctr_cvr_retrain/dagRuns", {"conf": {"force_publish": True}})
    assert status == 400 and body["detail"] == (
        "Invalid conf for ctr_cvr_retrain: force_reason: required when force_publish is true"
    )
    status, body = _call(guard, "/api/v2/backfills", {"dag_id": "ad_performance_daily", "dag_run_conf": {"lookback": 2}})
    assert status == 400 and "lookback: unknown param" in body["detail"]
    ok = {"conf": {"lookback_days": 2}, "logical_date": None}
    assert _call(guard, "/api/v2/dags/ad_performance_daily/dagRuns", ok) == (200, ok)  # body reaches the app intact
    assert _call(guard, "/api/v2/dags/no_such_dag/dagRuns", {"conf": {"x": 1}}) == (200, {"conf": {"x": 1}})
