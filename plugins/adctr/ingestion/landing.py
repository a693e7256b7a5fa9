"""Ingestion, first half: pull each medium's reports into the landing store.

plan     -> the report dates a run pulls: its own date plus, within the lookback window, every
            earlier date whose last pull was not final yet (its conversions may have grown)
extract  -> one task per medium (its own pool), mapped over those dates:
            landing/ad_performance/report_date=D/medium=M/pull=<job>/{accepted,quarantined}.parquet
            (content columns only) and then medium=M/_meta.json, written last, which points at
            the newest complete pull and holds its job id, ingested_at, totals and fingerprint
Landing first means a failed medium never leaves a half-written raw partition, and a load
can be re-run without calling the APIs again (`raw_load` is the second half).
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
from adctr.core.errors import PermanentError
from adctr.core.names import safe_name
from adctr.core.storage import ObjectStore

log = logging.getLogger(__name__)

RAW_TABLE = "raw.ad_performance"
QUARANTINE_TABLE = "raw.ad_performance_quarantine"
# Adapter kinds (config/media.yaml `adapter`) whose API also lists an asset library.
LIBRARY_ADAPTERS = ("report_job",)


class IngestionError(PermanentError, RuntimeError):
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


def library_media() -> list[str]:
    """Configured media whose API lists an asset library (`library_load`); the others'
    libraries are not pulled."""
    return [m for m, cfg in configured_media().items() if cfg.get("adapter", "report_job") in LIBRARY_ADAPTERS]


def landing_prefix(report_date: date, medium: str) -> str:
    return f"ad_performance/report_date={report_date.isoformat()}/medium={medium}"


def landed(store: ObjectStore, report_date: date, medium: str) -> LandedReport | None:
    key = f"{landing_prefix(report_date, medium)}/_meta.json"
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


def _check_source_totals(landed_report: LandedReport, accepted: Any) -> None:
    """Nothing lost between the API and the landing: rows and sums add up to the source's."""
    import pyarrow.compute as pc

    got = {"rows": accepted.num_rows}
    for col in landed_report.quarantined_totals:
        if col != "rows":
            got[col] = int(pc.sum(accepted[col]).as_py() or 0)
    compare_totals(
        landed_report, got, f"landed pull {landed_report.source_job_id}",
    )


def compare_totals(report: LandedReport, accepted: dict[str, int], where: str) -> None:
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
    from adctr.core.table_schemas import get_schema
    from adctr.ingestion.normalize import normalize_report

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
        pull=safe_name(report.source_job_id),
        source_totals=dict(report.source_totals),
        quarantined_totals=normalized.quarantined_totals,
        unparseable=normalized.unparseable,
        ignored_fields=list(normalized.ignored_fields),
    )
    _check_source_totals(landed_report, normalized.accepted)
    prefix = landing_prefix(report_date, adapter.medium)
    for name, data in files.items():
        store.write_bytes(f"{prefix}/pull={landed_report.pull}/{name}.parquet", data)
    # The pointer is written last (atomically): readers only ever see complete pulls.
    store.write_bytes(f"{prefix}/_meta.json", json.dumps(asdict(landed_report), sort_keys=True).encode())
    if landed_report.quarantined_rows:
        log.warning("%s %s: %d rows quarantined (see %s)", adapter.medium, report_date,
                    landed_report.quarantined_rows, QUARANTINE_TABLE)  # fmt: skip
    return landed_report
