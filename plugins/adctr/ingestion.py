"""Ingestion: pull each medium's report into the landing store, then load the raw partition.

extract (one task per medium, parallel) -> landing/ad_performance/report_date=D/medium=M/
load    (one task per date)             -> raw.ad_performance and its quarantine, partition D
Landing first means a failed medium never leaves a half-written raw partition, and the
load (a single WRITE_TRUNCATE per table) can be re-run without calling the APIs again.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from typing import Any

from adctr import settings
from adctr.storage import ObjectStore

log = logging.getLogger(__name__)

RAW_TABLE = "raw.ad_performance"
QUARANTINE_TABLE = "raw.ad_performance_quarantine"


class IngestionError(RuntimeError):
    """Ingestion cannot proceed; the message says which medium/date and why."""


@dataclass(frozen=True)
class LandedReport:
    medium: str
    report_date: str
    source_job_id: str
    accepted_rows: int
    quarantined_rows: int
    ingested_at: str


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


def build_adapter(medium: str):  # noqa: ANN201 - a SourceAdapter
    from adctr.admedia.report_job import ClientPolicy, ReportJobAdapter
    from adctr.connections import api_endpoint

    cfg = configured_media()[medium]
    if cfg.get("adapter", "report_job") != "report_job":
        raise IngestionError(f"{medium}: adapter {cfg['adapter']!r} is not available")
    endpoint = api_endpoint(cfg["connection_id"])
    policy = ClientPolicy.from_config(settings.load_config("media").get("client") or {})
    return ReportJobAdapter(medium, endpoint.base_url, endpoint.token, str(cfg["account_id"]), policy)


def extract_to_landing(adapter: Any, report_date: date, store: ObjectStore) -> LandedReport:
    """Pull one medium's report for one date; land accepted and quarantined rows as Parquet."""
    import pyarrow.parquet as pq

    from adctr.admedia.normalize import normalize_report
    from adctr.schema import get_schema

    ingested_at = datetime.now(timezone.utc).replace(microsecond=0)
    report = adapter.fetch(report_date)
    normalized = normalize_report(
        report,
        get_schema(RAW_TABLE),
        get_schema(QUARANTINE_TABLE),
        sorted(settings.load_config("currencies")["jpy_per_unit"]),
        ingested_at,
    )
    prefix = _prefix(report_date, adapter.medium)
    for name, table in (("accepted", normalized.accepted), ("quarantined", normalized.quarantined)):
        buf = io.BytesIO()
        pq.write_table(table, buf)
        store.write_bytes(f"{prefix}/{name}.parquet", buf.getvalue())
    landed = LandedReport(
        medium=adapter.medium,
        report_date=report_date.isoformat(),
        source_job_id=report.source_job_id,
        accepted_rows=normalized.accepted.num_rows,
        quarantined_rows=normalized.quarantined.num_rows,
        ingested_at=ingested_at.isoformat(),
    )
    # The metadata file is written last: a landing without it is incomplete.
    store.write_bytes(f"{prefix}/_meta.json", json.dumps(asdict(landed)).encode())
    if landed.quarantined_rows:
        log.warning(
            "%s %s: %d rows quarantined (see %s)",
            adapter.medium, report_date, landed.quarantined_rows, QUARANTINE_TABLE,
        )  # fmt: skip
    return landed


def load_raw_partition(
    report_date: date, media: list[str], store: ObjectStore, warehouse: Any, labels: Any = None
) -> dict[str, dict[str, int]]:
    """Replace raw partition D (and its quarantine) with the landed reports of all media."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from adctr.schema import get_schema
    from adctr.warehouse.base import JobLabels

    labels = labels or JobLabels()
    raw_schema, q_schema = get_schema(RAW_TABLE), get_schema(QUARANTINE_TABLE)
    accepted, quarantined, counts = [], [], {}
    for medium in media:
        prefix = _prefix(report_date, medium)
        if not store.exists(f"{prefix}/_meta.json"):
            raise IngestionError(
                f"no complete landed report for medium {medium!r} on {report_date} "
                f"(expected {store.uri(prefix)}/_meta.json); run its extract task first"
            )
        a = pq.read_table(io.BytesIO(store.read_bytes(f"{prefix}/accepted.parquet")))
        q = pq.read_table(io.BytesIO(store.read_bytes(f"{prefix}/quarantined.parquet")))
        accepted.append(a.cast(raw_schema.arrow_schema()))
        quarantined.append(q.cast(q_schema.arrow_schema()))
        counts[medium] = {"accepted": a.num_rows, "quarantined": q.num_rows}
    warehouse.replace_partition_from_arrow(
        raw_schema, report_date, pa.concat_tables(accepted), labels
    )
    warehouse.replace_partition_from_arrow(
        q_schema, report_date, pa.concat_tables(quarantined), labels
    )
    return counts
