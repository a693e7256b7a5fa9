"""Small builders shared by tests (real schema, real types)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pyarrow as pa

from adctr.schema import get_schema


def raw_rows(day: date, n: int = 6, medium: str = "yahoo_ads") -> pa.Table:
    """n valid raw.ad_performance rows for one day, pulled an hour ago."""
    pulled = datetime.now(timezone.utc) - timedelta(hours=1)
    rows = []
    for i in range(n):
        rows.append(
            {
                "partition_date": day, "report_date": day, "medium": medium, "account_id": "1001",
                "advertiser_id": "adv001", "industry": "games", "campaign_id": "adv001-cmp1",
                "campaign_objective": "traffic", "ad_group_id": "adv001-cmp1-ag1",
                "placement": "search",
                "creative_id": f"adv001-cmp1-ag1-cr{i // 3 + 1}",
                "headline": "話題のゲーム", "description": "今すぐチェック", "ad_format": "image",
                "device": ("mobile", "desktop", "tablet")[i % 3],
                "impressions": 1000 + i, "clicks": 30 + i, "conversions": 2, "cost_micros": 1_500_000_000,
                "currency": "JPY", "source_job_id": "job-1",
                "ingested_at": pulled,
            }
        )  # fmt: skip
    return pa.Table.from_pylist(rows, schema=get_schema("raw.ad_performance").arrow_schema())
