"""The simulator's asset world: libraries, drift, creative turnover, combination truth, HTTP."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import requests
from adctr.core import settings
from adctr.simulator.reports import report_table
from adctr.simulator.routes import SimulatorServer
from adctr.simulator.state import state_from_config
from adctr.simulator.world import FORMATS, World, world_from_config

DAY = date(2026, 11, 2)
TODAY = date(2026, 11, 10)
TOKEN = "local-simulator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _config(**overrides: object) -> dict:
    return {**settings.load_config("simulator"), **overrides}


@pytest.fixture(scope="module")
def world() -> World:
    return world_from_config(_config())


def test_world_is_deterministic_per_seed(world: World) -> None:
    again = world_from_config(_config())
    other = world_from_config(_config(seed=8))
    for build in ("asset_table", "creative_table"):
        assert getattr(world, build)(DAY).equals(getattr(again, build)(DAY))
    assert world.combination_truth(DAY, "meta", "mobile").equals(
        again.combination_truth(DAY, "meta", "mobile")
    )
    assert not world.creative_table(DAY).equals(other.creative_table(DAY))
    a = world.combination_truth(DAY, "meta", "mobile")["true_ctr"].to_numpy()
    b = other.combination_truth(DAY, "meta", "mobile")["true_ctr"].to_numpy()
    assert len(a) != len(b) or not np.allclose(a, b)


def test_asset_effects_drift_as_a_random_walk(world: World) -> None:
    lib = world.assets
    t = DAY.toordinal()
    now, _ = lib.effects_at(t)
    day_later, _ = lib.effects_at(t + 1)
    month_later, _ = lib.effects_at(t + 28)
    year_later, _ = lib.effects_at(t + 364)
    assert not np.allclose(now, month_later)  # not a constant
    step_day, step_month = np.std(day_later - now), np.std(month_later - now)
    assert 0 < step_day < step_month  # continuous (linear between weekly knots), growing with lag
    corr = [np.corrcoef(now, x)[0, 1] for x in (month_later, year_later)]
    assert corr[0] > 0.8 and corr[1] < 0.6  # 28-day history informative, last year's stale
    assert 0.8 < np.std(year_later) / np.std(now) < 1.25  # mean-reverting: the spread stays put


def test_creatives_launch_and_retire_steadily(world: World) -> None:
    days = [date(2026, 1, 1) + timedelta(days=k) for k in range(0, 365, 7)]
    active = [set(world.active(d).tolist()) for d in days]
    assert {len(a) for a in active} == {96}  # 32 ad groups x 3 slots, every day
    launched = [len(b - a) for a, b in itertools.pairwise(active)]
    # ~32 x 3 / 90 a day: about 380 a year, new ones in every two-month span
    assert 250 < sum(launched) < 500 and min(sum(launched[k : k + 8]) for k in range(0, 48, 8)) > 20
    cr = world.creatives
    serving = sorted(active[-1])
    assert (cr.launch_ordinal[serving] > world.start_date.toordinal()).mean() > 0.9
    table = world.creative_table(DAY)
    status = table["status"].to_pylist()
    ends = table["end_date"].to_pylist()
    assert status.count("ENABLED") == 96 and all(
        (e is None) == (s == "ENABLED") for e, s in zip(ends, status)
    )
    assert all(e <= DAY for e in ends if e is not None)  # the listing does not know the future
    combos = list(
        zip(
            *(
                table[c].to_pylist()
                for c in ("headline_asset_id", "description_asset_id", "image_asset_id")
            )
        )
    )
    assert len(set(combos)) == len(combos)  # every creative is a new combination


def test_assets_keep_launching_after_start(world: World) -> None:
    start = world.asset_table(date(2026, 1, 1))
    late = world.asset_table(DAY)
    assert start.num_rows < late.num_rows < len(world.assets.group)
    new = pc.greater(late["launch_date"], pa.scalar(date(2026, 1, 1), pa.date32()))
    assert 0.05 < pc.mean(pc.cast(new, pa.int8())).as_py() < 0.3
    types = late["asset_type"].to_pylist()
    assert [f is None for f in late["asset_format"].to_pylist()] == [t != "IMAGE" for t in types]
    assert [x is None for x in late["asset_text"].to_pylist()] == [t == "IMAGE" for t in types]
    assert late["asset_id"].to_pylist() == sorted(late["asset_id"].to_pylist())


def test_report_rows_show_the_creatives_assets(world: World) -> None:
    table = report_table(world, "google_ads", DAY, DAY, TODAY)
    # Organic creatives carry no label: a string column of nulls.
    assert table.schema.field("AD_LABEL").type == pa.string() and table["AD_LABEL"].null_count == table.num_rows
    report = table.to_pylist()
    ads = {r["creative_id"]: r for r in world.creative_table(DAY).to_pylist()}
    assets = {r["asset_id"]: r for r in world.asset_table(DAY).to_pylist()}
    assert len(report) == 96 * 3
    for row in report:
        ad = ads[row["AD_ID"]]
        assert ad["status"] == "ENABLED" and ad["ad_group_id"] == row["ADGROUP_ID"]
        assert row["AD_TITLE"] == assets[ad["headline_asset_id"]]["asset_text"]
        assert row["AD_DESCRIPTION"] == assets[ad["description_asset_id"]]["asset_text"]
        assert (
            row["AD_TYPE"] == assets[ad["image_asset_id"]]["asset_format"]
            and row["AD_TYPE"] in FORMATS
        )


def test_true_rates_agree_with_combination_rates(world: World) -> None:
    cr = world.creatives
    ids = world.asset_ids
    late = np.flatnonzero(cr.launch_ordinal > date(2026, 2, 1).toordinal())[:40]
    for c in late:
        launch = date.fromordinal(int(cr.launch_ordinal[c]))
        for day in (launch, launch + timedelta(days=30)):
            ctr, cvr = world.true_rates("meta", day, np.array([c]), np.array([2]))
            new_ctr, new_cvr = world.combination_rates(
                day, "meta", "tablet", [ids[int(cr.headline[c])].as_py()],
                [ids[int(cr.description[c])].as_py()], [ids[int(cr.image[c])].as_py()],
            )  # fmt: skip
            age = (day - launch).days
            fatigue = world.fatigue * np.log1p(age / 7)
            logit = lambda p: np.log(p / (1 - p))
            assert logit(new_ctr[0]) - logit(ctr[0]) == pytest.approx(fatigue, abs=1e-9)
            assert cvr[0] == new_cvr[0]
            if age == 0:
                assert ctr[0] == new_ctr[0]


def test_advertiser_and_ad_group_levels_shift_all_their_combinations(world: World) -> None:
    """`effect_sd` advertiser / ad_group: one latent logit level shared by every combination of
    an ad group; the other draws of the seed stay put, and without the keys the levels are 0."""
    base = settings.load_config("simulator")["world"]

    def with_sds(**levels: float) -> World:
        sds = {m: {**base["effect_sd"][m], **levels} for m in ("ctr", "cvr")}
        return world_from_config(_config(world={**base, "effect_sd": sds}))

    levelled = with_sds(advertiser=0.5, ad_group=0.4)
    assert levelled.creative_table(DAY).equals(world.creative_table(DAY))
    assert levelled.asset_table(DAY).equals(world.asset_table(DAY))
    h, _, _, *plain = world.combination_arrays(DAY, "meta", "mobile")
    _, _, _, *shifted = levelled.combination_arrays(DAY, "meta", "mobile")
    group = world.assets.group[h]
    for before, after in zip(plain, shifted, strict=True):  # CTR, CVR
        shift = np.log(after / (1 - after)) - np.log(before / (1 - before))
        per_group = [shift[group == g] for g in np.unique(group)]
        assert all(np.ptp(v) < 1e-9 for v in per_group)  # one level per ad group
        assert 0.3 < np.std([v[0] for v in per_group]) < 1.0  # sqrt(0.5^2 + 0.4^2) = 0.64
    absent = {m: {k: v for k, v in base["effect_sd"][m].items() if k not in ("advertiser", "ad_group")}
              for m in ("ctr", "cvr")}  # fmt: skip
    default = world_from_config(_config(world={**base, "effect_sd": absent}))
    assert np.array_equal(default.combination_arrays(DAY, "meta", "mobile")[3], plain[0])


def test_drifting_levels_move_every_combination_of_an_ad_group_together(world: World) -> None:
    """`level_drift_sd_per_sqrt_week`: the advertiser and ad-group levels walk week by week
    (one shift per ad group and day, shared by all its combinations), their spread stays at
    their sd, and at 0 they stay put (the constant levels of a world without drift)."""
    base = settings.load_config("simulator")["world"]
    sds = {m: {**base["effect_sd"][m], "advertiser": 0.5, "ad_group": 0.4} for m in ("ctr", "cvr")}

    def make(drift: float) -> World:
        return world_from_config(_config(world={**base, "effect_sd": sds, "level_drift_sd_per_sqrt_week": drift}))

    still, drifting = make(0.0), make(0.5)
    assert drifting.creative_table(DAY).equals(world.creative_table(DAY))
    earlier = DAY - timedelta(weeks=8)

    def group_shift(w: World, day: date) -> np.ndarray:
        """Each ad group's logit CTR shift against the world without levels (one per group)."""
        h, _, _, ctr, _ = w.combination_arrays(day, "meta", "mobile")
        _, _, _, plain, _ = world.combination_arrays(day, "meta", "mobile")
        group, shift = w.assets.group[h], np.log(ctr / (1 - ctr)) - np.log(plain / (1 - plain))
        assert all(np.ptp(shift[group == g]) < 1e-6 for g in np.unique(group))
        return shift[np.unique(group, return_index=True)[1]]

    moved = group_shift(drifting, DAY) - group_shift(drifting, earlier)
    # (1 - 0.5^2)^4 = 0.32 correlation over 8 weeks: the levels move, by about their own spread.
    assert 0.25 < np.std(moved) < 0.9 and 0.3 < np.std(group_shift(drifting, earlier)) < 1.0
    assert np.allclose(group_shift(still, DAY), group_shift(still, earlier))
    with pytest.raises(ValueError, match="level_drift_sd_per_sqrt_week"):
        make(1.0)


