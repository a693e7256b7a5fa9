"""Every SQL model on small, hand-checked fixture data (DuckDB, the SQL as written).

Fixture (one medium; creatives A, B in ad group g1 of advertiser adv1; C in g2 of adv2):
    day  creative device  imps clicks conv  cost      note
    d1   A        mobile   100    10    1   1000 JPY  (+ an older ingestion: 999 imps)
    d1   B        mobile   200     4    0     10 USD
    d1   C        mobile    50     5    5    100 JPY
    d2   A        mobile   100    20    2    500 JPY
    d2   A        desktop  100     0    0      0 JPY
    d2   B        mobile   200     6    1     20 USD
    d3   A        mobile   300    30    3   1500 JPY
    d3   C        mobile    10     1    0     10 JPY  headline changed on d3

Asset library (staging.assets / staging.creative_assets, loaded as such): g1 has headlines
h1, h2, descriptions d1, d2, images i1, i2; A = (h1, d1, i1), B = (h1, d2, i1), B is REMOVED
on d3. g2 has h1, d1, i1 and C = (h1, d1, i1); g2-d2 launches on d3, g2-i2 on the day after
(listed in d3's snapshot already: the candidates and asset features must skip it).
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pyarrow as pa
import pytest
from adctr.core.table_schemas import get_schema
from adctr.warehouse import elt
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
OLD, NEW = datetime(2026, 11, 4, tzinfo=timezone.utc), datetime(2026, 11, 5, tzinfo=timezone.utc)
CREATIVES = {"A": ("g1", "adv1"), "B": ("g1", "adv1"), "C": ("g2", "adv2")}
GROUP_ADVERTISER = {"g1": "adv1", "g2": "adv2"}  # ad group -> advertiser
ROWS = [
    (D1, "A", "mobile", 999, 10, 1, 1000, "JPY", "旧見出し", OLD),
    (D1, "A", "mobile", 100, 10, 1, 1000, "JPY", "見出しA", NEW),
    (D1, "B", "mobile", 200, 4, 0, 10, "USD", "見出しB", NEW),
    (D1, "C", "mobile", 50, 5, 5, 100, "JPY", "見出しC", NEW),
    (D2, "A", "mobile", 100, 20, 2, 500, "JPY", "見出しA", NEW),
    (D2, "A", "desktop", 100, 0, 0, 0, "JPY", "見出しA", NEW),
    (D2, "B", "mobile", 200, 6, 1, 20, "USD", "見出しB", NEW),
    (D3, "A", "mobile", 300, 30, 3, 1500, "JPY", "見出しA", NEW),
    (D3, "C", "mobile", 10, 1, 0, 10, "JPY", "新見出しC", NEW),
]
D4 = date(2026, 11, 4)
# asset id -> (type, text, format, launch date)
ASSETS = {
    "g1-h1": ("HEADLINE", "見出しA", None, D1), "g1-h2": ("HEADLINE", "別の見出し", None, D1),
    "g1-d1": ("DESCRIPTION", "説明", None, D1), "g1-d2": ("DESCRIPTION", "説明", None, D1),
    "g1-i1": ("IMAGE", None, "image", D1), "g1-i2": ("IMAGE", None, "video", D1),
    "g2-h1": ("HEADLINE", "新見出しC", None, D1), "g2-d1": ("DESCRIPTION", "説明", None, D1),
    "g2-i1": ("IMAGE", None, "image", D1), "g2-d2": ("DESCRIPTION", "新しい説明", None, D3),
    "g2-i2": ("IMAGE", None, "image", D4),
}  # fmt: skip
# creative -> (headline, description, image, day from which it is REMOVED)
COMPOSITION = {"A": ("g1-h1", "g1-d1", "g1-i1", None), "B": ("g1-h1", "g1-d2", "g1-i1", D3),
               "C": ("g2-h1", "g2-d1", "g2-i1", None)}  # fmt: skip
DAILY = [
    "staging.ad_performance",
    "staging.creative_snapshot",
    "features.asset_daily",
    "features.asset_pair_daily",
    "features.creative_daily",
]


def library_partitions(day: date, composition=COMPOSITION) -> tuple[pa.Table, pa.Table]:  # noqa: ANN001
    """The asset library and the creatives' compositions as listed on `day`."""
    assets = [
        {"report_date": day, "asset_id": a, "ad_group_id": a[:2], "campaign_id": f"{GROUP_ADVERTISER[a[:2]]}-c",
         "advertiser_id": GROUP_ADVERTISER[a[:2]], "asset_type": kind, "asset_text": text,
         "text_length": len(text) if text else None, "asset_format": fmt, "launch_date": launch}
        for a, (kind, text, fmt, launch) in ASSETS.items() if launch <= day or day == D3
    ]  # fmt: skip
    creatives = [
        {"report_date": day, "creative_id": cr, "ad_group_id": CREATIVES[cr][0], "headline_asset_id": h,
         "description_asset_id": d, "image_asset_id": i, "launch_date": D1,
         "status": "REMOVED" if removed and day >= removed else "ENABLED"}
        for cr, (h, d, i, removed) in composition.items()
    ]  # fmt: skip
    return (
        pa.Table.from_pylist(assets, schema=get_schema("staging.assets").arrow_schema()),
        pa.Table.from_pylist(creatives, schema=get_schema("staging.creative_assets").arrow_schema()),
    )


