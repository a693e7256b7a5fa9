"""Task bodies of `ad_performance_daily`: which media and dates a run pulls, the pull of one
medium's report (and asset library) into the landing store, and the raw-layer loads (building
and validating the tables is `common.build_table` / `common.validate`)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date
from typing import Any

from adctr.orchestration.tasks.common import job_labels, permanent_errors, skip

log = logging.getLogger(__name__)


def resolve_media(params: dict[str, Any]) -> list[str]:
    """The media a run ingests: all configured, or the requested subset (validated)."""
    from adctr.ingestion import landing

    with permanent_errors():
        return landing.resolve_media(params.get("media"))


def plan_pull(report_date: str, media: list[str], params: dict[str, Any]) -> list[str]:
    """The report dates this run pulls: its own plus lookback dates that may still change."""
    from adctr.core import settings
    from adctr.core.storage import get_store
    from adctr.ingestion import landing

    if params.get("skip_ingest"):
        log.info("skip_ingest: no report is pulled; models are rebuilt from the loaded raw data")
        return []
    with permanent_errors():
        lookback = params.get("lookback_days")
        if lookback is None:
            lookback = int(settings.load_config("pipeline").get("lookback_days", 7))
        days = landing.plan_pull_dates(date.fromisoformat(report_date), int(lookback), media, get_store("landing"))
        log.info("pulling %s for %s (lookback %s days)", [d.isoformat() for d in days], media, lookback)
        return [d.isoformat() for d in days]


def extract(medium: str, report_date: str, selected: list[str]) -> dict[str, Any]:
    """Pull one medium's report for one date into the landing store (skipped if not selected)."""
    from adctr.core.storage import get_store
    from adctr.ingestion import landing

    if medium not in selected:
        skip(f"{medium} is not among this run's media {selected}")
    with permanent_errors():
        adapter = landing.build_adapter(medium)
        landed = landing.extract_to_landing(adapter, date.fromisoformat(report_date), get_store("landing"))
        result = asdict(landed)
        # XCom carries counts and ids only (never the report rows or anything secret).
        return {k: result[k] for k in ("medium", "report_date", "source_job_id", "accepted_rows",
                                       "quarantined_rows", "final", "ingested_at")}  # fmt: skip


def load_raw(report_date: str, dates: list[str], media: list[str], context: dict[str, Any]) -> list[str]:
    """Load every pulled date's raw partition; return the dates whose models must be rebuilt."""
    from adctr.core.storage import get_store
    from adctr.ingestion import raw_load
    from adctr.warehouse import get_warehouse

    day = date.fromisoformat(report_date)
    store = get_store("landing")
    loads = []
    with permanent_errors(), get_warehouse() as wh:
        for pulled in sorted(dates):
            d = date.fromisoformat(pulled)
            load = raw_load.load_raw_partition(d, media, store, wh, job_labels(context, d))
            log.info("raw.ad_performance %s: %s%s", pulled, load.media, "" if load.changed else " (unchanged)")
            loads.append(load)
    ti = context.get("ti")
    if ti is not None:
        ti.xcom_push(key="loads", value=[asdict(p) for p in loads])
    build = raw_load.dates_to_build(day, loads, store)
    log.info("downstream models rebuild %s", build)
    return build


def plan_library(report_date: str, params: dict[str, Any]) -> list[str]:
    """The snapshot dates whose asset library this run pulls: its report date (the library
    is a snapshot as of the pull, so lookback dates are not pulled again), none with skip_ingest."""
    if params.get("skip_ingest"):
        log.info("skip_ingest: no asset library is pulled")
        return []
    return [report_date]


def extract_library(medium: str, report_date: str, selected: list[str]) -> dict[str, Any]:
    """Pull one medium's asset library for a snapshot date into the landing store."""
    from adctr.core.storage import get_store
    from adctr.ingestion import library_load

    if medium not in selected:
        try:
            from airflow.sdk.exceptions import AirflowSkipException
        except ImportError:  # Airflow 3.1
            from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef]
        raise AirflowSkipException(f"{medium} is not among this run's media {selected}")
    with permanent_errors():
        adapter = library_load.build_adapter(medium)
        landed = library_load.extract_to_landing(adapter, date.fromisoformat(report_date), get_store("landing"))
        # XCom carries counts and ids only.
        return {k: v for k, v in asdict(landed).items() if k not in ("pull", "ignored_fields")}


def load_library(
    report_date: str, build_dates: list[str], pulled: list[str], media: list[str], context: dict[str, Any]
) -> list[str]:
    """Load the pulled library into its raw partition; return the dates whose library tables
    are validated and built (the dates the performance models are rebuilt for).

    A rebuilt earlier date that has no library partition yet (it was loaded before assets were
    ingested) gets this run's pull: what a backfill of that date would get too.
    """
    from adctr.core.storage import get_store
    from adctr.ingestion import landing, library_load
    from adctr.warehouse import get_warehouse

    store = get_store("landing")
    selected = [m for m in media if m in landing.library_media()]
    with permanent_errors(), get_warehouse() as wh:
        for pulled_day in pulled:
            day = date.fromisoformat(pulled_day)
            loaded = library_load.load_partition(day, selected, store, wh, job_labels(context, day))
            log.info("asset library %s: %s", pulled_day, loaded)
            earlier = [date.fromisoformat(d) for d in build_dates if d != pulled_day]
            for gap in library_load.partitions_missing(wh, earlier):
                library_load.load_partition(gap, selected, store, wh, job_labels(context, gap), pulled_on=day)
                log.info("asset library %s: no partition yet, loaded from the pull of %s", gap, pulled_day)
    return build_dates
