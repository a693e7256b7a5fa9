"""Creative submissions over real HTTP: validation, idempotency, delivery in the reports, the
ads listing and ground truth, the truth endpoint, and the submit / delivery fault streams."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta

import numpy as np
import pyarrow.csv as pacsv
import pytest
import requests
from adctr.core import settings
from adctr.simulator.assets import stream_seed
from adctr.simulator.reports import REPORT_FIELDS
from adctr.simulator.routes import SimulatorServer
from adctr.simulator.state import state_from_config
from adctr.simulator.submissions import draw_submitted
from adctr.simulator.world import DEVICES, World

TODAY = date(2026, 11, 2)  # the day creatives are submitted
DAY = date(2026, 11, 3)  # a serving day
TOKEN = "local-simulator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MEDIUM = "meta"


def _config(**overrides: object) -> dict:
    return {**settings.load_config("simulator"), **overrides}


@pytest.fixture
def server() -> Iterator[SimulatorServer]:
    submissions = {"mean_daily_impressions": 3000, "volume_sd": 0.6, "max_per_call": 40}
    cfg = _config(submissions=submissions)
    with SimulatorServer(state_from_config(cfg, today=TODAY)) as srv:
        yield srv


def _assets(world: World, day: date = TODAY) -> dict[str, dict[str, list[str]]]:
    """Launched asset ids per ad group and type."""
    out: dict[str, dict[str, list[str]]] = {}
    for a in world.asset_table(day).to_pylist():
        out.setdefault(a["ad_group_id"], {}).setdefault(a["asset_type"], []).append(a["asset_id"])
    return out


def _entry(world: World, group: str, label: str, k: int = 0, start: date = DAY,
           days: int = 1) -> dict[str, str]:  # fmt: skip
    lib = _assets(world)[group]
    return {
        "ad_group_id": group,
        "headline_asset_id": lib["HEADLINE"][k % len(lib["HEADLINE"])],
        "description_asset_id": lib["DESCRIPTION"][(k // 3) % len(lib["DESCRIPTION"])],
        "image_asset_id": lib["IMAGE"][(k // 7) % len(lib["IMAGE"])],
        "label": label,
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=days - 1)).isoformat(),
    }


def _get(server, path: str, **params: object) -> dict:
    resp = requests.get(f"{server.url}{path}", params=params, headers=AUTH, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _submit(server, entries: list[dict], medium: str = MEDIUM, account_id: str = "1001"):
    return requests.post(
        f"{server.url}/api/v1/creatives",
        json={"medium": medium, "account_id": account_id, "creatives": entries},
        headers=AUTH, timeout=10,
    )  # fmt: skip


def _submit_all(server, entries: list[dict], per_call: int = 40) -> None:
    for k in range(0, len(entries), per_call):
        assert _submit(server, entries[k : k + per_call]).status_code == 200


def _clock(server, today: date) -> None:
    resp = requests.put(
        f"{server.url}/admin/clock", json={"today": today.isoformat()}, headers=AUTH, timeout=10
    )
    assert resp.status_code == 200


def _report(
    server, start: date, end: date | None = None, medium: str = MEDIUM
) -> tuple[list[bytes], dict]:
    """The job's CSV data lines (all pages, headers dropped) and its final status."""
    job = requests.post(
        f"{server.url}/api/v1/report_jobs",
        json={"medium": medium, "start_date": start.isoformat(),
              "end_date": (end or start).isoformat()},
        headers=AUTH, timeout=10,
    ).json()  # fmt: skip
    url = f"{server.url}/api/v1/report_jobs/{job['job_id']}"
    requests.get(url, headers=AUTH, timeout=10)
    status = requests.get(url, headers=AUTH, timeout=10).json()
    lines: list[bytes] = []
    for page in range(1, status["page_count"] + 1):
        body = requests.get(f"{url}/download", params={"page": page}, headers=AUTH, timeout=10)
        lines += body.content.splitlines(keepends=True)[1:]
    return lines, status