def load_library(wh: DuckDBWarehouse, day: date, composition=COMPOSITION) -> None:  # noqa: ANN001
    assets, creatives = library_partitions(day, composition)
    wh.replace_partition_from_arrow(get_schema("staging.assets"), day, assets)
    wh.replace_partition_from_arrow(get_schema("staging.creative_assets"), day, creatives)


def raw_partition(day: date, rows=ROWS) -> pa.Table:  # noqa: ANN001
    out = []
    for d, cr, device, imps, clicks, conv, cost, cur, headline, at in rows:
        if d != day:
            continue
        group, adv = CREATIVES[cr]
        out.append({
            "partition_date": d, "report_date": d, "medium": "yahoo_ads", "account_id": "1", "advertiser_id": adv,
            "industry": "games", "campaign_id": f"{adv}-c", "campaign_objective": "traffic",
            "ad_group_id": group, "creative_id": cr, "headline": headline, "description": "説明",
            "ad_format": "image", "device": device, "impressions": imps, "clicks": clicks,
            "conversions": conv, "cost_micros": cost * 1_000_000, "currency": cur,
            "source_job_id": f"job-{at.day}", "ingested_at": at,
        })  # fmt: skip
    return pa.Table.from_pylist(out, schema=get_schema("raw.ad_performance").arrow_schema())


def build_days(wh: DuckDBWarehouse, days: list[date]) -> None:
    for day in days:
        wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), day, raw_partition(day))
        load_library(wh, day)
        for table_id in DAILY:
            elt.build(table_id, day, wh)


def rows(wh: DuckDBWarehouse, sql: str) -> list[dict]:
    return wh.query_arrow(sql).to_pylist()


@pytest.fixture
def wh(tmp_path) -> DuckDBWarehouse:  # noqa: ANN001
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    build_days(warehouse, [D1, D2, D3])
    return warehouse


def test_staging_dedups_to_latest_ingestion_and_converts_cost(wh: DuckDBWarehouse) -> None:
    got = rows(wh, "select creative_id, impressions, cost, currency, cost_jpy, headline "
                   "from staging.ad_performance where report_date = date '2026-11-01' order by 1")  # fmt: skip
    assert got == [
        {"creative_id": "A", "impressions": 100, "cost": 1000.0, "currency": "JPY", "cost_jpy": 1000.0, "headline": "見出しA"},
        {"creative_id": "B", "impressions": 200, "cost": 10.0, "currency": "USD", "cost_jpy": 1500.0, "headline": "見出しB"},
        {"creative_id": "C", "impressions": 50, "cost": 100.0, "currency": "JPY", "cost_jpy": 100.0, "headline": "見出しC"},
    ]  # fmt: skip


