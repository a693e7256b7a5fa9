"""A real Airflow 3 scheduler runs backfills created through REST API v2: six report dates
of the daily pipeline, then a retraining backfill, whose versions must not reach a slot; the
same stack is then looked at in a real browser (tests/system/ui_browser.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
import requests
from adctr.core.storage import get_store
from adctr.release import artifacts, slots
from adctr.warehouse import get_warehouse

from tests.helpers import chromium
from tests.system import ui_browser
from tests.system.airflow_stack import VIEWER, AirflowStack

DAILY = "ad_performance_daily"
RETRAIN = "ctr_cvr_retrain"
SYNC = "serving_slot_sync"
REPORT_DATES = [date(2026, 11, 2) + timedelta(days=i) for i in range(6)]


def _backfill(stack: AirflowStack, dag_id: str, first: str, last: str, runs: int, conf: dict, timeout: float) -> None:
    stack.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
    body = {
        "dag_id": dag_id, "from_date": first, "to_date": last, "run_backwards": False,
        "dag_run_conf": conf, "reprocess_behavior": "none", "max_active_runs": 3,
    }  # fmt: skip
    # On SQLite, Airflow refuses to create a backfill while another component holds the
    # database lock (HTTP 503, "Database is locked"): retry, as an operator would.
    for attempt in range(10):
        resp = stack.session.post(f"{stack.base}/api/v2/backfills", json=body, timeout=30)
        if resp.status_code != 503 or "locked" not in resp.text or attempt == 9:
            break
        time.sleep(2)
    assert resp.status_code == 200, f"POST /api/v2/backfills: HTTP {resp.status_code}: {resp.text[:500]}"
    assert resp.json()["dag_id"] == dag_id

    def done() -> list[dict] | None:
        found = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]
        found = [r for r in found if r["run_type"] == "backfill"]
        failed = [r["dag_run_id"] for r in found if r["state"] == "failed"]
        if failed:
            raise AssertionError(f"{dag_id} backfill runs failed: {failed}")
        return found if len(found) == runs and all(r["state"] == "success" for r in found) else None

    stack.wait_for(done, f"{runs} successful {dag_id} backfill runs", timeout)


def _bad_conf_is_refused_before_a_run_exists(stack: AirflowStack) -> None:
    """The api-server (adctr.orchestration.conf_guard) answers 400 naming every bad field; no run is created."""
    cases = [
        (f"/api/v2/dags/{DAILY}/dagRuns", {"logical_date": None, "conf": {"lookback_days": 99, "medium": ["x"]}},
         ["lookback_days: 99 is greater than the maximum of 30", "medium: unknown param"]),
        (f"/api/v2/dags/{DAILY}/dagRuns", {"logical_date": None, "conf": {"media": ["yahoo_ads", "myspace"]}},
         ["media: 'myspace' is not one of"]),
        (f"/api/v2/dags/{RETRAIN}/dagRuns", {"logical_date": None, "conf": {"force_publish": True}},
         ["force_reason: required when force_publish is true"]),
        (f"/api/v2/dags/{SYNC}/dagRuns", {"logical_date": None, "conf": {"action": "pin", "slot": "cvr0"}},
         ["version: required when action is pin", "reason: required when action is pin"]),
        ("/api/v2/backfills", {"dag_id": DAILY, "from_date": "2026-11-02T06:00:00+09:00",
                               "to_date": "2026-11-02T06:00:00+09:00", "dag_run_conf": {"report_date": "2026/11/02"}},
         ["report_date: '2026/11/02' is not a 'date'"]),
    ]  # fmt: skip
    for path, body, expected in cases:
        resp = stack.session.post(f"{stack.base}{path}", json=body, timeout=30)
        assert resp.status_code == 400, (path, resp.status_code, resp.text[:300])
        detail = resp.json()["detail"]
        for phrase in expected:
            assert phrase in detail, (phrase, detail)
    for dag_id in (DAILY, RETRAIN, SYNC):
        assert stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["total_entries"] == 0, dag_id
    assert stack.api("GET", "/api/v2/backfills", params={"dag_id": DAILY})["total_entries"] == 0
    # A valid conf passes the guard (and is then Airflow's to run): checked by the backfills below.


def _only_an_authorised_caller_learns_about_params(stack: AirflowStack) -> None:
    """Airflow authenticates and authorises before the conf guard says anything: no token, a bad
    token or a viewer's get Airflow's own 401/403, naming no Param; the admin (bearer or the UI's
    session cookie) gets the guard's 400; an oversized body from the admin gets 413."""
    params = set(stack.api("GET", f"/api/v2/dags/{RETRAIN}/details")["params"])
    assert {"force_publish", "force_reason"} <= params, params
    bad = {"force_publish": True}
    window = {"from_date": "2026-11-02T08:00:00+09:00", "to_date": "2026-11-02T08:00:00+09:00"}
    posts = [(f"/api/v2/dags/{RETRAIN}/dagRuns", {"logical_date": None, "conf": bad}),
             ("/api/v2/backfills", {"dag_id": RETRAIN, **window, "dag_run_conf": bad})]  # fmt: skip
    callers = {
        "nobody": {},
        "a bad token": {"Authorization": "Bearer not-a-token"},
        "a forged token": {"Authorization": f"Bearer {stack.login(VIEWER)[:-8]}AAAAAAAA"},
        "the viewer": {"Authorization": f"Bearer {stack.login(VIEWER)}"},
    }
    for who, headers in callers.items():
        # Airflow's own answer to these credentials on a route the guard does not touch.
        probe = requests.post(f"{stack.base}/api/v2/dags/{RETRAIN}/clearTaskInstances", headers=headers,
                              json={"dry_run": True}, timeout=30)  # fmt: skip
        for path, body in posts:
            resp = requests.post(f"{stack.base}{path}", headers=headers, json=body, timeout=30)
            assert resp.status_code in (401, 403), (who, path, resp.status_code, resp.text[:300])
            assert (resp.status_code, resp.json()) == (probe.status_code, probe.json()), (who, path, resp.text)
            assert not [p for p in params if p in resp.text], (who, path, resp.text)
        print(f"conf guard: {who} -> HTTP {resp.status_code} {resp.json()}")
    assert (requests.post(f"{stack.base}{posts[0][0]}", json=posts[0][1], timeout=30).status_code) == 401
    assert probe.status_code == 403 and probe.json() == {"detail": "Forbidden"}  # the viewer

    cookie = {"_token": stack.session.headers["Authorization"].removeprefix("Bearer ")}
    for path, body in posts:
        resp = requests.post(f"{stack.base}{path}", cookies=cookie, json=body, timeout=30)
        assert resp.status_code == 400 and "force_reason: required when force_publish is true" in resp.json()["detail"], (
            path, resp.status_code, resp.text[:300],
        )  # fmt: skip
    huge = {"logical_date": None, "conf": {"force_reason": "x" * (1024 * 1024)}}
    resp = stack.session.post(f"{stack.base}{posts[0][0]}", json=huge, timeout=60)
    assert resp.status_code == 413 and "larger than 1048576 bytes" in resp.json()["detail"], resp.text[:300]
    for dag_id in (DAILY, RETRAIN, SYNC):
        assert stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["total_entries"] == 0, dag_id
    assert stack.api("GET", "/api/v2/backfills", params={"dag_id": RETRAIN})["total_entries"] == 0