def _rows(lines: list[bytes]) -> list[dict]:
    header = ",".join(f'"{f}"' for f in REPORT_FIELDS).encode() + b"\n"
    table = pacsv.read_csv(
        io.BytesIO(header + b"".join(lines)),
        convert_options=pacsv.ConvertOptions(
            column_types={"AD_LABEL": "string", "COST": "string"}, strings_can_be_null=True
        ),
    )
    return table.to_pylist()


def test_submit_is_idempotent_and_a_label_names_one_creative(server) -> None:
    world, store = server.state.world, server.state.submissions
    groups = world.group_ids.to_pylist()
    entries = [_entry(world, groups[0], "exp1-a"), _entry(world, groups[1], "exp1-b", k=1)]
    first = _submit(server, entries)
    assert first.status_code == 200
    answer = first.json()["creatives"]
    assert [a["status"] for a in answer] == ["CREATED", "CREATED"]
    assert [a["label"] for a in answer] == ["exp1-a", "exp1-b"]
    assert answer[0]["creative_id"].startswith(groups[0] + "-s") and len(store) == 2
    again = _submit(server, entries[::-1])
    assert again.status_code == 200 and [a["status"] for a in again.json()["creatives"]] == [
        "EXISTS", "EXISTS",
    ]  # fmt: skip
    assert [a["creative_id"] for a in again.json()["creatives"]] == [
        a["creative_id"] for a in answer[::-1]
    ]
    changed_entry = {**entries[0], "end_date": "2026-11-09"}
    changed = _submit(server, [_entry(world, groups[2], "exp1-new"), changed_entry])
    assert changed.status_code == 409 and "'exp1-a'" in changed.json()["error"]
    assert changed.json()["index"] == 1 and changed.json()["field"] == "label"
    assert len(store) == 2 and "exp1-new" not in {s.label for s in store.all()}  # all or nothing
    dup = _entry(world, groups[3], "dup")
    in_call = _submit(server, [dup, {**dup, "end_date": "2026-11-05"}])
    assert in_call.status_code == 409 and in_call.json()["index"] == 1 and len(store) == 2


def test_invalid_calls_store_nothing_and_name_the_first_bad_entry(server) -> None:
    world, store = server.state.world, server.state.submissions
    groups = world.group_ids.to_pylist()
    good = _entry(world, groups[0], "ok")
    other = _entry(world, groups[1], "other")
    lib, t = world.assets, DAY.toordinal()
    late = int(np.flatnonzero((lib.launch_ordinal > t) & (lib.type == 0))[0])  # launches later
    late_group = world.group_ids[int(lib.group[late])].as_py()
    cases = [
        ({"headline_asset_id": "nope-h1"}, "headline_asset_id", "unknown asset"),
        ({"image_asset_id": other["image_asset_id"]}, "image_asset_id", "does not belong"),
        ({"description_asset_id": good["headline_asset_id"]}, "description_asset_id",
         "not DESCRIPTION"),
        ({"start_date": (TODAY - timedelta(days=1)).isoformat()}, "start_date", "in the past"),
        ({"end_date": TODAY.isoformat()}, "end_date", "before start_date"),
        ({"label": ""}, "label", "non-empty"),
        ({"label": "x" * 201}, "label", "at most 200"),
        ({"ad_group_id": "adv999-cmp1-ag1"}, "ad_group_id", "unknown ad group"),
        ({**_entry(world, late_group, "late"), "headline_asset_id": world.asset_ids[late].as_py()},
         "headline_asset_id", "launches on"),
    ]  # fmt: skip
    for change, field, message in cases:
        resp = _submit(server, [good, {**good, "label": "second", **change}])
        body = resp.json()
        assert resp.status_code == 400, (field, body)
        assert body["index"] == 1 and body["field"] == field and message in body["error"], body
        assert f"creatives[1].{field}" in body["error"]
    assert len(store) == 0
    too_many = _submit(server, [{**good, "label": f"n{k}"} for k in range(41)])
    assert too_many.status_code == 413 and "at most 40" in too_many.json()["error"]
    assert _submit(server, [good], medium="tiktok").status_code == 400
    assert _submit(server, [good], account_id="999").status_code == 404
    unauthorised = requests.post(f"{server.url}/api/v1/creatives", json={}, timeout=10)
    assert unauthorised.status_code == 401 and len(store) == 0
    today_is_fine = _submit(server, [{**good, "start_date": TODAY.isoformat()}])
    assert today_is_fine.status_code == 200 and len(store) == 1


