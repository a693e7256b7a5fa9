"""Turn a pulled report into raw-schema Arrow tables: accepted rows and quarantined rows.

Column-wise with pyarrow compute (no per-row Python except to serialise rejected rows).
Schema drift is checked against the canonical report fields: a missing or renamed field
fails the report whole with the column diff, because guessing a mapping could corrupt the
raw layer; an additive unknown field is ignored and logged when `allow_additive` is set.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from adctr.core.table_schemas import TableSchema
from adctr.ingestion.adapters.base import REPORT_FIELDS, TOTAL_COLUMNS, Report, SourceError

log = logging.getLogger(__name__)

REPORT_JOB_FIELDS = REPORT_FIELDS  # the canonical fields are the report-job API's
ID_COLUMNS = ("account_id", "advertiser_id", "campaign_id", "ad_group_id", "creative_id", "device")
COUNT_COLUMNS = ("impressions", "clicks", "conversions")
KEY_COLUMNS = ("creative_id", "device")  # with medium and partition: raw's unique key
_INT = r"^-?[0-9]+$"
_DECIMAL = r"^-?[0-9]+(\.[0-9]{1,6})?$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


@dataclass(frozen=True)
class NormalizedReport:
    accepted: pa.Table  # raw.ad_performance schema
    quarantined: pa.Table  # raw.ad_performance_quarantine schema
    # Sums over the quarantined rows of the values that parsed, and how many did not.
    quarantined_totals: dict[str, int] = field(default_factory=dict)
    unparseable: dict[str, int] = field(default_factory=dict)
    ignored_fields: tuple[str, ...] = ()


def as_text(column: pa.ChunkedArray) -> pa.Array:
    """The column as strings, empty strings as null (values are not trimmed: the checks below
    quarantine a padded number instead of guessing what it meant)."""
    text = pc.cast(column, pa.string()).combine_chunks()
    if len(text) and pc.min(pc.binary_length(text)).as_py() == 0:  # offsets only: cheap
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    return text


def append_reason(reasons: pa.Array, mask: pa.Array, reason: str) -> pa.Array:
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():  # the usual case: no row has this fault (one pass, no copy)
        return reasons
    tagged = pc.if_else(
        pc.is_null(reasons), pa.scalar(reason), pc.binary_join_element_wise(reasons, reason, ";")
    )
    return pc.if_else(mask, tagged, reasons)


def check_fields(report: Report, allow_additive: bool, field_map: dict[str, str] = REPORT_FIELDS) -> tuple[str, ...]:
    """Fail on a missing/renamed field (naming the diff); return tolerated extra fields."""
    fields = list(report.fields)
    missing = [f for f in field_map if f not in fields]
    extra = [f for f in fields if f not in field_map]
    duplicated = sorted({f for f in fields if fields.count(f) > 1})
    if missing or duplicated or (extra and not allow_additive):
        raise SourceError(
            f"{report.medium}: report for {report.report_date} does not match the declared raw "
            f"schema (schema drift): missing {missing}, unexpected {extra}"
            + (f", duplicated {duplicated}" if duplicated else "")
            + ("" if missing or duplicated else "; set schema_drift.allow_additive_fields in "
               "config/media.yaml to load it without them")
        )
    if extra:
        log.warning("%s %s: ignoring additive fields %s (allowed by config)", report.medium, report.report_date, extra)
    return tuple(extra)


def duplicate_keys(text: dict[str, pa.Array], keys: tuple[str, ...] = KEY_COLUMNS) -> pa.Array:
    """True for every row whose key appeared in an earlier row."""
    n = len(text[keys[0]])
    keyed = pa.table({k: text[k] for k in keys})
    # Fast path: as many key groups as rows means no key repeats (the usual report).
    if keyed.group_by(list(keys), use_threads=False).aggregate([]).num_rows == n:
        return pa.repeat(pa.scalar(False), n)
    keyed = keyed.append_column("i", pa.array(np.arange(n, dtype=np.int64)))
    firsts = keyed.group_by(list(keys), use_threads=False).aggregate([("i", "min")])["i_min"]
    return pc.invert(pc.is_in(keyed["i"], value_set=firsts.combine_chunks())).combine_chunks()


def parse_dates(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(dates, ok): YYYY-MM-DD strings as date32 (null where not a real date), and which parsed."""
    shaped = pc.fill_null(pc.match_substring_regex(text, _DATE), False)
    day_text = pc.if_else(shaped, text, pa.scalar(None, pa.string()))
    days = pc.cast(pc.strptime(day_text, "%Y-%m-%d", "s", error_is_null=True), pa.date32())
    return days, pc.is_valid(days)


