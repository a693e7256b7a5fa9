"""Ingestion, second half: load landed pulls into the raw layer and reconcile.

load     -> per date, replaces raw.ad_performance partition D (and its quarantine) with the
            newest landed pull of every medium, then reconciles the warehouse totals per
            medium against the totals the source reported for that pull
The raw layer holds one current version per (medium, date): the newest pull, with its source
job id and ingested_at. `dates_to_build` says which dates' downstream tables must be rebuilt.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from adctr.core.storage import ObjectStore
from adctr.ingestion.landing import (
    QUARANTINE_TABLE,
    RAW_TABLE,
    IngestionError,
    LandedReport,
    ReconciliationError,
    compare_totals,
    configured_media,
    landed,
    landing_prefix,
)

log = logging.getLogger(__name__)

def _with_audit(table: Any, pull: LandedReport, schema: Any) -> Any:
    """The landed content columns plus the audit columns, in the table's schema. A NULLABLE
    column the schema gained after the pull landed (e.g. raw.ad_performance.label) is null
    in its rows: that pull's source did not send it."""
    import pyarrow as pa

    n, arrow_schema = table.num_rows, schema.arrow_schema()
    for col in schema.columns:
        if col.name not in table.column_names and not col.required and not col.audit:
            table = table.append_column(col.name, pa.nulls(n, arrow_schema.field(col.name).type))
    table = table.append_column("source_job_id", pa.repeat(pa.scalar(pull.source_job_id, pa.string()), n))
    ingested = datetime.fromisoformat(pull.ingested_at)
    table = table.append_column("ingested_at", pa.repeat(pa.scalar(ingested, pa.timestamp("us", tz="UTC")), n))
    return table.select(schema.column_names).cast(arrow_schema)


@dataclass(frozen=True)
class PartitionLoad:
    report_date: str
    media: dict[str, dict[str, Any]]
    changed: bool


def read_landed(store: ObjectStore, pull: LandedReport) -> tuple[Any, Any]:
    """A landed pull's (accepted, quarantined) rows in the raw schemas, audit columns filled."""
    import pyarrow.parquet as pq

    from adctr.core.table_schemas import get_schema

    base = f"{landing_prefix(date.fromisoformat(pull.report_date), pull.medium)}/pull={pull.pull}"
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
                f"(expected {store.uri(landing_prefix(report_date, medium))}/_meta.json); run its extract task first"
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
        compare_totals(pull, got, "the warehouse")
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