def test_reports_deliver_labelled_rows_and_leave_organic_rows_untouched(server) -> None:
    world, state = server.state.world, server.state
    groups = world.group_ids.to_pylist()
    entries = [_entry(world, groups[g], f"exp2-{g:02d}", k=g, days=3) for g in range(0, 32, 4)]
    assert _submit(server, entries).status_code == 200
    by_label = {s.label: s for s in state.submissions.all()}
    texts = dict(zip(world.asset_ids.to_pylist(), world.asset_texts.to_pylist()))
    formats = {a["asset_id"]: a["asset_format"] for a in world.asset_table(DAY).to_pylist()}
    with SimulatorServer(state_from_config(_config(), today=TODAY)) as plain:
        for today in (DAY + timedelta(days=1), DAY + timedelta(days=8)):
            _clock(server, today)
            _clock(plain, today)
            lines, status = _report(server, DAY)
            organic, _ = _report(plain, DAY)
            assert lines[: len(organic)] == organic  # byte-identical organic rows, first
            rows = _rows(lines[len(organic) :])
            assert len(rows) == len(entries) * len(DEVICES) == status["row_count"] - len(organic)
            draw = draw_submitted(world, state.submissions, MEDIUM, DAY)
            assert [r["AD_LABEL"] for r in rows] == draw.labels == sorted(draw.labels)
            assert [r["CONVERSIONS"] for r in rows] == draw.conversions_as_of(today).tolist()
            assert [r["IMPS"] for r in rows] == draw.impressions.tolist()
            for row in rows:
                sub = by_label[row["AD_LABEL"]]
                assert row["AD_ID"] == sub.creative_id and row["ADGROUP_ID"] == sub.ad_group_id
                assert row["AD_TITLE"] == texts[sub.headline_asset_id]
                assert row["AD_DESCRIPTION"] == texts[sub.description_asset_id]
                assert row["AD_TYPE"] == formats[sub.image_asset_id]
                assert row["ADVERTISER_ID"] == sub.ad_group_id.split("-")[0]
                assert str(row["DAY"]) == DAY.isoformat() and row["CURRENCY"] == "JPY"
            everything = _rows(lines)
            assert int(status["totals"]["CLICKS"]) == sum(r["CLICKS"] for r in everything)
            assert int(status["totals"]["CONVERSIONS"]) == sum(r["CONVERSIONS"] for r in everything)
            assert status["final"] is (today >= world.final_day(DAY))
    restated = draw.conversions_by_delay
    assert (restated[:, :1].sum() < restated.sum()) and draw.conversions_as_of(DAY).sum() == 0
    truth = _get(server, "/api/v1/ground_truth", medium=MEDIUM, date=DAY.isoformat())["rows"]
    labelled = [r for r in truth if r["label"] is not None]
    assert [r["label"] for r in labelled] == draw.labels
    assert [r["conversions"] for r in labelled] == restated.sum(axis=1).tolist()
    assert {r["label"] for r in truth if r["creative_id"].split("-")[-1].startswith("cr")} == {None}


