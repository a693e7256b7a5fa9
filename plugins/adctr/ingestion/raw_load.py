"""Ingestion: pull each medium's reports into the landing store, then load raw partitions.

plan     -> the report dates a run pulls: its own date plus, within the lookback window, every
            earlier date whose last pull was not final yet (its conversions may have grown)
extract  -> one task per medium (its own pool), mapped over those dates:
            landing/ad_performance/report_date=D/medium=M/pull=<job>/{accepted,quarantined}.parquet
            (content columns only) and then medium=M/_meta.json, written last, which points at
            the newest complete pull and holds its job id, ingested_at, totals and fingerprint
load     -> per date, replaces raw.ad_performance partition D (and its quarantine) with the
            newest landed pull of every medium, then reconciles the warehouse totals per
            medium against the totals the source reported for that pull
Landing first means a failed medium never leaves a half-written raw partition, and a load
can be re-run without calling the APIs again. The raw layer holds one current version per
(medium, date): the newest pull, with its source job id and ingested_at.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from adctr.core import settings
from adctr.core.storage import ObjectStore

log = logging.getLogger(__name__)

RAW_TABLE = "raw.ad_performance"
QUARANTINE_TABLE = "raw.ad_performance_quarantine"


class IngestionError(RuntimeError):
    """Ingestion cannot proceed; the message says which medium/date and why."""


class ReconciliationError(RuntimeError):
    """Totals disagree with the source's; retried (a re-pull may fix it), then fails the task."""


@dataclass(frozen=True)
class LandedReport:
    medium: str
    report_date: str
    source_job_id: str
    accepted_rows: int
    quarantined_rows: int
    ingested_at: str
    final: bool
    content_sha256: str
    pull: str
    source_totals: dict[str, int] = field(default_factory=dict)
    quarantined_totals: dict[str, int] = field(default_factory=dict)
    unparseable: dict[str, int] = field(default_factory=dict)
    ignored_fields: list[str] = field(default_factory=list)


def configured_media() -> dict[str, dict[str, Any]]:
    media = settings.load_config("media").get("media") or []
    return {m["name"]: m for m in media}


def resolve_media(requested: list[str] | None) -> list[str]:
    """The media a run ingests: all configured ones, or the requested subset (validated)."""
    known = configured_media()
    if not requested:
        return list(known)
    unknown = [m for m in requested if m not in known]
    if unknown:
        raise IngestionError(
            f"medium {', '.join(map(repr, unknown))} is not configured in config/media.yaml "
            f"(configured: {', '.join(known)})"
        )
    return list(dict.fromkeys(requested))


def _prefix(report_date: date, medium: str) -> str:
    return f"ad_performance/report_date={report_date.isoformat()}/medium={medium}"


def landed(store: ObjectStore, report_date: date, medium: str) -> LandedReport | None:
    key = f"{_prefix(report_date, medium)}/_meta.json"
    if not store.exists(key):
        return None
    return LandedReport(**json.loads(store.read_bytes(key)))


def plan_pull_dates(report_date: date, lookback_days: int, media: list[str], store: ObjectStore) -> list[date]:
    """The run's date plus each earlier date in the lookback window that may still change.

    A date is re-pulled when some medium's newest landed pull of it was not final (pulled
    before the medium's restatement window closed). Dates never pulled are left to backfills:
    the lookback keeps loaded data current, it does not invent history.
    """
    if lookback_days < 1:
        raise IngestionError(f"lookback_days must be at least 1 (the report date itself), got {lookback_days}")
    dates = []
    for back in range(lookback_days - 1, 0, -1):
        day = report_date - timedelta(days=back)
        pulls = [landed(store, day, m) for m in media]
        if any(p is not None and not p.final for p in pulls):
            dates.append(day)
    return [*dates, report_date]


def build_adapter(medium: str):  # noqa: ANN201 - a SourceAdapter
    from adctr.ingestion.adapters.report_job import ClientPolicy
    from adctr.ingestion.connections import api_endpoint

    cfg = configured_media()[medium]
    kind = cfg.get("adapter", "report_job")
    if kind == "report_job":
        from adctr.ingestion.adapters.report_job import ReportJobAdapter

        endpoint = api_endpoint(cfg["connection_id"])
        policy = ClientPolicy.from_config(settings.load_config("media").get("client") or {})
        return ReportJobAdapter(medium, endpoint.base_url, endpoint.token, str(cfg["account_id"]), policy)
    if kind == "google_ads":
        from adctr.ingestion.adapters.google_ads import GoogleAdsAdapter

        return GoogleAdsAdapter.from_config(medium, cfg)
    raise IngestionError(f"{medium}: adapter {kind!r} is not available (report_job, google_ads)")


AUDIT_COLUMNS = ("source_job_id", "ingested_at")


