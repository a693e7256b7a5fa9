"""Row-level checks send bad rows to quarantine with a reason; drift fails the report."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from adctr.admedia.base import Report, SourceError
from adctr.admedia.normalize import REPORT_JOB_FIELDS, normalize_report
from adctr.schema import get_schema

FIELDS = tuple(REPORT_JOB_FIELDS)
GOOD = ["2026-11-20", "1001", "adv1", "games", "c1", "traffic", "ag1", "cr1", "見出し", "説明",
        "text", "mobile", 100, 5, 1, "123.45", "JPY"]  # fmt: skip


def _normalize(rows, fields=FIELDS):  # noqa: ANN001, ANN202
    report = Report("yahoo_ads", date(2026, 11, 20), "job-1", fields, rows)
    return normalize_report(
        report, get_schema("raw.ad_performance"), get_schema("raw.ad_performance_quarantine"),
        ["JPY", "USD"], datetime(2026, 11, 21, tzinfo=timezone.utc),
    )  # fmt: skip


def _with(**changes):  # noqa: ANN003, ANN202
    row = list(GOOD)
    for name, value in changes.items():
        row[FIELDS.index(name)] = value
    return row


def test_good_row_is_typed_and_kept() -> None:
    out = _normalize([GOOD])
    (row,) = out.accepted.to_pylist()
    assert row["cost_micros"] == 123_450_000 and row["headline"] == "見出し"
    assert row["source_job_id"] == "job-1" and row["medium"] == "yahoo_ads"
    assert out.quarantined.num_rows == 0


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"AD_ID": None}, "null_creative_id"),
        ({"IMPS": -1, "CLICKS": 0}, "negative_count"),
        ({"IMPS": 5, "CLICKS": 10}, "clicks_gt_impressions"),
        ({"CURRENCY": "EUR"}, "unknown_currency"),
        ({"DAY": "2026-11-19"}, "date_outside_partition"),
        ({"IMPS": "many"}, "bad_impressions"),
    ],
)
def test_bad_rows_are_quarantined_with_reason(changes: dict, reason: str) -> None:
    out = _normalize([GOOD, _with(**changes)])
    assert out.accepted.num_rows == 1
    (q,) = out.quarantined.to_pylist()
    assert reason in q["reason"].split(";")
    assert json.loads(q["row_json"])["ACCOUNT_ID"] == "1001"  # the row is kept whole


def test_schema_drift_fails_naming_the_fields() -> None:
    drifted = tuple("IMPRESSIONS" if f == "IMPS" else f for f in FIELDS)
    with pytest.raises(SourceError, match=r"missing \['IMPS'\], unexpected \['IMPRESSIONS'\]"):
        _normalize([GOOD], fields=drifted)
