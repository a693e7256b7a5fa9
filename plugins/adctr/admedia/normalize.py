"""Turn a pulled report into raw-schema Arrow tables: accepted rows and quarantined rows.

Column-wise with pyarrow compute (no per-row Python except to serialise rejected rows).
A report whose fields do not match the adapter's mapping is schema drift: it fails whole
with the fields named, because guessing a mapping could corrupt the raw layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from adctr.admedia.base import Report, SourceError
from adctr.schema import TableSchema

# Source field -> raw column, for report-job APIs of the Yahoo! Ads shape.
REPORT_JOB_FIELDS = {
    "DAY": "report_date",
    "ACCOUNT_ID": "account_id",
    "ADVERTISER_ID": "advertiser_id",
    "INDUSTRY": "industry",
    "CAMPAIGN_ID": "campaign_id",
    "CAMPAIGN_OBJECTIVE": "campaign_objective",
    "ADGROUP_ID": "ad_group_id",
    "AD_ID": "creative_id",
    "AD_TITLE": "headline",
    "AD_DESCRIPTION": "description",
    "AD_TYPE": "ad_format",
    "DEVICE": "device",
    "IMPS": "impressions",
    "CLICKS": "clicks",
    "CONVERSIONS": "conversions",
    "COST": "cost_micros",
    "CURRENCY": "currency",
}
ID_COLUMNS = ("account_id", "advertiser_id", "campaign_id", "ad_group_id", "creative_id", "device")
COUNT_COLUMNS = ("impressions", "clicks", "conversions")
_INT = r"^-?[0-9]+$"
_DECIMAL = r"^-?[0-9]+(\.[0-9]{1,6})?$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


@dataclass(frozen=True)
class NormalizedReport:
    accepted: pa.Table  # raw.ad_performance schema
    quarantined: pa.Table  # raw.ad_performance_quarantine schema


def _as_strings(rows: list[list[object]], index: int) -> pa.Array:
    values = [None if r[index] is None else str(r[index]).strip() for r in rows]
    return pa.array([v if v != "" else None for v in values], type=pa.string())


def _append_reason(reasons: pa.Array, mask: pa.Array, reason: str) -> pa.Array:
    mask = pc.fill_null(mask, False)
    tagged = pc.if_else(
        pc.is_null(reasons), pa.scalar(reason), pc.binary_join_element_wise(reasons, reason, ";")
    )
    return pc.if_else(mask, tagged, reasons)


def normalize_report(
    report: Report,
    raw_schema: TableSchema,
    quarantine_schema: TableSchema,
    accepted_currencies: list[str],
    ingested_at: datetime,
    field_map: dict[str, str] = REPORT_JOB_FIELDS,
) -> NormalizedReport:
    fields = list(report.fields)
    missing = sorted(set(field_map) - set(fields))
    extra = sorted(set(fields) - set(field_map))
    if missing or extra:
        raise SourceError(
            f"{report.medium}: report for {report.report_date} does not match the expected "
            f"fields (schema drift): missing {missing}, unexpected {extra}"
        )
    n = len(report.rows)
    short = [i for i, r in enumerate(report.rows) if len(r) != len(fields)]
    if short:
        raise SourceError(
            f"{report.medium}: {len(short)} report rows have a field count other than "
            f"{len(fields)} (first at row {short[0]})"
        )
    text = {field_map[f]: _as_strings(report.rows, i) for i, f in enumerate(fields)}
    reasons = pa.nulls(n, pa.string())

    for col in ID_COLUMNS:
        reasons = _append_reason(reasons, pc.is_null(text[col]), f"null_{col}")
    typed: dict[str, pa.Array] = {}
    for col in COUNT_COLUMNS:
        ok = pc.match_substring_regex(text[col], _INT)
        reasons = _append_reason(reasons, pc.invert(pc.fill_null(ok, False)), f"bad_{col}")
        typed[col] = pc.cast(pc.if_else(ok, text[col], pa.scalar(None, pa.string())), pa.int64())
    cost_ok = pc.fill_null(pc.match_substring_regex(text["cost_micros"], _DECIMAL), False)
    reasons = _append_reason(reasons, pc.invert(cost_ok), "bad_cost")
    cost = pc.cast(
        pc.if_else(cost_ok, text["cost_micros"], pa.scalar(None, pa.string())),
        pa.decimal128(18, 6),
    )
    micros = pc.multiply(cost, pa.scalar(1_000_000, pa.decimal128(7, 0)))
    typed["cost_micros"] = pc.cast(micros, pa.int64())
    date_ok = pc.fill_null(pc.match_substring_regex(text["report_date"], _DATE), False)
    day_text = pc.if_else(date_ok, text["report_date"], pa.scalar(None, pa.string()))
    typed["report_date"] = pc.cast(pc.strptime(day_text, "%Y-%m-%d", "s"), pa.date32())

    negative = pc.or_(
        pc.or_(pc.less(typed["impressions"], 0), pc.less(typed["clicks"], 0)),
        pc.or_(pc.less(typed["conversions"], 0), pc.less(typed["cost_micros"], 0)),
    )
    reasons = _append_reason(reasons, negative, "negative_count")
    reasons = _append_reason(
        reasons, pc.greater(typed["clicks"], typed["impressions"]), "clicks_gt_impressions"
    )
    currency_ok = pc.is_in(text["currency"], value_set=pa.array(accepted_currencies, pa.string()))
    reasons = _append_reason(reasons, pc.invert(currency_ok), "unknown_currency")
    outside = pc.not_equal(typed["report_date"], pa.scalar(report.report_date, pa.date32()))
    reasons = _append_reason(reasons, pc.or_(outside, pc.invert(date_ok)), "date_outside_partition")

    rejected = pc.is_valid(reasons)
    accepted_mask = pc.invert(rejected)
    ts = pa.scalar(ingested_at, pa.timestamp("us", tz="UTC"))
    columns: dict[str, pa.Array] = {}
    for name in raw_schema.column_names:
        if name == "partition_date":
            columns[name] = pa.array([report.report_date] * n, pa.date32())
        elif name == "medium":
            columns[name] = pa.array([report.medium] * n, pa.string())
        elif name == "source_job_id":
            columns[name] = pa.array([report.source_job_id] * n, pa.string())
        elif name == "ingested_at":
            columns[name] = pa.array([ingested_at] * n, pa.timestamp("us", tz="UTC"))
        else:
            columns[name] = typed.get(name, text.get(name))
    accepted = pa.table(columns).filter(accepted_mask).cast(raw_schema.arrow_schema())

    bad_idx = pc.indices_nonzero(rejected).to_pylist()
    bad_reasons = pc.take(reasons, pa.array(bad_idx, pa.int64())).to_pylist() if bad_idx else []
    quarantined = pa.table(
        {
            "report_date": pa.array([report.report_date] * len(bad_idx), pa.date32()),
            "medium": pa.array([report.medium] * len(bad_idx), pa.string()),
            "reason": pa.array(bad_reasons, pa.string()),
            "row_json": pa.array(
                [
                    json.dumps(dict(zip(fields, report.rows[i])), ensure_ascii=False, default=str)
                    for i in bad_idx
                ],
                pa.string(),
            ),
            "source_job_id": pa.array([report.source_job_id] * len(bad_idx), pa.string()),
            "ingested_at": pa.array([ts.as_py()] * len(bad_idx), pa.timestamp("us", tz="UTC")),
        }
    ).cast(quarantine_schema.arrow_schema())
    return NormalizedReport(accepted=accepted, quarantined=quarantined)