def _content_parquet(table: Any) -> bytes:
    """A pull's rows as Parquet without the audit columns (constant per pull, kept in
    _meta.json): the same content always gives the same bytes, so their sha256 tells a
    restated report from a re-pull of unchanged data."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table.drop_columns([c for c in AUDIT_COLUMNS if c in table.column_names]).combine_chunks(), buf)
    return buf.getvalue()


def _with_audit(table: Any, pull: LandedReport, schema: Any) -> Any:
    import pyarrow as pa

    n = table.num_rows
    table = table.append_column("source_job_id", pa.repeat(pa.scalar(pull.source_job_id, pa.string()), n))
    ingested = datetime.fromisoformat(pull.ingested_at)
    table = table.append_column("ingested_at", pa.repeat(pa.scalar(ingested, pa.timestamp("us", tz="UTC")), n))
    return table.select(schema.column_names).cast(schema.arrow_schema())


def _check_source_totals(landed_report: LandedReport, accepted: Any) -> None:
    """Nothing lost between the API and the landing: rows and sums add up to the source's."""
    import pyarrow.compute as pc

    got = {"rows": accepted.num_rows}
    for col in landed_report.quarantined_totals:
        if col != "rows":
            got[col] = int(pc.sum(accepted[col]).as_py() or 0)
    _compare(
        landed_report, got, f"landed pull {landed_report.source_job_id}",
    )


def _compare(report: LandedReport, accepted: dict[str, int], where: str) -> None:
    mismatches = []
    for col, source_total in sorted(report.source_totals.items(), key=lambda kv: (kv[0] != "rows", kv[0])):
        if report.unparseable.get(col):
            log.warning("%s %s: %d quarantined values of %s are not numbers; its total is not checked",
                        report.medium, report.report_date, report.unparseable[col], col)  # fmt: skip
            continue
        total = accepted.get(col, 0) + report.quarantined_totals.get(col, 0)
        if total != source_total:
            mismatches.append(
                f"{col}: source reports {source_total}, {where} holds {total} "
                f"({accepted.get(col, 0)} loaded + {report.quarantined_totals.get(col, 0)} quarantined)"
            )
    if mismatches:
        raise ReconciliationError(
            f"{report.medium} {report.report_date}: totals do not reconcile with source job "
            f"{report.source_job_id}: " + "; ".join(mismatches)
        )


def extract_to_landing(adapter: Any, report_date: date, store: ObjectStore) -> LandedReport:
    """Pull one medium's report for one date; land accepted and quarantined rows as Parquet."""
    from adctr.core import dates
    from adctr.ingestion.normalize import normalize_report
    from adctr.core.table_schemas import get_schema

    cfg = configured_media()[adapter.medium]
    ingested_at = datetime.now(timezone.utc).replace(microsecond=0)
    report = adapter.fetch(report_date)
    normalized = normalize_report(
        report,
        get_schema(RAW_TABLE),
        get_schema(QUARANTINE_TABLE),
        sorted(settings.load_config("currencies")["jpy_per_unit"]),
        ingested_at,
        allow_additive=bool((cfg.get("schema_drift") or {}).get("allow_additive_fields", False)),
    )
    pulled_on = dates.today_local(ingested_at)
    files = {"accepted": _content_parquet(normalized.accepted), "quarantined": _content_parquet(normalized.quarantined)}
    landed_report = LandedReport(
        medium=adapter.medium,
        report_date=report_date.isoformat(),
        source_job_id=report.source_job_id,
        accepted_rows=normalized.accepted.num_rows,
        quarantined_rows=normalized.quarantined.num_rows,
        ingested_at=ingested_at.isoformat(),
        # The source's word on finality when it gives one, else the medium's configured window.
        final=report.final if report.final is not None
        else (pulled_on - report_date).days >= int(cfg.get("restatement_window_days", 7)),
        content_sha256=hashlib.sha256(files["accepted"] + b"|" + files["quarantined"]).hexdigest(),
        pull=_safe(report.source_job_id),
        source_totals=dict(report.source_totals),
        quarantined_totals=normalized.quarantined_totals,
        unparseable=normalized.unparseable,
        ignored_fields=list(normalized.ignored_fields),
    )
    _check_source_totals(landed_report, normalized.accepted)
    prefix = _prefix(report_date, adapter.medium)
    for name, data in files.items():
        store.write_bytes(f"{prefix}/pull={landed_report.pull}/{name}.parquet", data)
    # The pointer is written last (atomically): readers only ever see complete pulls.
    store.write_bytes(f"{prefix}/_meta.json", json.dumps(asdict(landed_report), sort_keys=True).encode())
    if landed_report.quarantined_rows:
        log.warning("%s %s: %d rows quarantined (see %s)", adapter.medium, report_date,
                    landed_report.quarantined_rows, QUARANTINE_TABLE)  # fmt: skip
    return landed_report


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


@dataclass(frozen=True)
class PartitionLoad:
    report_date: str
    media: dict[str, dict[str, Any]]
    changed: bool


