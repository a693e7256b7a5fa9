"""Loading landed pulls: a pull landed before raw.ad_performance gained a column still loads."""

from __future__ import annotations

import io
from datetime import date, datetime, timezone

import pyarrow.parquet as pq
from adctr.core.storage import LocalStore
from adctr.core.table_schemas import get_schema
from adctr.ingestion.adapters.base import REPORT_FIELDS, Report
from adctr.ingestion.landing import LandedReport, landing_prefix
from adctr.ingestion.normalize import normalize_report
from adctr.ingestion.raw_load import read_landed

DAY = date(2026, 11, 20)
ROW = {"DAY": "2026-11-20", "ACCOUNT_ID": "1001", "ADVERTISER_ID": "adv1", "INDUSTRY": "games",
       "CAMPAIGN_ID": "c1", "CAMPAIGN_OBJECTIVE": "traffic", "ADGROUP_ID": "ag1", "PLACEMENT": "search",
       "AD_ID": "cr1", "AD_TITLE": "見出し", "AD_DESCRIPTION": "説明", "AD_TYPE": "text", "AD_LABEL": "exp-1",
       "DEVICE": "mobile", "IMPS": 100, "CLICKS": 5, "CONVERSIONS": 1, "COST": "1.5", "CURRENCY": "JPY"}  # fmt: skip


def _land(store: LocalStore, drop: tuple[str, ...] = ()) -> LandedReport:
    """One pull landed as extract_to_landing lands it, less the `drop` columns (an older schema)."""
    report = Report.from_rows("yahoo_ads", DAY, "job-1", tuple(REPORT_FIELDS), [[ROW[f] for f in REPORT_FIELDS]])
    at = datetime(2026, 11, 21, tzinfo=timezone.utc)
    out = normalize_report(report, get_schema("raw.ad_performance"), get_schema("raw.ad_performance_quarantine"),
                           ["JPY"], at)  # fmt: skip
    pull = LandedReport("yahoo_ads", DAY.isoformat(), "job-1", out.accepted.num_rows, 0, at.isoformat(), True,
                        "sha", "job-1")  # fmt: skip
    base = f"{landing_prefix(DAY, 'yahoo_ads')}/pull={pull.pull}"
    for name, table in (("accepted", out.accepted), ("quarantined", out.quarantined)):
        table = table.drop_columns(["source_job_id", "ingested_at", *(c for c in drop if c in table.column_names)])
        buf = io.BytesIO()
        pq.write_table(table, buf)
        store.write_bytes(f"{base}/{name}.parquet", buf.getvalue())
    return pull


def test_a_pull_landed_before_the_label_column_loads_with_it_null(tmp_path) -> None:  # noqa: ANN001
    store = LocalStore(tmp_path)
    accepted, quarantined = read_landed(store, _land(store))
    assert accepted.schema == get_schema("raw.ad_performance").arrow_schema()
    assert accepted["label"].to_pylist() == ["exp-1"]

    accepted, quarantined = read_landed(store, _land(store, drop=("label",)))  # an older pull
    assert accepted.schema == get_schema("raw.ad_performance").arrow_schema()
    assert accepted["label"].to_pylist() == [None] and accepted["creative_id"].to_pylist() == ["cr1"]
    assert quarantined.schema == get_schema("raw.ad_performance_quarantine").arrow_schema()


def test_a_pull_missing_a_required_column_still_fails(tmp_path) -> None:  # noqa: ANN001
    import pytest

    store = LocalStore(tmp_path)
    with pytest.raises(KeyError, match="partition_date"):
        read_landed(store, _land(store, drop=("partition_date",)))