def test_new_ad_groups_launch_during_the_horizon_with_a_new_library(world: World) -> None:
    """`new_ad_group_share`: such an ad group lists no asset and serves no creative before its
    launch day; its whole library launches on or after that day and its slots fill on it. The
    first ad group of each campaign is always there from the start; the rest of the seed's
    draws stay put."""
    base = settings.load_config("simulator")["world"]
    grown = world_from_config(_config(world={**base, "new_ad_group_share": 0.6}))
    start = date.fromisoformat(base["start_date"]).toordinal()
    launch = grown.group_launch_ordinal
    new = np.flatnonzero(launch > start)
    eligible = len(launch) - len(launch) // base["ad_groups_per_campaign"]  # all but each ag1
    assert 0.3 * eligible < len(new) < 0.9 * eligible
    assert all(not grp.endswith("-ag1") for grp in grown.group_ids.take(pa.array(new)).to_pylist())
    lib, cr = grown.assets, grown.creatives
    for g in new:
        assets = lib.launch_ordinal[lib.group == g]
        assert assets.min() == launch[g] and (assets >= launch[g]).all()
        firsts = cr.launch_ordinal[cr.group == g]
        assert firsts.min() == launch[g]
        assert (firsts == launch[g]).sum() == base["creatives_per_ad_group"]
    g = int(new[np.argmax(launch[new])])  # the latest launch, well inside the horizon
    day = date.fromordinal(int(launch[g]))
    group_id = grown.group_ids[g].as_py()
    for listed in (grown.asset_table, grown.creative_table):
        assert group_id not in listed(day - timedelta(days=1))["ad_group_id"].to_pylist()
        assert group_id in listed(day)["ad_group_id"].to_pylist()
    before = {r["ad_group_id"] for r in grown.combination_summary(day - timedelta(days=1), "meta", "mobile")}
    assert group_id not in before and len(before) == (launch < launch[g]).sum()
    truth = grown.ground_truth("meta", day - timedelta(days=1))
    assert not any(c.startswith(group_id + "-") for c in truth["creative_id"].to_pylist())
    old = np.flatnonzero(launch <= start)
    assert np.array_equal(grown.assets.knots_ctr[:, lib.group < len(launch)], world.assets.knots_ctr)
    assert np.array_equal(grown.group_industry[old], world.group_industry[old])
    with pytest.raises(ValueError, match="new_ad_group_share"):
        world_from_config(_config(world={**base, "new_ad_group_share": 1.5}))