def _run_summary_tab_shows_the_run(stack: AirflowStack) -> None:
    """Every run page has a "Run summary" tab (plugin external view) served by the plugin."""
    views = [v for p in stack.api("GET", "/api/v2/plugins")["plugins"] for v in p.get("external_views", [])]
    (view,) = [v for v in views if v["name"] == "Run summary"]
    assert view["destination"] == "dag_run" and view["href"] == "/adctr/runs/{DAG_ID}/{RUN_ID}"
    runs = stack.api("GET", f"/api/v2/dags/{DAILY}/dagRuns", params={"run_type": "backfill", "limit": 1,
                                                                        "order_by": "-logical_date"})["dag_runs"]  # fmt: skip
    run_id = runs[0]["dag_run_id"]
    page = stack.session.get(f"{stack.base}/adctr/runs/{DAILY}/{run_id}", timeout=30)
    assert page.status_code == 200, page.text[:300]
    assert "Rows per layer" in page.text and "raw.ad_performance" in page.text and "PASS" in page.text
    docs = re.findall(r"href='(/adctr/data-docs/[^']+)'", page.text)
    assert docs and stack.session.get(f"{stack.base}{docs[0]}", timeout=30).status_code == 200
    assert requests.get(f"{stack.base}/adctr/runs/{DAILY}/{run_id}", timeout=30).status_code == 401  # login needed
    retrain = stack.api("GET", f"/api/v2/dags/{RETRAIN}/dagRuns", params={"run_type": "backfill"})["dag_runs"][0]
    page = stack.session.get(f"{stack.base}/adctr/runs/{RETRAIN}/{retrain['dag_run_id']}", timeout=30).text
    assert "ctr/main v" in page and "cvr/main v" in page and "log loss" in page