def test_creative_snapshot_tracks_first_last_seen_and_attribute_changes(wh: DuckDBWarehouse) -> None:
    got = rows(wh, "select creative_id, headline, first_seen_date, last_seen_date, attributes_since "
                   "from staging.creative_snapshot where report_date = date '2026-11-03' order by 1")  # fmt: skip
    assert got == [
        {"creative_id": "A", "headline": "見出しA", "first_seen_date": D1, "last_seen_date": D3, "attributes_since": D1},
        {"creative_id": "B", "headline": "見出しB", "first_seen_date": D1, "last_seen_date": D2, "attributes_since": D1},
        {"creative_id": "C", "headline": "新見出しC", "first_seen_date": D1, "last_seen_date": D3, "attributes_since": D3},
    ]  # fmt: skip


def test_features_trailing_stats_by_hand(wh: DuckDBWarehouse) -> None:
    got = rows(wh, "select * from features.creative_daily where report_date = date '2026-11-03' order by creative_id")
    a, c = got
    # creative A before d3: imps 100+100+100, clicks 10+20+0, conversions 1+2+0
    assert (a["creative_impressions_7d"], a["creative_ctr_7d"], a["creative_cvr_7d"]) == (300, 0.1, 0.1)
    # ad group g1 (= advertiser adv1) before d3: A (300, 30, 3) + B (400, 10, 1)
    assert (a["ad_group_impressions_7d"], a["ad_group_ctr_7d"], a["ad_group_cvr_7d"]) == (700, 40 / 700, 0.1)
    assert (a["advertiser_impressions_28d"], a["advertiser_ctr_28d"]) == (700, 40 / 700)
    assert (a["impressions"], a["clicks"], a["conversions"]) == (300, 30, 3)  # the day itself
    assert (c["creative_impressions_7d"], c["creative_ctr_7d"], c["creative_cvr_7d"]) == (50, 0.1, 1.0)
    assert (c["creative_age_days"], c["headline_length"]) == (2, len("新見出しC"))
    first_day = rows(wh, "select creative_impressions_7d, creative_ctr_7d from features.creative_daily "
                         "where report_date = date '2026-11-01'")  # fmt: skip
    assert all(r == {"creative_impressions_7d": 0, "creative_ctr_7d": None} for r in first_day)


FEATURES_OF_D3 = {  # every feature of d3 (today's counts are labels), for the keys d3 had before the change
    "features.creative_daily": "select * exclude (impressions, clicks, conversions) from features.creative_daily "
                               "where report_date = date '2026-11-03' and creative_id in ('A', 'B', 'C')",
    "features.asset_daily": "select * from features.asset_daily where report_date = date '2026-11-03'",
    "features.asset_pair_daily": "select * from features.asset_pair_daily where report_date = date '2026-11-03' "
                                 "and image_asset_id <> 'g1-i2'",
    "scoring.candidates": "select * exclude (creative_id, served) from scoring.candidates "
                          "where scoring_date = date '2026-11-03'",
}  # fmt: skip


def test_features_never_see_their_own_day(wh: DuckDBWarehouse) -> None:
    """Changing d3's own data (its counts, and a new creative E of existing assets that serves
    on d3) moves no feature of d3: creative, ad group, advertiser, asset, pair or candidate."""
    elt.build("scoring.candidates", D3, wh)
    before = {t: sorted(rows(wh, sql), key=repr) for t, sql in FEATURES_OF_D3.items()}
    changed = [(d, cr, dev, i * 7, c * 3, v, cost, cur, h, at) if d == D3 else (d, cr, dev, i, c, v, cost, cur, h, at)
               for d, cr, dev, i, c, v, cost, cur, h, at in ROWS]  # fmt: skip
    changed.append((D3, "E", "mobile", 1000, 900, 800, 10, "JPY", "見出しA", NEW))
    CREATIVES["E"] = ("g1", "adv1")
    try:
        wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), D3, raw_partition(D3, changed))
        load_library(wh, D3, {**COMPOSITION, "E": ("g1-h1", "g1-d1", "g1-i2", None)})
        for table_id in [*DAILY, "scoring.candidates"]:
            elt.build(table_id, D3, wh)
    finally:
        del CREATIVES["E"]
    after = {t: sorted(rows(wh, sql), key=repr) for t, sql in FEATURES_OF_D3.items()}
    assert after == before
    (e,) = rows(wh, "select * from features.creative_daily where report_date = date '2026-11-03' and creative_id = 'E'")
    assert (e["creative_impressions_28d"], e["creative_ctr_28d"], e["creative_age_days"]) == (0, None, 0)
    assert (e["headline_asset_impressions_7d"], e["headline_image_impressions_7d"]) == (700, 0)  # h1 by A, B; (h1, i2) new
    assert rows(wh, "select creative_id, served from scoring.candidates where image_asset_id = 'g1-i2' "
                    "and headline_asset_id = 'g1-h1' and description_asset_id = 'g1-d1'") == [
        {"creative_id": "E", "served": True}
    ]  # fmt: skip


