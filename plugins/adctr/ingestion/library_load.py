"""Asset libraries: pull each medium's library into the landing store, then load the raw layer.

extract -> one pull per medium for the run's report date D (the API has no date parameter: it
           lists the library as of its own today, `source_as_of`), checked row by row
           (library_checks) and landed as
           landing/ad_library/snapshot_date=D/medium=M/pull=<id>/{assets,creatives,quarantined}.parquet
           then medium=M/_meta.json, written last, pointing at the newest complete pull
load    -> replaces partition D of raw.ad_assets, raw.ad_creatives and raw.ad_library_quarantine
           with the newest landed pull of every medium, then checks that the warehouse holds
           every row the source listed (loaded + quarantined = the announced row count)

A backfill of an old date D gets the library as the API lists it on the day the backfill
runs; staging keeps what had launched by D and derives each creative's status on D from its
launch and end dates (see docs/architecture.md, "Asset library").
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from adctr.core import settings
from adctr.core.names import safe_name
from adctr.core.storage import ObjectStore
from adctr.ingestion.landing import (
    IngestionError,
    ReconciliationError,
    configured_media,
    library_media,
)
from adctr.ingestion.library_checks import (
    ASSETS_TABLE,
    CREATIVES_TABLE,
    LIBRARY_QUARANTINE_TABLE,
)

log = logging.getLogger(__name__)

RAW_TABLES = (ASSETS_TABLE, CREATIVES_TABLE, LIBRARY_QUARANTINE_TABLE)
_FILES = {ASSETS_TABLE: "assets", CREATIVES_TABLE: "creatives", LIBRARY_QUARANTINE_TABLE: "quarantined"}


@dataclass(frozen=True)
class LandedLibrary:
    medium: str
    snapshot_date: str
    source_job_id: str
    source_as_of: str
    ingested_at: str
    pull: str
    # per raw table: rows the source listed, accepted and quarantined
    listed: dict[str, int] = field(default_factory=dict)
    accepted: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    ignored_fields: list[str] = field(default_factory=list)


def landing_prefix(snapshot_date: date, medium: str) -> str:
    return f"ad_library/snapshot_date={snapshot_date.isoformat()}/medium={medium}"


def landed(store: ObjectStore, snapshot_date: date, medium: str) -> LandedLibrary | None:
    key = f"{landing_prefix(snapshot_date, medium)}/_meta.json"
    if not store.exists(key):
        return None
    return LandedLibrary(**json.loads(store.read_bytes(key)))


def build_adapter(medium: str):  # noqa: ANN201 - an AssetLibraryAdapter
    from adctr.ingestion.adapters.asset_library import AssetLibraryAdapter
    from adctr.ingestion.adapters.http_client import ClientPolicy
    from adctr.ingestion.connections import api_endpoint
    from adctr.ingestion.landing import LIBRARY_ADAPTERS

    cfg = configured_media()[medium]
    if medium not in library_media():
        raise IngestionError(
            f"{medium}: adapter {cfg.get('adapter')!r} lists no asset library (only {', '.join(LIBRARY_ADAPTERS)})"
        )
    endpoint = api_endpoint(cfg["connection_id"])
    media_cfg = settings.load_config("media")
    policy = ClientPolicy.from_config(media_cfg.get("client") or {})
    additive = bool((cfg.get("schema_drift") or {}).get("allow_additive_fields", False))
    return AssetLibraryAdapter(medium, endpoint.base_url, endpoint.token, str(cfg["account_id"]), policy,
                               allow_additive=additive)  # fmt: skip


def _parquet(table: Any) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table.combine_chunks(), buf)
    return buf.getvalue()


def extract_to_landing(adapter: Any, snapshot_date: date, store: ObjectStore) -> LandedLibrary:
    """Pull one medium's library for snapshot `snapshot_date`; land its checked rows."""
    from adctr.core.table_schemas import get_schema
    from adctr.ingestion.library_checks import LibraryRules, check_library

    ingested_at = datetime.now(timezone.utc).replace(microsecond=0)
    library = adapter.fetch()
    rules = LibraryRules.from_config(settings.load_config("media")["asset_library"])
    checked = check_library(library, rules, {t: get_schema(t) for t in (ASSETS_TABLE, CREATIVES_TABLE)})
    listed = {ASSETS_TABLE: library.assets.row_count, CREATIVES_TABLE: library.creatives.row_count}
    counts = checked.counts
    for table, n in listed.items():  # nothing lost between the API and the landing
        if counts[table]["accepted"] + counts[table]["quarantined"] != n:
            raise ReconciliationError(f"{library.medium} {snapshot_date}: {table}: the source listed {n} rows, "
                                      f"the checks returned {counts[table]}")  # fmt: skip
    meta = LandedLibrary(
        medium=library.medium,
        snapshot_date=snapshot_date.isoformat(),
        source_job_id=library.source_job_id,
        source_as_of=library.as_of.isoformat(),
        ingested_at=ingested_at.isoformat(),
        pull=safe_name(library.source_job_id),
        listed=listed,
        accepted={t: c["accepted"] for t, c in counts.items()},
        quarantined={t: c["quarantined"] for t, c in counts.items()},
        ignored_fields=sorted({*library.assets.ignored_fields, *library.creatives.ignored_fields}),
    )
    if library.as_of <= snapshot_date:
        log.warning("%s: the library is listed as of %s, not after snapshot date %s", library.medium,
                    library.as_of, snapshot_date)  # fmt: skip
    prefix = landing_prefix(snapshot_date, library.medium)
    tables = {ASSETS_TABLE: checked.assets, CREATIVES_TABLE: checked.creatives, LIBRARY_QUARANTINE_TABLE: checked.quarantined}
    for table, name in _FILES.items():
        store.write_bytes(f"{prefix}/pull={meta.pull}/{name}.parquet", _parquet(tables[table]))
    # The pointer is written last (atomically): readers only ever see complete pulls.
    store.write_bytes(f"{prefix}/_meta.json", json.dumps(asdict(meta), sort_keys=True).encode())
    bad = sum(meta.quarantined.values())
    if bad:
        log.warning("%s %s: %d library rows quarantined (see %s)", library.medium, snapshot_date, bad,
                    LIBRARY_QUARANTINE_TABLE)  # fmt: skip
    return meta