@pytest.fixture(scope="module")
def backfilled(simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:  # noqa: ANN001
    """One real Airflow stack for this module's tests, on a var/ of its own: the conf guard's
    refusals are checked before any run exists, then the daily pipeline is backfilled for
    REPORT_DATES and retraining for the last date. Starting a stack and backfilling costs minutes
    of task processes, so the REST-API test and the browser test read the same stack."""
    var = tmp_path_factory.mktemp("scheduler") / "var"
    var.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADCTR_VAR_DIR", str(var))
        stack = AirflowStack(simulator.url)
        try:
            try:
                stack.start()
                for dag_id in (DAILY, RETRAIN, SYNC):
                    stack.wait_for(lambda d=dag_id: stack._get(f"/api/v2/dags/{d}").status_code == 200,
                                   f"{dag_id} parsed", 120)  # fmt: skip
                _bad_conf_is_refused_before_a_run_exists(stack)
                _only_an_authorised_caller_learns_about_params(stack)
                # Data-interval timetables in Asia/Tokyo: logical date = interval start = report date + cron time.
                _backfill(stack, DAILY, f"{REPORT_DATES[0]}T06:00:00+09:00", f"{REPORT_DATES[-1]}T06:00:00+09:00",
                          len(REPORT_DATES), {}, 1500)  # fmt: skip
                last = f"{REPORT_DATES[-1]}T08:00:00+09:00"
                _backfill(stack, RETRAIN, last, last, 1, {"attribution_window_days": 1}, 900)
            except BaseException as exc:
                print(f"system test setup failed: {exc!r}\n{stack.logs()}")
                raise
            yield stack
        finally:
            stack.stop()


# The fixture's stack start and both backfills count against the first test's timeout (the daily
# DAG has 30 tasks a date since the asset library; pyproject default 900 s).
@pytest.mark.timeout(2400)
def test_backfills_through_the_rest_api_and_a_backfill_never_promotes(backfilled: AirflowStack, simulator) -> None:  # noqa: ANN001
    stack = backfilled
    try:
        _run_summary_tab_shows_the_run(stack)

        store = get_store("artifact")
        for model in ("ctr", "cvr"):
            manifests = [artifacts.verify(store, model, "main", v) for v in artifacts.complete_versions(store, model, "main")]
            (manifest,) = [m for m in manifests if m["run_type"] == "backfill"]
            assert manifest["snapshot_date"] == REPORT_DATES[-1].isoformat()
            assert manifest["promotion"]["eligible"] is False, manifest["promotion"]

        stack.api("PATCH", f"/api/v2/dags/{SYNC}", json={"is_paused": False})
        run = stack.api("POST", f"/api/v2/dags/{SYNC}/dagRuns", json={"logical_date": None, "conf": {}})
        stack.wait_for(
            lambda: stack.api("GET", f"/api/v2/dags/{SYNC}/dagRuns/{run['dag_run_id']}")["state"] == "success",
            "the slot sync run", 240,
        )  # fmt: skip
    except BaseException as exc:
        print(f"system test failed: {exc!r}\n{stack.logs()}")
        raise

    with get_warehouse() as wh:
        partitions = dict(wh.execute_native(
            "select report_date, count(*) from raw.ad_performance group by 1 order by 1"
        ))  # fmt: skip
    for day in REPORT_DATES:
        assert partitions.get(day) == 2 * len(simulator.state.world.active(day)) * 3, partitions
    # The backfill trained and published, but its versions reached no slot: they are the only
    # versions (the stack runs no timetable), so after the slot sync every slot is still empty.
    for model in ("ctr", "cvr"):
        assert slots.current(store, f"{model}0") is None, slots.current(store, f"{model}0")
    for record in slots.audit_log(store):
        to = record["to"]
        manifest = artifacts.verify(store, to["model"], to["variant"], to["version"])
        assert manifest["run_type"] != "backfill", record


@pytest.mark.timeout(900)
def test_ui_login_grid_after_backfill_and_trigger_form_params(backfilled: AirflowStack) -> None:
    """The same stack in a real browser (tests/system/ui_browser.py): the daily backfill's runs in
    the grid and runs list, the trigger form's Params, a run's summary tab."""
    stack = backfilled
    browser = chromium()
    screenshots = ui_browser.screenshots_dir()
    runs = stack.api("GET", f"/api/v2/dags/{DAILY}/dagRuns", params={"run_type": "backfill", "limit": 100})["dag_runs"]
    assert sorted(datetime.fromisoformat(r["logical_date"]) for r in runs) == [
        datetime.fromisoformat(f"{day}T06:00:00+09:00") for day in REPORT_DATES
    ], runs
    try:
        ui_browser.browse(stack, screenshots, browser)
    except BaseException as exc:
        print(f"system test failed: {exc!r} (screenshots in {screenshots})\n{stack.logs()}")
        raise
    assert sorted(p.name for p in screenshots.glob("*.png")) == [
        "01-login.png", "02-grid.png", "03-runs.png", "04-trigger-form.png", "05-run-summary.png",
    ]  # fmt: skip
