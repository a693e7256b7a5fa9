"""Google Ads through the Google provider's `GoogleAdsHook` and a GAQL query.

The hook owns authentication (developer token and service account from Airflow
Connections). Rows come back as google-ads `GoogleAdsRow` messages and are mapped to the
canonical report fields; the account's own totals (a second GAQL query on `customer`) are
the source totals that reconciliation checks the load against.

Mapping choices, for a medium that has no advertiser or industry of its own:
- advertiser = the Google Ads customer (account); industry comes from config/media.yaml;
- objective = "conversions" for conversion-optimising bid strategies, else "traffic";
- placement = advertising channel (search, display; video/demand-gen/discovery -> feed);
- conversions are whole numbers only: fractional (data-driven) conversions are quarantined
  as bad_conversions rather than rounded, so use a last-click conversion action here;
- label (AD_LABEL) = the value of the ad-level URL custom parameter `adctr_label`
  (LABEL_PARAMETER), read from `ad_group_ad.ad.url_custom_parameters` in the same GAQL
  query: the tracking id the experiment loop sets on the ads it submits. Only the ad's own
  parameters count (not the ad group's or campaign's, which every ad under them inherits);
  an ad without the key, or with an empty value, has no label (null). Google Ads labels
  (`ad_group_ad.labels`) are not used: they are resource names of account-level Label
  objects, not text, and would need a second query to resolve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa

from adctr.ingestion.adapters.base import REPORT_FIELDS, Report, SourceError

AD_QUERY = """
SELECT
  segments.date, segments.device, customer.id, customer.currency_code,
  campaign.id, campaign.bidding_strategy_type, campaign.advertising_channel_type,
  ad_group.id, ad_group_ad.ad.id, ad_group_ad.ad.type, ad_group_ad.ad.name,
  ad_group_ad.ad.responsive_search_ad.headlines, ad_group_ad.ad.responsive_search_ad.descriptions,
  ad_group_ad.ad.url_custom_parameters,
  metrics.impressions, metrics.clicks, metrics.conversions, metrics.cost_micros
FROM ad_group_ad
WHERE segments.date = '{day}'
"""
TOTALS_QUERY = """
SELECT metrics.impressions, metrics.clicks, metrics.conversions, metrics.cost_micros
FROM customer
WHERE segments.date = '{day}'
"""
CONVERSION_STRATEGIES = {"TARGET_CPA", "MAXIMIZE_CONVERSIONS", "TARGET_ROAS", "MAXIMIZE_CONVERSION_VALUE"}
CHANNEL_PLACEMENT = {"SEARCH": "search", "DISPLAY": "display", "VIDEO": "feed", "DEMAND_GEN": "feed", "DISCOVERY": "feed"}
AD_FORMAT = {"IMAGE_AD": "image", "VIDEO_AD": "video", "VIDEO_RESPONSIVE_AD": "video"}
LABEL_PARAMETER = "adctr_label"  # the ad-level URL custom parameter that carries AD_LABEL


def _count(value: float | int) -> str:
    """Whole counts as integers; a fractional count stays visible (and is quarantined)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _name(enum_value: Any) -> str:
    return getattr(enum_value, "name", str(enum_value))


@dataclass
class GoogleAdsAdapter:
    medium: str
    customer_id: str
    hook: Any  # airflow.providers.google.ads.hooks.ads.GoogleAdsHook
    industry: str | None = None

    def __repr__(self) -> str:
        return f"GoogleAdsAdapter(medium={self.medium!r}, customer_id={self.customer_id!r})"

    @classmethod
    def from_config(cls, medium: str, cfg: dict[str, Any]) -> "GoogleAdsAdapter":
        from airflow.providers.google.ads.hooks.ads import GoogleAdsHook

        hook = GoogleAdsHook(
            api_version=cfg.get("api_version"),
            gcp_conn_id=cfg.get("gcp_conn_id", "google_cloud_default"),
            google_ads_conn_id=cfg.get("connection_id", "google_ads_default"),
        )
        return cls(medium, str(cfg["account_id"]).replace("-", ""), hook, cfg.get("industry"))

    def _search(self, query: str) -> list[Any]:
        try:
            return list(self.hook.search_proto_plus(client_ids=[self.customer_id], query=query))
        except Exception as exc:
            if type(exc).__name__ == "GoogleAdsException":  # a refused query: retrying will not help
                raise SourceError(f"{self.medium}: Google Ads refused the query: {exc}") from exc
            raise

    def fetch(self, report_date: date) -> Report:
        day = report_date.isoformat()
        rows = self._search(AD_QUERY.format(day=day))
        totals_rows = self._search(TOTALS_QUERY.format(day=day))
        table = rows_to_table(rows, self.industry)
        totals = {"rows": len(rows), "impressions": 0, "clicks": 0, "conversions": 0, "cost_micros": 0}
        for t in totals_rows:
            totals["impressions"] += int(t.metrics.impressions)
            totals["clicks"] += int(t.metrics.clicks)
            totals["conversions"] += int(round(t.metrics.conversions))
            totals["cost_micros"] += int(t.metrics.cost_micros)
        pulled = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        return Report(self.medium, report_date, f"gaql-{self.customer_id}-{day}-{pulled}", table, totals)


def _label(ad: Any) -> str | None:
    """The ad's own LABEL_PARAMETER custom parameter (unique per ad); None if absent or empty."""
    return next((p.value for p in ad.url_custom_parameters if p.key == LABEL_PARAMETER), None) or None


def rows_to_table(rows: list[Any], industry: str | None) -> pa.Table:
    """GoogleAdsRow messages -> canonical report fields as strings (column-wise)."""
    out: dict[str, list[str | None]] = {f: [] for f in REPORT_FIELDS}
    for r in rows:
        ad = r.ad_group_ad.ad
        headlines = list(ad.responsive_search_ad.headlines)
        descriptions = list(ad.responsive_search_ad.descriptions)
        values = {
            "DAY": r.segments.date,
            "ACCOUNT_ID": str(r.customer.id),
            "ADVERTISER_ID": str(r.customer.id),
            "INDUSTRY": industry,
            "CAMPAIGN_ID": str(r.campaign.id),
            "CAMPAIGN_OBJECTIVE": "conversions" if _name(r.campaign.bidding_strategy_type) in CONVERSION_STRATEGIES else "traffic",
            "ADGROUP_ID": str(r.ad_group.id),
            "PLACEMENT": CHANNEL_PLACEMENT.get(_name(r.campaign.advertising_channel_type), _name(r.campaign.advertising_channel_type).lower()),
            "AD_ID": str(ad.id) if ad.id else None,
            "AD_TITLE": headlines[0].text if headlines else (ad.name or None),
            "AD_DESCRIPTION": descriptions[0].text if descriptions else None,
            "AD_TYPE": AD_FORMAT.get(_name(ad.type_), "text"),
            "AD_LABEL": _label(ad),
            "DEVICE": _name(r.segments.device).lower(),
            "IMPS": _count(r.metrics.impressions),
            "CLICKS": _count(r.metrics.clicks),
            "CONVERSIONS": _count(r.metrics.conversions),
            "COST": str(Decimal(int(r.metrics.cost_micros)) / Decimal(1_000_000)),
            "CURRENCY": r.customer.currency_code or None,
        }  # fmt: skip
        for name in REPORT_FIELDS:
            out[name].append(values[name])
    return pa.table({name: pa.array(values, pa.string()) for name, values in out.items()})
