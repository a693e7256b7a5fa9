"""Row-level checks send bad rows to quarantine with a reason; drift fails the report."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
from adctr.core.table_schemas import get_schema
from adctr.ingestion.adapters.base import Report, SourceError
from adctr.ingestion.normalize import REPORT_JOB_FIELDS, normalize_report

FIELDS = tuple(REPORT_JOB_FIELDS)
GOOD = ["2026-11-20", "1001", "adv1", "games", "c1", "traffic", "ag1", "search", "cr1", "見出し", "説明",
        "text", None, "mobile", 100, 5, 1, "123.45", "JPY"]  # fmt: skip


def _normalize(rows, fields=FIELDS, allow_additive=False):  # noqa: ANN001, ANN202
    report = Report.from_rows("yahoo_ads", date(2026, 11, 20), "job-1", fields, rows)
    return normalize_report(
        report, get_schema("raw.ad_performance"), get_schema("raw.ad_performance_quarantine"),
        ["JPY", "USD"], datetime(2026, 11, 21, tzinfo=timezone.utc), allow_additive=allow_additive,
    )  # fmt: skip


def _with(**changes):  # noqa: ANN003, ANN202
    row = list(GOOD)
    for name, value in changes.items():
        row[FIELDS.index(name)] = value
    return row


def test_good_row_is_typed_and_kept() -> None:
    out = _normalize([GOOD])
    (row,) = out.accepted.to_pylist()
    assert row["cost_micros"] == 123_450_000 and row["headline"] == "見出し" and row["placement"] == "search"
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
        ({"CONVERSIONS": "1.5"}, "bad_conversions"),
    ],
)
def test_bad_rows_are_quarantined_with_reason(changes: dict, reason: str) -> None:
    out = _normalize([_with(AD_ID="cr0"), _with(**changes)])
    assert out.accepted.num_rows == 1
    (q,) = out.quarantined.to_pylist()
    assert reason in q["reason"].split(";")
    assert json.loads(q["row_json"])["ACCOUNT_ID"] == "1001"  # the row is kept whole
    assert q["source_job_id"] == "job-1"


@pytest.mark.parametrize(("sent", "label"), [(None, None), ("", None), ("exp-7:v2", "exp-7:v2"), ("007", "007")])
def test_label_is_text_as_sent_and_empty_is_null_never_a_row_fault(sent: str | None, label: str | None) -> None:
    out = _normalize([_with(AD_LABEL=sent)])
    (row,) = out.accepted.to_pylist()
    assert row["label"] == label and out.quarantined.num_rows == 0


def test_duplicate_key_keeps_the_first_and_quarantines_the_rest() -> None:
    out = _normalize([GOOD, _with(IMPS=200), _with(DEVICE="desktop")])
    assert sorted(r["impressions"] for r in out.accepted.to_pylist()) == [100, 100]
    (q,) = out.quarantined.to_pylist()
    assert q["reason"] == "duplicate_key" and json.loads(q["row_json"])["IMPS"] == "200"


def test_quarantined_totals_count_what_the_source_sent() -> None:
    out = _normalize([GOOD, _with(AD_ID=None, IMPS=7, CLICKS=2), _with(AD_ID="x", IMPS="n/a")])
    assert out.quarantined_totals["rows"] == 2 and out.quarantined_totals["impressions"] == 7
    assert out.quarantined_totals["clicks"] == 7 and out.unparseable["impressions"] == 1


def test_schema_drift_fails_naming_the_fields() -> None:
    drifted = tuple("IMPRESSIONS" if f == "IMPS" else f for f in FIELDS)
    with pytest.raises(SourceError, match=r"missing \['IMPS'\], unexpected \['IMPRESSIONS'\]"):
        _normalize([GOOD], fields=drifted)


def test_additive_field_fails_unless_allowed_then_is_dropped() -> None:
    fields, row = (*FIELDS, "AD_STRENGTH"), [*GOOD, "EXCELLENT"]
    with pytest.raises(SourceError, match=r"missing \[\], unexpected \['AD_STRENGTH'\].*allow_additive_fields"):
        _normalize([row], fields=fields)
    out = _normalize([row], fields=fields, allow_additive=True)
    assert out.accepted.num_rows == 1 and out.ignored_fields == ("AD_STRENGTH",)
    assert "AD_STRENGTH" not in out.accepted.column_names


def test_duplicate_keys_fast_path_agrees_with_the_exact_one() -> None:
    import numpy as np
    import pyarrow as pa
    from adctr.ingestion.normalize import duplicate_keys

    rng = np.random.default_rng(7)
    creative = [f"cr{i}" for i in rng.permutation(3000)]
    device = ["mobile", "desktop", "tablet"] * 1000
    unique = {"creative_id": pa.array(creative), "device": pa.array(device)}
    assert duplicate_keys(unique).to_pylist() == [False] * 3000  # fast path: every key once
    # A repeat, and two rows with a null creative (equal keys for the group-by) on the exact path.
    repeated = {"creative_id": pa.array([*creative[:5], creative[1], None, None]),
                "device": pa.array([*device[:5], device[1], "mobile", "mobile"])}  # fmt: skip
    assert duplicate_keys(repeated).to_pylist() == [False] * 5 + [True, False, True]