def test_the_ads_listing_shows_submitted_creatives_of_their_medium(server) -> None:
    world = server.state.world
    groups = world.group_ids.to_pylist()
    entries = [
        _entry(world, groups[0], "list-short", days=2),  # Nov 3..4: retired by Nov 6
        _entry(world, groups[1], "list-long", days=30),  # serving on Nov 6
        _entry(world, groups[2], "list-later", start=date(2026, 11, 20)),  # not launched yet
    ]
    answer = {a["label"]: a["creative_id"] for a in _submit(server, entries).json()["creatives"]}
    _clock(server, date(2026, 11, 6))

    def listing(medium: str) -> list[dict]:
        first = _get(server, "/api/v1/ads", medium=medium, account_id="1001")
        rows = list(first["ads"])
        for page in range(2, first["page_count"] + 1):
            rows += _get(server, "/api/v1/ads", medium=medium, account_id="1001", page=page)["ads"]
        return rows

    rows = listing(MEDIUM)
    ids = [r["creative_id"] for r in rows]
    assert ids == sorted(ids)
    organic = world.creative_table(date(2026, 11, 6))["creative_id"].to_pylist()
    assert sorted(set(ids) - set(organic)) == sorted([answer["list-short"], answer["list-long"]])
    by_id = {r["creative_id"]: r for r in rows}
    short, long = by_id[answer["list-short"]], by_id[answer["list-long"]]
    def life(row: dict) -> tuple:
        return row["status"], row["launch_date"], row["end_date"]

    assert life(short) == ("REMOVED", "2026-11-03", "2026-11-05")  # the day after its last
    assert life(long) == ("ENABLED", "2026-11-03", None)
    assert long["headline_asset_id"] == entries[1]["headline_asset_id"]
    assert [r["creative_id"] for r in listing("google_ads")] == organic  # other media: organic only


