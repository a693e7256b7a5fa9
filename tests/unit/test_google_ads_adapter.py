"""The Google Ads adapter on real google-ads GoogleAdsRow objects built locally.

The provider's GoogleAdsHook is subclassed only to answer `search_proto_plus` from those rows
(no network); everything after the hook (mapping, totals, normalisation) is the product path.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from adctr.core.table_schemas import get_schema
from adctr.ingestion.adapters.google_ads import GoogleAdsAdapter
from adctr.ingestion.normalize import normalize_report
from airflow.providers.google.ads.hooks.ads import GoogleAdsHook
from google.ads.googleads.v23.common.types.ad_asset import AdTextAsset
from google.ads.googleads.v23.common.types.custom_parameter import CustomParameter
from google.ads.googleads.v23.services.types.google_ads_service import GoogleAdsRow

DAY = date(2026, 11, 10)


def _row(ad_id: int, device: str, imps: int, clicks: int, conv: float, cost_micros: int, **kw: object) -> GoogleAdsRow:
    r = GoogleAdsRow()
    r.segments.date = DAY.isoformat()
    r.segments.device = device
    r.customer.id = 1234567890
    r.customer.currency_code = "JPY"
    r.campaign.id = 11
    r.campaign.bidding_strategy_type = kw.get("bidding", "TARGET_CPA")
    r.campaign.advertising_channel_type = kw.get("channel", "SEARCH")
    r.ad_group.id = 22
    r.ad_group_ad.ad.id = ad_id
    r.ad_group_ad.ad.type_ = kw.get("ad_type", "RESPONSIVE_SEARCH_AD")
    r.ad_group_ad.ad.responsive_search_ad.headlines.append(AdTextAsset(text="冬の旅行セール"))
    r.ad_group_ad.ad.responsive_search_ad.descriptions.append(AdTextAsset(text="最大50%オフ"))
    for key, value in kw.get("params", {}).items():  # the ad's URL custom parameters
        r.ad_group_ad.ad.url_custom_parameters.append(CustomParameter(key=key, value=value))
    r.metrics.impressions = imps
    r.metrics.clicks = clicks
    r.metrics.conversions = conv
    r.metrics.cost_micros = cost_micros
    return r


def _totals(rows: list[GoogleAdsRow]) -> GoogleAdsRow:
    t = GoogleAdsRow()
    t.metrics.impressions = sum(r.metrics.impressions for r in rows)
    t.metrics.clicks = sum(r.metrics.clicks for r in rows)
    t.metrics.conversions = sum(r.metrics.conversions for r in rows)
    t.metrics.cost_micros = sum(r.metrics.cost_micros for r in rows)
    return t


class _LocalRowsHook(GoogleAdsHook):
    def __init__(self, rows: list[GoogleAdsRow]) -> None:
        super().__init__(api_version="v23")
        self.rows, self.queries = rows, []

    def search_proto_plus(self, client_ids: list[str], query: str, **kwargs: object) -> list[GoogleAdsRow]:
        self.queries.append((client_ids, query))
        return [_totals(self.rows)] if "FROM customer" in query else self.rows


def _normalize(report):  # noqa: ANN001, ANN202
    return normalize_report(
        report, get_schema("raw.ad_performance"), get_schema("raw.ad_performance_quarantine"),
        ["JPY"], datetime(2026, 11, 11, tzinfo=timezone.utc),
    )  # fmt: skip


def test_rows_map_to_the_raw_schema_and_totals_come_from_the_account() -> None:
    rows = [
        _row(901, "MOBILE", 1000, 40, 3.0, 1_234_560_000),
        _row(902, "DESKTOP", 500, 10, 0.0, 450_000_000, bidding="MANUAL_CPC", channel="DISPLAY", ad_type="IMAGE_AD"),
    ]
    hook = _LocalRowsHook(rows)
    report = GoogleAdsAdapter("google_ads", "1234567890", hook, industry="travel").fetch(DAY)
    assert hook.queries[0][0] == ["1234567890"] and "segments.date = '2026-11-10'" in hook.queries[0][1]
    assert report.source_totals == {"rows": 2, "impressions": 1500, "clicks": 50, "conversions": 3,
                                    "cost_micros": 1_684_560_000}  # fmt: skip
    out = _normalize(report)
    first, second = sorted(out.accepted.to_pylist(), key=lambda r: r["creative_id"])
    assert (first["device"], first["campaign_objective"], first["placement"], first["ad_format"]) == (
        "mobile", "conversions", "search", "text")
    assert (second["device"], second["campaign_objective"], second["placement"], second["ad_format"]) == (
        "desktop", "traffic", "display", "image")
    assert first["cost_micros"] == 1_234_560_000 and first["headline"] == "冬の旅行セール"
    assert first["advertiser_id"] == "1234567890" and first["industry"] == "travel"
    assert out.quarantined.num_rows == 0


def test_fractional_conversions_are_quarantined_not_rounded() -> None:
    rows = [_row(901, "MOBILE", 1000, 40, 2.5, 1_000_000), _row(902, "TABLET", 10, 1, 1.0, 2_000_000)]
    out = _normalize(GoogleAdsAdapter("google_ads", "1", _LocalRowsHook(rows)).fetch(DAY))
    assert out.accepted.num_rows == 1
    (q,) = out.quarantined.to_pylist()
    assert "bad_conversions" in q["reason"] and '"CONVERSIONS": "2.5"' in q["row_json"]


@pytest.mark.parametrize(("micros", "text"), [(10_000_000, "10"), (1_230_000, "1.23"), (1, "0.000001"), (0, "0")])
def test_cost_micros_become_exact_decimal_text(micros: int, text: str) -> None:
    report = GoogleAdsAdapter("google_ads", "1", _LocalRowsHook([_row(1, "MOBILE", 5, 1, 0.0, micros)])).fetch(DAY)
    assert report.table["COST"].to_pylist() == [text]
    assert _normalize(report).accepted["cost_micros"].to_pylist() == [micros]


def test_label_is_the_ads_own_adctr_label_custom_parameter() -> None:
    rows = [
        _row(901, "MOBILE", 100, 4, 0.0, 1_000_000, params={"season": "winter", "adctr_label": "exp-42:v3"}),
        _row(902, "MOBILE", 100, 4, 0.0, 1_000_000, params={"season": "winter"}),  # no label key
        _row(903, "MOBILE", 100, 4, 0.0, 1_000_000, params={"adctr_label": ""}),  # empty: no label
        _row(904, "MOBILE", 100, 4, 0.0, 1_000_000),  # no custom parameters at all
    ]
    hook = _LocalRowsHook(rows)
    report = GoogleAdsAdapter("google_ads", "1", hook).fetch(DAY)
    assert "ad_group_ad.ad.url_custom_parameters" in hook.queries[0][1]  # the query returns them
    assert report.table["AD_LABEL"].to_pylist() == ["exp-42:v3", None, None, None]
    out = _normalize(report)
    labels = {r["creative_id"]: r["label"] for r in out.accepted.to_pylist()}
    assert labels == {"901": "exp-42:v3", "902": None, "903": None, "904": None}
    assert out.quarantined.num_rows == 0  # a missing label is not a row fault