def test_asset_and_pair_trailing_stats_by_hand(wh: DuckDBWarehouse) -> None:
    # An older day inside 28 but not 7 days: A 1000 imps, 100 clicks, 10 conversions.
    older = date(2026, 10, 14)
    wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), older,
                                    raw_partition(older, [(older, "A", "mobile", 1000, 100, 10, 0, "JPY", "見出しA", NEW)]))  # fmt: skip
    elt.build("staging.ad_performance", older, wh)
    for table_id in ("features.asset_daily", "features.asset_pair_daily"):
        elt.build(table_id, D3, wh)
    cols = "impressions_7d, clicks_7d, conversions_7d, impressions_28d, clicks_28d, conversions_28d"
    got = {r.pop("asset_id"): tuple(r.values()) for r in rows(
        wh, f"select asset_id, asset_type, {cols} from features.asset_daily where report_date = date '2026-11-03'")}  # fmt: skip
    # before d3: A (300, 30, 3) [+ (1000, 100, 10) older than 7 days], B (400, 10, 1), C (50, 5, 5)
    assert got == {
        "g1-h1": ("HEADLINE", 700, 40, 4, 1700, 140, 14),  # A + B
        "g1-h2": ("HEADLINE", 0, 0, 0, 0, 0, 0),  # in no creative
        "g1-d1": ("DESCRIPTION", 300, 30, 3, 1300, 130, 13),  # A
        "g1-d2": ("DESCRIPTION", 400, 10, 1, 400, 10, 1),  # B (removed on d3: its history still counts)
        "g1-i1": ("IMAGE", 700, 40, 4, 1700, 140, 14),  # A + B
        "g1-i2": ("IMAGE", 0, 0, 0, 0, 0, 0),
        "g2-h1": ("HEADLINE", 50, 5, 5, 50, 5, 5),  # C
        "g2-d1": ("DESCRIPTION", 50, 5, 5, 50, 5, 5),
        "g2-i1": ("IMAGE", 50, 5, 5, 50, 5, 5),
        "g2-d2": ("DESCRIPTION", 0, 0, 0, 0, 0, 0),  # launched on d3; g2-i2 (launching d4) has no row
    }
    pairs = rows(wh, f"select ad_group_id, headline_asset_id, image_asset_id, {cols} from features.asset_pair_daily "
                     "where report_date = date '2026-11-03' order by 1")  # fmt: skip
    assert [tuple(r.values()) for r in pairs] == [
        ("g1", "g1-h1", "g1-i1", 700, 40, 4, 1700, 140, 14),  # A + B share headline and image
        ("g2", "g2-h1", "g2-i1", 50, 5, 5, 50, 5, 5),
    ]
    elt.build("features.creative_daily", D3, wh)
    a = rows(wh, "select * from features.creative_daily where report_date = date '2026-11-03' and creative_id = 'A'")[0]
    assert (a["headline_asset_impressions_7d"], a["headline_asset_ctr_7d"], a["headline_asset_cvr_7d"]) == (700, 40 / 700, 0.1)
    assert (a["description_asset_impressions_28d"], a["description_asset_ctr_28d"]) == (1300, 0.1)
    assert (a["image_asset_impressions_28d"], a["headline_image_impressions_28d"], a["headline_image_cvr_28d"]) == (1700, 1700, 0.1)


CONTEXTS = [{"medium": "yahoo_ads", "device": "mobile"}, {"medium": "yahoo_ads", "device": "desktop"}]


