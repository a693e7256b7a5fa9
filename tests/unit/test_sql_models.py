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
DAILY = ["staging.ad_performance", "staging.creative_snapshot", "features.creative_daily"]


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


def test_features_never_see_their_own_day(wh: DuckDBWarehouse) -> None:
    trailing = "select * exclude (impressions, clicks, conversions) from features.creative_daily " \
               "where report_date = date '2026-11-03' order by creative_id, device"  # fmt: skip
    before = rows(wh, trailing)
    changed = [(d, cr, dev, i * 7, c * 3, v, cost, cur, h, at) if d == D3 else (d, cr, dev, i, c, v, cost, cur, h, at)
               for d, cr, dev, i, c, v, cost, cur, h, at in ROWS]  # fmt: skip
    wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), D3, raw_partition(D3, changed))
    for table_id in DAILY:
        elt.build(table_id, D3, wh)
    assert rows(wh, trailing) == before


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
    for table_id in ("raw.ad_performance", *DAILY):
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