def test_launches_that_find_no_unused_combination_are_counted(world: World) -> None:
    """Lifetimes too short for the asset library use every combination up: the world says how
    many launches found none (the slot's creative serves on), so a calibration can see it."""
    base = settings.load_config("simulator")["world"]
    short = world_from_config(_config(world={**base, "creative_lifetime_days": 14}))
    assert short.creatives.used_up_launches > 10 * world.creatives.used_up_launches > 0
    assert len(short.active(DAY)) == len(world.active(DAY)) == 96  # every slot still serves


def test_combination_truth_covers_every_combination(world: World) -> None:
    truth = world.combination_truth(DAY, "yahoo_ads", "desktop")
    assets = world.asset_table(DAY).to_pylist()
    expected = 0
    for group in {a["ad_group_id"] for a in assets}:
        n = [
            sum(a["ad_group_id"] == group and a["asset_type"] == t for a in assets)
            for t in ("HEADLINE", "DESCRIPTION", "IMAGE")
        ]
        expected += n[0] * n[1] * n[2]
    rows = truth.cast(
        pa.schema(
            [
                (f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type)
                for f in truth.schema
            ]
        )
    ).to_pylist()
    assert (
        len(rows)
        == expected
        == len(
            {(r["headline_asset_id"], r["description_asset_id"], r["image_asset_id"]) for r in rows}
        )
    )
    launched = {a["asset_id"] for a in assets}
    for r in rows:
        g = r["ad_group_id"]
        for col, p in (
            ("headline_asset_id", "h"),
            ("description_asset_id", "d"),
            ("image_asset_id", "i"),
        ):
            assert re.fullmatch(rf"{re.escape(g)}-{p}[1-9][0-9]*", r[col]) and r[col] in launched
        assert 0 < r["true_ctr"] < 1 and 0 < r["true_cvr"] < 1
    ads = world.creative_table(DAY).to_pylist()
    by_combo = {
        (a["headline_asset_id"], a["description_asset_id"], a["image_asset_id"]): a["creative_id"]
        for a in ads
    }
    got = {
        (r["headline_asset_id"], r["description_asset_id"], r["image_asset_id"]): r["creative_id"]
        for r in rows
        if r["creative_id"]
    }
    assert got == by_combo
    some = world.combination_truth(
        DAY, "yahoo_ads", "desktop", ad_group_ids=[rows[0]["ad_group_id"]]
    )
    assert some.num_rows == sum(r["ad_group_id"] == rows[0]["ad_group_id"] for r in rows)