def test_candidates_are_every_launched_combination_per_context_with_creative_daily_features(wh: DuckDBWarehouse) -> None:
    from adctr.model.contract import source_columns

    elt.build("scoring.candidates", D3, wh, params={"contexts": CONTEXTS})
    got = rows(wh, "select * from scoring.candidates where scoring_date = date '2026-11-03'")
    # g1: 2 headlines x 2 descriptions x 2 images; g2 on d3: 1 x 2 (d2 launched on d3) x 1 (i2 not yet)
    assert len(got) == (2 * 2 * 2 + 1 * 2 * 1) * len(CONTEXTS)
    assert {(r["medium"], r["device"]) for r in got} == {(c["medium"], c["device"]) for c in CONTEXTS}
    daily = {(r["creative_id"], r["device"]): r for r in rows(
        wh, "select * from features.creative_daily where report_date = date '2026-11-03'")}  # fmt: skip
    creatives = [r for r in got if r["creative_id"]]
    assert sorted((r["creative_id"], r["served"]) for r in creatives if r["device"] == "mobile") == [
        ("A", True), ("B", False), ("C", True)]  # fmt: skip
    for r in creatives:
        if (r["creative_id"], r["device"]) in daily:  # A and C report on d3 (mobile)
            expected = daily[(r["creative_id"], r["device"])]
            assert {c: r[c] for c in source_columns()} == {c: expected[c] for c in source_columns()}
    assert sum((r["creative_id"], r["device"]) in daily for r in creatives) == 2
    (b,) = [r for r in creatives if r["creative_id"] == "B" and r["device"] == "mobile"]
    assert (b["creative_impressions_7d"], b["creative_ctr_7d"], b["creative_age_days"]) == (400, 10 / 400, 2)
    unserved = [r for r in got if not r["creative_id"]]
    assert len(unserved) == len(got) - 3 * len(CONTEXTS) and not any(r["served"] for r in unserved)
    for r in unserved:
        assert (r["creative_impressions_7d"], r["creative_impressions_28d"], r["creative_age_days"]) == (0, 0, 0)
        assert r["creative_ctr_7d"] is r["creative_cvr_28d"] is None
    (new,) = [r for r in unserved if r["description_asset_id"] == "g2-d2" and r["device"] == "mobile"]
    assert (new["headline_asset_impressions_7d"], new["description_asset_impressions_7d"], new["ad_group_impressions_7d"]) == (50, 0, 50)
    assert (new["description_length"], new["ad_format"], new["industry"]) == (len("新しい説明"), "image", "games")
    elt.build("scoring.candidates", D3, wh)  # contexts from config/scoring.yaml
    from adctr.core import settings

    assert rows(wh, "select count(*) as n from scoring.candidates")[0]["n"] == 10 * len(settings.load_config("scoring")["contexts"])


def test_training_sets_respect_windows_and_label_maturity(wh: DuckDBWarehouse) -> None:
    for table_id in ("training.ctr_examples", "training.cvr_examples"):
        elt.build(table_id, D3, wh, params={"window_days": 2, "attribution_window_days": 1})
    ctr = rows(wh, "select report_date, creative_id, device from training.ctr_examples order by 1, 2, 3")
    assert {r["report_date"] for r in ctr} == {D2, D3}  # window of 2 days ending at the snapshot
    assert len(ctr) == 5  # d2: A mobile, A desktop, B; d3: A, C (all have impressions)
    cvr = rows(wh, "select report_date, creative_id, device, clicks from training.cvr_examples order by 1, 2, 3")
    assert {r["report_date"] for r in cvr} == {D1, D2}  # d3 is not mature yet
    assert all(r["clicks"] > 0 for r in cvr) and len(cvr) == 5  # A desktop d2 has no clicks


def _checksums(wh: DuckDBWarehouse) -> dict[str, tuple]:
    out = {}
    for table_id in ("raw.ad_performance", "staging.assets", "staging.creative_assets", *DAILY):
        cols = ", ".join(get_schema(table_id).content_columns)
        out[table_id] = wh.execute_native(f"select count(*), sum(hash({cols})::hugeint) from {table_id}")[0]
    return out


def test_same_fixture_twice_and_a_single_date_rerun_give_identical_tables(wh, tmp_path) -> None:  # noqa: ANN001
    first = _checksums(wh)
    again = DuckDBWarehouse(tmp_path / "again.duckdb")
    build_days(again, [D1, D2, D3])
    assert _checksums(again) == first
    build_days(wh, [D2])
    assert _checksums(wh) == first