def normalize_report(
    report: Report,
    raw_schema: TableSchema,
    quarantine_schema: TableSchema,
    accepted_currencies: list[str],
    ingested_at: datetime,
    allow_additive: bool = False,
    field_map: dict[str, str] = REPORT_FIELDS,
) -> NormalizedReport:
    ignored = check_fields(report, allow_additive, field_map)
    n = report.table.num_rows
    text = {column: as_text(report.table[f]) for f, column in field_map.items()}
    reasons = pa.nulls(n, pa.string())

    for col in ID_COLUMNS:
        reasons = append_reason(reasons, pc.is_null(text[col]), f"null_{col}")
    typed: dict[str, pa.Array] = {}
    ok: dict[str, pa.Array] = {}
    for col in COUNT_COLUMNS:
        ok[col] = pc.fill_null(pc.match_substring_regex(text[col], _INT), False)
        reasons = append_reason(reasons, pc.invert(ok[col]), f"bad_{col}")
        typed[col] = pc.cast(pc.if_else(ok[col], text[col], pa.scalar(None, pa.string())), pa.int64())
    ok["cost_micros"] = pc.fill_null(pc.match_substring_regex(text["cost_micros"], _DECIMAL), False)
    reasons = append_reason(reasons, pc.invert(ok["cost_micros"]), "bad_cost")
    cost = pc.cast(
        pc.if_else(ok["cost_micros"], text["cost_micros"], pa.scalar(None, pa.string())),
        pa.decimal128(18, 6),
    )
    typed["cost_micros"] = pc.cast(pc.multiply(cost, pa.scalar(1_000_000, pa.decimal128(7, 0))), pa.int64())
    typed["report_date"], date_ok = parse_dates(text["report_date"])

    negative = pc.or_(
        pc.or_(pc.less(typed["impressions"], 0), pc.less(typed["clicks"], 0)),
        pc.or_(pc.less(typed["conversions"], 0), pc.less(typed["cost_micros"], 0)),
    )
    reasons = append_reason(reasons, negative, "negative_count")
    reasons = append_reason(reasons, pc.greater(typed["clicks"], typed["impressions"]), "clicks_gt_impressions")
    currency_ok = pc.is_in(text["currency"], value_set=pa.array(accepted_currencies, pa.string()))
    reasons = append_reason(reasons, pc.invert(currency_ok), "unknown_currency")
    outside = pc.not_equal(typed["report_date"], pa.scalar(report.report_date, pa.date32()))
    reasons = append_reason(reasons, pc.or_(outside, pc.invert(date_ok)), "date_outside_partition")
    if n:
        reasons = append_reason(reasons, duplicate_keys(text), "duplicate_key")

    rejected = pc.is_valid(reasons)
    columns: dict[str, pa.Array] = {}
    for name in raw_schema.column_names:
        if name == "partition_date":
            columns[name] = pa.repeat(pa.scalar(report.report_date, pa.date32()), n)
        elif name == "medium":
            columns[name] = pa.repeat(pa.scalar(report.medium, pa.string()), n)
        elif name == "source_job_id":
            columns[name] = pa.repeat(pa.scalar(report.source_job_id, pa.string()), n)
        elif name == "ingested_at":
            columns[name] = pa.repeat(pa.scalar(ingested_at, pa.timestamp("us", tz="UTC")), n)
        else:
            columns[name] = typed.get(name, text.get(name))
    accepted = pa.table(columns).filter(pc.invert(rejected)).cast(raw_schema.arrow_schema())

    bad = pc.indices_nonzero(rejected)
    bad_rows = report.table.take(bad).to_pylist() if len(bad) else []
    quarantined = pa.table(
        {
            "report_date": pa.array([report.report_date] * len(bad), pa.date32()),
            "medium": pa.array([report.medium] * len(bad), pa.string()),
            "reason": pc.take(reasons, bad),
            "row_json": pa.array([json.dumps(r, ensure_ascii=False) for r in bad_rows], pa.string()),
            "source_job_id": pa.array([report.source_job_id] * len(bad), pa.string()),
            "ingested_at": pa.array([ingested_at] * len(bad), pa.timestamp("us", tz="UTC")),
        }
    ).cast(quarantine_schema.arrow_schema())
    q_totals = {"rows": len(bad)}
    unparseable = {}
    for col in TOTAL_COLUMNS:
        values = pc.take(typed[col], bad)
        q_totals[col] = int(pc.sum(values).as_py() or 0)
        unparseable[col] = int(pc.sum(pc.invert(pc.take(ok[col], bad))).as_py() or 0)
    return NormalizedReport(accepted, quarantined, q_totals, unparseable, ignored)