def test_profiles_override_the_world() -> None:
    cfg = _config(profiles={"tiny": {"advertisers": 1, "assets_per_ad_group": {"headline": 2}}})
    tiny = world_from_config(cfg, profile="tiny")
    assert len(tiny.group_ids) == 4 and tiny.assets.counts == (2, 3, 3)
    with pytest.raises(KeyError, match="no simulator profile 'nope'"):
        world_from_config(cfg, profile="nope")
    bench = settings.load_config("simulator")["profiles"]["bench"]
    base = settings.load_config("simulator")["world"]
    groups = (
        bench["advertisers"] * bench["campaigns_per_advertiser"] * bench["ad_groups_per_campaign"]
    )
    sizes = {**base["assets_per_ad_group"], **bench["assets_per_ad_group"]}
    assert (
        groups >= 1000
        and groups * sizes["headline"] * sizes["description"] * sizes["image"] >= 10_000_000
    )


# Over HTTP: the real loopback server.


@pytest.fixture(scope="module")
def server():
    cfg = _config(assets={"page_size": 100}, combination_truth={"max_combinations": 50})
    with SimulatorServer(state_from_config(cfg, today=TODAY)) as srv:
        yield srv


def _get(server, path: str, auth: bool = True, **params: object) -> requests.Response:
    return requests.get(
        f"{server.url}{path}", params=params, headers=AUTH if auth else {}, timeout=10
    )