def read_landed(store: ObjectStore, pull: LandedLibrary, snapshot_date: date) -> dict[str, Any]:
    """A landed pull's tables in their raw schemas, for partition `snapshot_date`."""
    import pyarrow.parquet as pq

    from adctr.core.table_schemas import get_schema
    from adctr.ingestion.library_checks import with_partition

    base = f"{landing_prefix(date.fromisoformat(pull.snapshot_date), pull.medium)}/pull={pull.pull}"
    ingested = datetime.fromisoformat(pull.ingested_at)
    out = {}
    for table, name in _FILES.items():
        landed_rows = pq.read_table(io.BytesIO(store.read_bytes(f"{base}/{name}.parquet")))
        out[table] = with_partition(landed_rows, get_schema(table), snapshot_date, pull.source_job_id, ingested)
    return out


def load_partition(
    snapshot_date: date, media: list[str], store: ObjectStore, warehouse: Any, labels: Any = None,
    pulled_on: date | None = None,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Replace partition `snapshot_date` of the three raw library tables with the newest
    landed pull (of the snapshot `pulled_on`, default the same date) of every library medium.

    `media` must all have landed pulls; other library media that have one are loaded too, so a
    run for a subset of media never drops the others' rows from the partition.
    """
    import pyarrow as pa

    from adctr.core.table_schemas import get_schema
    from adctr.warehouse.base import JobLabels

    source_day = pulled_on or snapshot_date
    pulls: dict[str, LandedLibrary] = {}
    for medium in library_media():
        pull = landed(store, source_day, medium)
        if pull is not None:
            pulls[medium] = pull
        elif medium in media:
            raise IngestionError(
                f"no complete landed asset library for medium {medium!r} on {source_day} (expected "
                f"{store.uri(landing_prefix(source_day, medium))}/_meta.json); run its extract_library task first"
            )
    parts: dict[str, list[Any]] = {t: [] for t in RAW_TABLES}
    for pull in pulls.values():
        for table, data in read_landed(store, pull, snapshot_date).items():
            parts[table].append(data)
    for table in RAW_TABLES:
        schema = get_schema(table)
        data = pa.concat_tables(parts[table]) if parts[table] else schema.arrow_schema().empty_table()
        warehouse.replace_partition_from_arrow(schema, snapshot_date, data, labels or JobLabels())
    reconcile(warehouse, snapshot_date, pulls)
    return {m: {"source_job_id": p.source_job_id, "source_as_of": p.source_as_of, "accepted": p.accepted,
                "quarantined": p.quarantined} for m, p in pulls.items()}  # fmt: skip


RECONCILE_SQL = """
select medium, '{table}' as source_table, count(*) as n
from {table}
where snapshot_date = @ds
group by medium
"""
RECONCILE_QUARANTINE_SQL = """
select medium, source_table, count(*) as n
from raw.ad_library_quarantine
where snapshot_date = @ds
group by medium, source_table
"""


def reconcile(warehouse: Any, snapshot_date: date, pulls: dict[str, LandedLibrary]) -> None:
    """Per medium and table, the warehouse holds as many rows (loaded, quarantined) as the pull."""
    params = {"ds": snapshot_date}
    loaded: dict[tuple[str, str], int] = {}
    for table in (ASSETS_TABLE, CREATIVES_TABLE):
        for r in warehouse.query_arrow(RECONCILE_SQL.format(table=table), params).to_pylist():
            loaded[(r["medium"], r["source_table"])] = int(r["n"])
    bad = {(r["medium"], r["source_table"]): int(r["n"])
           for r in warehouse.query_arrow(RECONCILE_QUARANTINE_SQL, params).to_pylist()}  # fmt: skip
    problems = []
    for medium, pull in pulls.items():
        for table, listed in pull.listed.items():
            got, got_bad = loaded.get((medium, table), 0), bad.get((medium, table), 0)
            if (got, got_bad) != (pull.accepted[table], pull.quarantined[table]) or got + got_bad != listed:
                problems.append(f"{medium} {table}: the source listed {listed}, the warehouse holds {got} loaded + "
                                f"{got_bad} quarantined (pull {pull.source_job_id})")  # fmt: skip
    if problems:
        raise ReconciliationError(f"asset library {snapshot_date}: " + "; ".join(problems))


def partitions_missing(warehouse: Any, dates: list[date]) -> list[date]:
    """Of `dates`, those with no raw.ad_assets partition yet."""
    from adctr.core.table_schemas import get_schema

    try:
        have = warehouse.partition_counts(get_schema(ASSETS_TABLE))
    except Exception:  # noqa: BLE001 - the table does not exist yet: nothing loaded
        have = {}
    return [d for d in dates if not have.get(d)]