def read_landed(store: ObjectStore, pull: LandedReport) -> tuple[Any, Any]:
    """A landed pull's (accepted, quarantined) rows in the raw schemas, audit columns filled."""
    import pyarrow.parquet as pq

    from adctr.core.table_schemas import get_schema

    base = f"{_prefix(date.fromisoformat(pull.report_date), pull.medium)}/pull={pull.pull}"
    return tuple(
        _with_audit(pq.read_table(io.BytesIO(store.read_bytes(f"{base}/{name}.parquet"))), pull, get_schema(table))
        for name, table in (("accepted", RAW_TABLE), ("quarantined", QUARANTINE_TABLE))
    )


def _loaded_key(report_date: date) -> str:
    return f"ad_performance/report_date={report_date.isoformat()}/_loaded.json"


def load_raw_partition(
    report_date: date, media: list[str], store: ObjectStore, warehouse: Any, labels: Any = None
) -> PartitionLoad:
    """Replace raw partition D (and its quarantine) with the newest landed pull of each medium.

    `media` must all have landed pulls; other configured media that have one are loaded too,
    so a run for a subset of media never drops the others' rows from the partition.
    """
    import pyarrow as pa

    from adctr.core.table_schemas import get_schema
    from adctr.warehouse.base import JobLabels

    labels = labels or JobLabels()
    raw_schema, q_schema = get_schema(RAW_TABLE), get_schema(QUARANTINE_TABLE)
    pulls: dict[str, LandedReport] = {}
    for medium in configured_media():
        pull = landed(store, report_date, medium)
        if pull is not None:
            pulls[medium] = pull
        elif medium in media:
            raise IngestionError(
                f"no complete landed report for medium {medium!r} on {report_date} "
                f"(expected {store.uri(_prefix(report_date, medium))}/_meta.json); run its extract task first"
            )
    accepted, quarantined = [], []
    for pull in pulls.values():
        a, q = read_landed(store, pull)
        accepted.append(a)
        quarantined.append(q)
    warehouse.replace_partition_from_arrow(raw_schema, report_date, pa.concat_tables(accepted), labels)
    warehouse.replace_partition_from_arrow(q_schema, report_date, pa.concat_tables(quarantined), labels)
    reconcile(warehouse, report_date, pulls)

    fingerprints = {m: p.content_sha256 for m, p in pulls.items()}
    key = _loaded_key(report_date)
    previous = json.loads(store.read_bytes(key)) if store.exists(key) else None
    store.write_bytes(key, json.dumps(fingerprints, sort_keys=True).encode())
    loaded = {
        m: {"source_job_id": p.source_job_id, "accepted": p.accepted_rows,
            "quarantined": p.quarantined_rows, "final": p.final}
        for m, p in pulls.items()
    }  # fmt: skip
    return PartitionLoad(report_date=report_date.isoformat(), media=loaded, changed=previous != fingerprints)


RECONCILE_RAW_SQL = """
select
    medium,
    count(*) as row_count,
    sum(impressions) as impressions,
    sum(clicks) as clicks,
    sum(conversions) as conversions,
    sum(cost_micros) as cost_micros
from raw.ad_performance
where partition_date = @ds
group by medium
"""
RECONCILE_QUARANTINE_SQL = """
select medium, count(*) as row_count
from raw.ad_performance_quarantine
where report_date = @ds
group by medium
"""


def reconcile(warehouse: Any, report_date: date, pulls: dict[str, LandedReport]) -> None:
    """Warehouse totals per medium (loaded + quarantined) must equal the source's, exactly."""
    params = {"ds": report_date}
    raw = {r.pop("medium"): r for r in warehouse.query_arrow(RECONCILE_RAW_SQL, params).to_pylist()}
    quarantine = {r["medium"]: r["row_count"] for r in warehouse.query_arrow(RECONCILE_QUARANTINE_SQL, params).to_pylist()}
    for medium, pull in pulls.items():
        got = {k: int(v or 0) for k, v in raw.get(medium, {}).items()}
        got["rows"] = got.pop("row_count", 0)
        if quarantine.get(medium, 0) != pull.quarantined_rows:
            raise ReconciliationError(
                f"{medium} {report_date}: the warehouse quarantine holds {quarantine.get(medium, 0)} "
                f"rows, the landed pull {pull.source_job_id} quarantined {pull.quarantined_rows}"
            )
        _compare(pull, got, "the warehouse")
        log.info("%s %s: reconciled with source job %s (%d rows loaded, %d quarantined)",
                 medium, report_date, pull.source_job_id, got["rows"], pull.quarantined_rows)  # fmt: skip


def dates_to_build(report_date: date, loads: list[PartitionLoad], store: ObjectStore) -> list[str]:
    """Dates whose downstream models must be rebuilt: from the earliest changed date to D.

    Later dates are included because trailing-window features read earlier partitions;
    dates never loaded (gaps a backfill has yet to fill) have nothing to build and are left out.
    """
    changed = [date.fromisoformat(p.report_date) for p in loads if p.changed]
    start = min([*changed, report_date])
    span = [start + timedelta(days=i) for i in range((report_date - start).days + 1)]
    return [d.isoformat() for d in span if d == report_date or store.exists(_loaded_key(d))]