@pytest.mark.parametrize("listing", ["assets", "ads"])
def test_listing_pages(server, listing: str) -> None:
    first = _get(server, f"/api/v1/{listing}", medium="meta", account_id="1001", page=1).json()
    assert (
        first["page_count"] > 1
        and first["page_size"] == 100
        and first["as_of"] == TODAY.isoformat()
    )
    rows = list(first[listing])
    for page in range(2, first["page_count"] + 1):
        rows += _get(
            server, f"/api/v1/{listing}", medium="meta", account_id="1001", page=page
        ).json()[listing]
    world = server.state.world
    table = world.asset_table(TODAY) if listing == "assets" else world.creative_table(TODAY)
    assert len(rows) == first["row_count"] == table.num_rows
    key = "asset_id" if listing == "assets" else "creative_id"
    assert [r[key] for r in rows] == table[key].to_pylist()
    assert all(isinstance(r["launch_date"], str) for r in rows)
    assert (
        _get(server, f"/api/v1/{listing}", auth=False, medium="meta", account_id="1001").status_code
        == 401
    )
    bad_page = _get(
        server, f"/api/v1/{listing}", medium="meta", account_id="1001", page=first["page_count"] + 1
    )
    assert bad_page.status_code == 400 and "out of range" in bad_page.json()["error"]
    assert (
        _get(server, f"/api/v1/{listing}", medium="meta", account_id="1001", page="x").status_code
        == 400
    )
    assert _get(server, f"/api/v1/{listing}", medium="tiktok", account_id="1001").status_code == 400


@pytest.mark.parametrize("listing", ["assets", "ads"])
def test_listing_faults_fire_on_their_streams(server, listing: str) -> None:
    faults = [
        {"kind": "http_429", "stream": listing, "on_requests": [1], "retry_after": 0.1},
        {"kind": "truncated_page", "stream": listing, "on_requests": [2]},
        {"kind": "duplicated_page", "stream": listing, "on_requests": [3]},
        {"kind": "drop_connection", "stream": listing, "on_requests": [4]},
    ]
    requests.put(f"{server.url}/admin/faults", json={"faults": faults}, headers=AUTH, timeout=10)
    try:
        params = {"medium": "yahoo_ads", "account_id": "1001", "page": 1}
        limited = _get(server, f"/api/v1/{listing}", **params)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "0.1"
        assert len(_get(server, f"/api/v1/{listing}", **params).json()[listing]) == 50
        assert _get(server, f"/api/v1/{listing}", **params).json()["page"] == 2
        with pytest.raises(requests.ConnectionError):
            _get(server, f"/api/v1/{listing}", **params)
        assert len(_get(server, f"/api/v1/{listing}", **params).json()[listing]) == 100
        other = "ads" if listing == "assets" else "assets"
        assert _get(server, f"/api/v1/{other}", **params).status_code == 200
    finally:
        requests.put(f"{server.url}/admin/faults", json={"faults": []}, headers=AUTH, timeout=10)


