"""The simulator over real HTTP: async job flow, auth, determinism, clear refusals."""

from __future__ import annotations

from datetime import date

import pytest
import requests

from adctr import settings
from adctr.simulator.server import SimulatorServer, state_from_config
from adctr.simulator.world import World

DAY = "2026-11-02"


@pytest.fixture(scope="module")
def server():  # noqa: ANN201
    state = state_from_config(settings.load_config("simulator"), today=date(2026, 11, 10))
    with SimulatorServer(state) as srv:
        yield srv


def _headers(token: str = "local-simulator-token") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _create(server, medium: str = "yahoo_ads", day: str = DAY, token: str = "local-simulator-token"):  # noqa: ANN001, ANN202
    return requests.post(
        f"{server.url}/api/v1/report_jobs",
        json={"medium": medium, "start_date": day, "end_date": day},
        headers=_headers(token),
        timeout=10,
    )


def test_job_flow_pages_and_completion(server) -> None:  # noqa: ANN001
    job = _create(server).json()
    first = requests.get(f"{server.url}/api/v1/report_jobs/{job['job_id']}", headers=_headers(), timeout=10)
    assert first.json()["status"] == "IN_PROGRESS"
    early = requests.get(
        f"{server.url}/api/v1/report_jobs/{job['job_id']}/download", headers=_headers(), timeout=10
    )
    assert early.status_code == 409
    done = requests.get(f"{server.url}/api/v1/report_jobs/{job['job_id']}", headers=_headers(), timeout=10).json()
    assert done["status"] == "COMPLETED" and done["page_count"] > 1
    rows = []
    for page in range(1, done["page_count"] + 1):
        chunk = requests.get(
            f"{server.url}/api/v1/report_jobs/{job['job_id']}/download",
            params={"page": page}, headers=_headers(), timeout=10,
        ).json()  # fmt: skip
        rows += chunk["rows"]
    assert len(rows) == done["row_count"]
    assert {r[0] for r in rows} == {DAY}


def test_wrong_token_is_401(server) -> None:  # noqa: ANN001
    assert _create(server, token="wrong").status_code == 401


def test_unknown_medium_and_incomplete_day_are_refused_with_reason(server) -> None:  # noqa: ANN001
    resp = _create(server, medium="tiktok_ads")
    assert resp.status_code == 404 and "unknown medium 'tiktok_ads'" in resp.json()["error"]
    resp = _create(server, day="2026-11-10")
    assert resp.status_code == 400 and "not complete yet" in resp.json()["error"]


def test_world_is_deterministic_per_day_and_knows_the_truth() -> None:
    a = World(seed=7, media=("yahoo_ads",)).daily_rows("yahoo_ads", date(2026, 11, 2))
    b = World(seed=7, media=("yahoo_ads",)).daily_rows("yahoo_ads", date(2026, 11, 2))
    c = World(seed=8, media=("yahoo_ads",)).daily_rows("yahoo_ads", date(2026, 11, 2))
    key = [(r["creative"].creative_id, r["device"], r["impressions"], r["clicks"]) for r in a]
    assert key == [(r["creative"].creative_id, r["device"], r["impressions"], r["clicks"]) for r in b]
    assert key != [(r["creative"].creative_id, r["device"], r["impressions"], r["clicks"]) for r in c]
    assert all(0 < r["true_ctr"] < 1 and 0 < r["true_cvr"] < 1 for r in a)
    assert all(r["clicks"] <= r["impressions"] and r["conversions"] <= r["clicks"] for r in a)