def test_truth_endpoint_matches_combination_rates_and_delivery_matches_truth(server) -> None:
    world = server.state.world
    groups = world.group_ids.to_pylist()
    entries = [
        _entry(world, groups[g % 32], f"stat-{g:03d}", k=g // 32, days=10) for g in range(96)
    ]
    _submit_all(server, entries)
    truth = _get(server, "/api/v1/creatives/truth", medium=MEDIUM, date=DAY.isoformat())["rows"]
    labels = [r["label"] for r in truth]
    assert len(truth) == 96 * len(DEVICES) and labels == sorted(labels)
    e = {x["label"]: x for x in entries}
    for device in DEVICES:
        mine = [r for r in truth if r["device"] == device]
        ctr, cvr = world.combination_rates(
            DAY, MEDIUM, device, *([e[r["label"]][f] for r in mine] for f in
                                   ("headline_asset_id", "description_asset_id", "image_asset_id")),
        )  # fmt: skip
        assert [r["true_ctr"] for r in mine] == ctr.tolist()  # age 0: exactly the combination's
        assert [r["true_cvr"] for r in mine] == cvr.tolist()
    later = _get(server, "/api/v1/creatives/truth", medium=MEDIUM, date="2026-11-10")["rows"]
    mobile = [r for r in later if r["device"] == "mobile"]
    fresh, _ = world.combination_rates(
        date(2026, 11, 10), MEDIUM, "mobile",
        *([e[r["label"]][f] for r in mobile] for f in
          ("headline_asset_id", "description_asset_id", "image_asset_id")),
    )  # fmt: skip
    assert len(later) == len(truth) and (np.array([r["true_ctr"] for r in mobile]) < fresh).all()
    none = _get(server, "/api/v1/creatives/truth", medium="google_ads", date=DAY.isoformat())
    assert none["rows"] == []
    # Delivered counts over 96 creatives x 3 devices x 10 days against the truth.
    _clock(server, DAY + timedelta(days=20))
    lines, _ = _report(server, DAY, DAY + timedelta(days=9))
    rows = [r for r in _rows(lines) if r["AD_LABEL"] is not None]
    assert len(rows) == 96 * 3 * 10
    lam = exp_clicks = var_clicks = exp_conv = var_conv = 0.0
    imps = clicks = conv = 0
    for k in range(10):
        day = DAY + timedelta(days=k)
        t = _get(server, "/api/v1/creatives/truth", medium=MEDIUM, date=day.isoformat())["rows"]
        got = [r for r in rows if str(r["DAY"]) == day.isoformat()]
        assert [(r["AD_LABEL"], r["DEVICE"]) for r in got] == [(x["label"], x["device"]) for x in t]
        for r, x in zip(got, t):
            lam += x["expected_impressions"]
            imps, clicks, conv = imps + r["IMPS"], clicks + r["CLICKS"], conv + r["CONVERSIONS"]
            exp_clicks += r["IMPS"] * x["true_ctr"]
            var_clicks += r["IMPS"] * x["true_ctr"] * (1 - x["true_ctr"])
            exp_conv += r["CLICKS"] * x["true_cvr"]
            var_conv += r["CLICKS"] * x["true_cvr"] * (1 - x["true_cvr"])
    assert abs(imps - lam) < 4 * np.sqrt(lam)
    assert abs(clicks - exp_clicks) < 4 * np.sqrt(var_clicks) and clicks > 1000
    assert abs(conv - exp_conv) < 4 * np.sqrt(var_conv) and conv > 20


def test_drop_units_silently_loses_the_chosen_ad_groups_of_prefixed_labels(server) -> None:
    world, state = server.state.world, server.state
    groups = world.group_ids.to_pylist()
    entries = [
        _entry(world, g, f"{arm}-{g}", k=k) for k, g in enumerate(groups) for arm in ("ctl", "trt")
    ]
    _submit_all(server, entries)
    _clock(server, DAY + timedelta(days=1))
    before, _ = _report(server, DAY)
    share = 0.5
    chosen = {g for g in groups if stream_seed(world.seed, "drop_units", g) / 2**64 < share}
    assert 0 < len(chosen) < len(groups)
    fault = {"kind": "drop_units", "stream": "delivery", "label_prefix": "trt-", "share": share}
    put = requests.put(
        f"{server.url}/admin/faults", json={"faults": [fault]}, headers=AUTH, timeout=10
    )
    assert put.status_code == 200
    after, _ = _report(server, DAY)
    lost = set(before) - set(after)
    assert set(after) <= set(before)  # nothing else moves: organic rows and the kept units' counts
    lost_labels = {r["AD_LABEL"] for r in _rows(sorted(lost))}
    assert lost_labels == {f"trt-{g}" for g in chosen} and len(lost) == len(chosen) * len(DEVICES)
    ads = _get(server, "/api/v1/ads", medium=MEDIUM, account_id="1001")["row_count"]
    organic = world.creative_table(DAY + timedelta(days=1)).num_rows
    assert ads == organic + len(entries)  # the lost ones are still listed: a silent loss
    rules = state.faults.delivery_rules()
    draw = draw_submitted(world, state.submissions, MEDIUM, DAY, faults=rules)
    assert {s.label for s, d in zip(draw.submissions, draw.dropped) if d} == lost_labels
    unfaulted = draw_submitted(world, state.submissions, MEDIUM, DAY)  # no rules: all deliver
    assert len(unfaulted.impressions) == len(entries) * len(DEVICES) and not unfaulted.dropped.any()


def test_submit_fault_stream_answers_the_injected_error_and_stores_nothing(server) -> None:
    world, store = server.state.world, server.state.submissions
    faults = [
        {"kind": "http_5xx", "stream": "submit", "on_requests": [1], "status": 503},
        {"kind": "http_429", "stream": "submit", "on_requests": [2], "retry_after": 0.1},
        {"kind": "drop_connection", "stream": "submit", "on_requests": [3]},
    ]
    requests.put(f"{server.url}/admin/faults", json={"faults": faults}, headers=AUTH, timeout=10)
    entry = [_entry(world, world.group_ids[0].as_py(), "faulty")]
    assert _submit(server, entry).status_code == 503 and len(store) == 0
    limited = _submit(server, entry)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "0.1"
    assert len(store) == 0
    with pytest.raises(requests.ConnectionError):
        _submit(server, entry)
    assert len(store) == 0
    assert _submit(server, entry).json()["creatives"][0]["status"] == "CREATED" and len(store) == 1
    fired = _get(server, "/admin/faults")["fired"]
    assert fired == {"http_5xx": 1, "http_429": 1, "drop_connection": 1}
