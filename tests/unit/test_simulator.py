"""The simulator over real HTTP: async job flow, auth, determinism, delayed feedback, truth."""

from __future__ import annotations

import io
import itertools
from datetime import date, timedelta

import numpy as np
import pyarrow.csv as pacsv
import pytest
import requests
from adctr.core import settings
from adctr.simulator.faults import FaultConfigError, FaultPlan
from adctr.simulator.reports import REPORT_FIELDS
from adctr.simulator.routes import SimulatorServer
from adctr.simulator.state import state_from_config
from adctr.simulator.world import World, world_from_config

DAY = "2026-11-02"
TOKEN = "local-simulator-token"


@pytest.fixture(scope="module")
def server():
    state = state_from_config(settings.load_config("simulator"), today=date(2026, 11, 10))
    with SimulatorServer(state) as srv:
        yield srv


def _headers(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _create(server, medium: str = "yahoo_ads", day: str = DAY, token: str = TOKEN):
    return requests.post(
        f"{server.url}/api/v1/report_jobs",
        json={"medium": medium, "start_date": day, "end_date": day},
        headers=_headers(token),
        timeout=10,
    )


def _status(server, job_id: str) -> dict:
    return requests.get(
        f"{server.url}/api/v1/report_jobs/{job_id}", headers=_headers(), timeout=10
    ).json()


def test_job_flow_csv_pages_and_totals(server) -> None:
    job = _create(server).json()
    assert _status(server, job["job_id"])["status"] == "IN_PROGRESS"
    early = requests.get(
        f"{server.url}/api/v1/report_jobs/{job['job_id']}/download", headers=_headers(), timeout=10
    )
    assert early.status_code == 409
    done = _status(server, job["job_id"])
    assert done["status"] == "COMPLETED" and done["page_count"] > 1 and done["final"] is True
    pages = []
    for page in range(1, done["page_count"] + 1):
        resp = requests.get(
            f"{server.url}/api/v1/report_jobs/{job['job_id']}/download",
            params={"page": page}, headers=_headers(), timeout=10,
        )  # fmt: skip
        assert resp.headers["X-Report-Page"] == str(page)
        pages.append(pacsv.read_csv(io.BytesIO(resp.content)))
    rows = [r for p in pages for r in p.to_pylist()]
    assert len(rows) == done["row_count"] and list(pages[0].column_names) == list(REPORT_FIELDS)
    assert {str(r["DAY"]) for r in rows} == {DAY}
    assert {r["AD_LABEL"] for r in rows} == {None}  # organic creatives: an empty column
    assert int(done["totals"]["IMPS"]) == sum(r["IMPS"] for r in rows)
    assert int(done["totals"]["CONVERSIONS"]) == sum(r["CONVERSIONS"] for r in rows)


def test_wrong_token_is_401(server) -> None:
    assert _create(server, token="wrong").status_code == 401
    assert (
        requests.put(f"{server.url}/admin/clock", json={"today": DAY}, timeout=10).status_code
        == 401
    )


def test_unknown_medium_and_incomplete_day_are_refused_with_reason(server) -> None:
    resp = _create(server, medium="tiktok_ads")
    assert resp.status_code == 404 and "unknown medium 'tiktok_ads'" in resp.json()["error"]
    resp = _create(server, day="2026-11-10")
    assert resp.status_code == 400 and "not complete yet" in resp.json()["error"]


def _world(seed: int = 7, media: tuple[str, ...] = ("yahoo_ads",)) -> World:
    return world_from_config(
        {**settings.load_config("simulator"), "seed": seed, "media": list(media)}
    )


def test_world_is_deterministic_per_day_and_knows_the_truth() -> None:
    a = _world(7).draw("yahoo_ads", date(2026, 11, 2))
    b = _world(7).draw("yahoo_ads", date(2026, 11, 2))
    c = _world(8).draw("yahoo_ads", date(2026, 11, 2))
    assert np.array_equal(a.impressions, b.impressions) and np.array_equal(
        a.conversions_by_delay, b.conversions_by_delay
    )
    assert not np.array_equal(a.impressions, c.impressions)
    assert ((a.true_ctr > 0) & (a.true_ctr < 1) & (a.true_cvr > 0) & (a.true_cvr < 1)).all()
    assert (a.clicks <= a.impressions).all() and (
        a.conversions_by_delay.sum(axis=1) <= a.clicks
    ).all()


def test_new_creatives_appear_old_ones_retire_and_fatigue() -> None:
    world = _world()
    early, late = world.active(date(2026, 2, 1)), world.active(date(2026, 11, 1))
    assert set(late) - set(early) and set(early) - set(late)  # launched and retired in between
    c = late[:20]
    day = date(2026, 11, 2)
    age = day.toordinal() - world.launch_ordinal[c]
    ctr_now, _ = world.true_rates("yahoo_ads", day, c, np.zeros(len(c), dtype=int))
    cr = world.creatives
    ids = world.asset_ids
    ctr_new, _ = world.combination_rates(
        day,
        "yahoo_ads",
        "mobile",
        ids.take(cr.headline[c]),
        ids.take(cr.description[c]),
        ids.take(cr.image[c]),
    )
    assert (age > 0).all() and (ctr_now < ctr_new).all()  # the same ad, older, draws fewer clicks


def test_conversions_arrive_over_the_attribution_window() -> None:
    world = _world(media=("meta",))
    draw = world.draw("meta", date(2026, 11, 2))
    seen = [
        int(draw.conversions_as_of(date(2026, 11, 2) + timedelta(days=k)).sum()) for k in range(10)
    ]
    assert seen[0] == 0  # nothing is known on the day itself
    assert all(x <= y for x, y in itertools.pairwise(seen))  # never shrinks
    assert (
        seen[1] < seen[7] == seen[9] == int(draw.conversions_by_delay.sum())
    )  # final after 7 days


def test_restated_report_grows_until_final(server) -> None:
    def conversions(today: str) -> tuple[int, bool]:
        requests.put(
            f"{server.url}/admin/clock", json={"today": today}, headers=_headers(), timeout=10
        )
        job = _create(server, day="2026-11-01").json()
        _status(server, job["job_id"])
        done = _status(server, job["job_id"])
        return int(done["totals"]["CONVERSIONS"]), done["final"]

    try:
        first, final_first = conversions("2026-11-02")
        later, final_later = conversions("2026-11-08")
    finally:
        requests.put(
            f"{server.url}/admin/clock",
            json={"today": "2026-11-10"},
            headers=_headers(),
            timeout=10,
        )
    assert first < later and not final_first and final_later


def test_ground_truth_is_served(server) -> None:
    resp = requests.get(
        f"{server.url}/api/v1/ground_truth",
        params={"medium": "google_ads", "date": DAY},
        headers=_headers(),
        timeout=10,
    )
    body = resp.json()
    assert resp.status_code == 200 and body["final_from"] == "2026-11-09"
    assert {"creative_id", "device", "true_ctr", "true_cvr", "conversions"} <= set(body["rows"][0])


def test_fault_rules_are_validated_and_fire_deterministically() -> None:
    with pytest.raises(
        FaultConfigError, match="kind 'truncated_page' does not apply to stream 'create'"
    ):
        FaultPlan([{"kind": "truncated_page", "stream": "create", "on_requests": [1]}])
    with pytest.raises(FaultConfigError, match="set on_requests or a probability"):
        FaultPlan([{"kind": "http_429", "stream": "download"}])
    plan = FaultPlan(
        [{"kind": "http_429", "stream": "download", "medium": "meta", "on_requests": [2]}]
    )
    fired = [bool(plan.fire("download", "meta")) for _ in range(3)]
    assert fired == [False, True, False] and not plan.fire("download", "yahoo_ads")