def test_combination_truth_over_http(server) -> None:
    world = server.state.world
    truth = world.combination_truth(DAY, "meta", "mobile").slice(0, 50)
    combos = [
        [r["headline_asset_id"], r["description_asset_id"], r["image_asset_id"]]
        for r in truth.to_pylist()
    ]
    body = {"date": DAY.isoformat(), "medium": "meta", "device": "mobile", "combinations": combos}
    resp = requests.post(
        f"{server.url}/api/v1/combination_truth", json=body, headers=AUTH, timeout=10
    )
    assert resp.status_code == 200
    assert [r["true_ctr"] for r in resp.json()["rows"]] == truth["true_ctr"].to_pylist()
    too_many = requests.post(
        f"{server.url}/api/v1/combination_truth", json={**body, "combinations": combos + combos[:1]},
        headers=AUTH, timeout=10,
    )  # fmt: skip
    assert too_many.status_code == 413
    mixed = [[combos[0][0], combos[0][1], combos[-1][2].replace("-ag1-", "-ag2-")]]
    bad = requests.post(
        f"{server.url}/api/v1/combination_truth",
        json={**body, "combinations": mixed},
        headers=AUTH,
        timeout=10,
    )
    assert bad.status_code == 400
    unknown = requests.post(
        f"{server.url}/api/v1/combination_truth",
        json={**body, "combinations": [["x", "y", "z"]]},
        headers=AUTH,
        timeout=10,
    )
    assert unknown.status_code == 400
    assert (
        requests.post(f"{server.url}/api/v1/combination_truth", json=body, timeout=10).status_code
        == 401
    )


def test_combination_summary_over_http(server) -> None:
    resp = _get(
        server,
        "/api/v1/combination_truth/summary",
        date=DAY.isoformat(),
        medium="meta",
        device="mobile",
    )
    groups = resp.json()["ad_groups"]
    assert resp.status_code == 200 and len(groups) == 32
    truth = server.state.world.combination_truth(DAY, "meta", "mobile").to_pandas()
    by_group = truth.groupby("ad_group_id", observed=True)["true_ctr"]
    for g in groups:
        assert g["best"]["true_ctr"] >= g["mean_true_ctr"] > 0
        assert g["best"]["true_ctr"] == pytest.approx(by_group.max()[g["ad_group_id"]])
        assert g["mean_true_ctr"] == pytest.approx(by_group.mean()[g["ad_group_id"]])
        assert 0 < g["served_true_ctr"] < 1
    assert (
        _get(
            server,
            "/api/v1/combination_truth/summary",
            auth=False,
            date=DAY.isoformat(),
            medium="meta",
            device="mobile",
        ).status_code
        == 401
    )
    assert (
        _get(
            server,
            "/api/v1/combination_truth/summary",
            date=DAY.isoformat(),
            medium="meta",
            device="tv",
        ).status_code
        == 400
    )


def test_combination_summary_by_cvr_over_http(server) -> None:
    resp = _get(server, "/api/v1/combination_truth/summary", date=DAY.isoformat(), medium="meta",
                device="mobile", metric="cvr")  # fmt: skip
    groups = resp.json()["ad_groups"]
    truth = server.state.world.combination_truth(DAY, "meta", "mobile").to_pandas()
    by_group = truth.groupby("ad_group_id", observed=True)["true_cvr"]
    for g in groups:
        assert g["best"]["true_cvr"] == pytest.approx(by_group.max()[g["ad_group_id"]])
        assert g["mean_true_cvr"] == pytest.approx(by_group.mean()[g["ad_group_id"]])
        assert "true_ctr" not in g["best"] and 0 < g["served_true_cvr"] < 1
    bad = _get(server, "/api/v1/combination_truth/summary", date=DAY.isoformat(), medium="meta",
               device="mobile", metric="roas")  # fmt: skip
    assert bad.status_code == 400 and "metric" in bad.text
