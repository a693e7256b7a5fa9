"""Ingestion against the simulator over HTTP with each fault kind switched on.

Every case pulls two media into the landing store and loads the raw partition on DuckDB,
then checks: the pull completes (or fails with its documented error), the warehouse
reconciles exactly with the source's totals, no key is duplicated, no row is lost (raw +
quarantine = what the source sent), and quarantined rows carry their reason and job id.
"""

from __future__ import annotations

import io
from datetime import date

import pyarrow.parquet as pq
import pytest
import yaml
from adctr.core import settings
from adctr.core.storage import get_store
from adctr.ingestion import landing, raw_load
from adctr.ingestion.adapters.base import SourceError
from adctr.ingestion.adapters.report_job import ClientPolicy, ReportJobAdapter
from adctr.simulator.reports import report_table
from adctr.simulator.routes import SimulatorServer
from adctr.simulator.state import state_from_config
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

DAY = date(2026, 11, 10)
TODAY = date(2026, 11, 20)
MEDIA = ["yahoo_ads", "google_ads"]
FAST = ClientPolicy(timeout_seconds=2, max_attempts=4, backoff_base_seconds=0.01, poll_interval_seconds=0.01)
TRANSPORT_FAULTS = [
    {"kind": "http_429", "stream": "create", "on_requests": [1], "retry_after": 0.05},
    {"kind": "http_5xx", "stream": "download", "on_requests": [1, 2], "status": 503},
    {"kind": "slow", "stream": "status", "on_requests": [1], "delay_seconds": 2.5},
    {"kind": "drop_connection", "stream": "download", "on_requests": [2]},
    {"kind": "truncated_page", "stream": "download", "on_requests": [1]},
    {"kind": "duplicated_page", "stream": "download", "on_requests": [2]},
    {"kind": "job_failed", "stream": "status", "on_requests": [2]},
]


def ingest(faults: list[dict], var) -> tuple[DuckDBWarehouse, object]:  # noqa: ANN001
    cfg = {**settings.load_config("simulator"), "faults": faults}
    state = state_from_config(cfg, today=TODAY)
    store = get_store("landing")
    with SimulatorServer(state) as srv:
        for medium in MEDIA:
            adapter = ReportJobAdapter(medium, srv.url, cfg["token"], "1001", FAST)
            landing.extract_to_landing(adapter, DAY, store)
    wh = DuckDBWarehouse(var / "warehouse.duckdb")
    raw_load.load_raw_partition(DAY, MEDIA, store, wh)  # reconciles, or raises
    return wh, state


def content(wh: DuckDBWarehouse) -> list[tuple]:
    return wh.execute_native(
        "select medium, creative_id, device, impressions, clicks, conversions, cost_micros "
        "from raw.ad_performance where partition_date = ? order by all", [DAY]
    )


def no_duplicate_keys(wh: DuckDBWarehouse) -> bool:
    return not wh.execute_native(
        "select medium, creative_id, device from raw.ad_performance group by all having count(*) > 1"
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    """The raw partition a fault-free pull produces."""
    mp = pytest.MonkeyPatch()
    var = tmp_path_factory.mktemp("clean")
    mp.setenv("ADCTR_VAR_DIR", str(var))
    try:
        wh, _ = ingest([], var)
        return content(wh)
    finally:
        mp.undo()


@pytest.mark.parametrize("fault", TRANSPORT_FAULTS, ids=lambda f: f["kind"])
def test_transport_faults_end_with_exactly_the_clean_partition(fault: dict, clean, isolated_var) -> None:  # noqa: ANN001
    wh, state = ingest([fault], isolated_var)
    assert state.faults.fired[fault["kind"]] >= 1
    assert content(wh) == clean
    assert no_duplicate_keys(wh)
    assert wh.execute_native("select count(*) from raw.ad_performance_quarantine")[0][0] == 0


def test_bad_rows_are_quarantined_with_reason_and_job_the_rest_load(clean, isolated_var) -> None:  # noqa: ANN001
    kinds = ["negative_count", "clicks_gt_impressions", "null_id", "unknown_currency", "date_outside_range",
             "duplicate_row"]  # fmt: skip
    wh, _ = ingest([{"kind": "bad_rows", "stream": "job", "medium": "yahoo_ads", "bad_rows": kinds}], isolated_var)
    quarantined = wh.execute_native(
        "select reason, source_job_id, row_json from raw.ad_performance_quarantine order by reason"
    )
    reasons = sorted(r[0] for r in quarantined)
    assert reasons == sorted([
        "negative_count;clicks_gt_impressions", "clicks_gt_impressions", "null_creative_id", "unknown_currency",
        "date_outside_partition", "duplicate_key",
    ])  # fmt: skip
    assert all(job.startswith("yahoo_ads-") for _, job, _ in quarantined)
    # The spoiled rows are the first five of the report; their clean versions are missing from
    # raw and nothing else is: 5 rows quarantined in place + 1 extra duplicate quarantined.
    raw = content(wh)
    assert len(raw) == len(clean) - 5 and set(raw) <= set(clean)
    assert no_duplicate_keys(wh)


def test_renamed_field_fails_with_the_column_diff_and_loads_nothing(isolated_var) -> None:  # noqa: ANN001
    drift = {"kind": "schema_drift", "stream": "job", "medium": "google_ads", "rename": {"IMPS": "IMPRESSIONS"}}
    with pytest.raises(SourceError, match=r"missing \['IMPS'\], unexpected \['IMPRESSIONS'\]"):
        ingest([drift], isolated_var)
    assert landing.landed(get_store("landing"), DAY, "google_ads") is None


def test_additive_field_is_tolerated_only_when_configured(clean, isolated_var, config_copy) -> None:  # noqa: ANN001
    drift = {"kind": "schema_drift", "stream": "job", "extra_columns": {"AD_STRENGTH": "GOOD"}}
    with pytest.raises(SourceError, match=r"unexpected \['AD_STRENGTH'\]"):
        ingest([drift], isolated_var)
    path = config_copy / "media.yaml"
    cfg = yaml.safe_load(path.read_text())
    for medium in cfg["media"]:
        medium["schema_drift"] = {"allow_additive_fields": True}
    path.write_text(yaml.safe_dump(cfg))
    wh, _ = ingest([drift], isolated_var)
    assert content(wh) == clean
    assert landing.landed(get_store("landing"), DAY, "yahoo_ads").ignored_fields == ["AD_STRENGTH"]


def test_a_row_lost_after_landing_fails_reconciliation_with_both_numbers(isolated_var) -> None:  # noqa: ANN001
    ingest([], isolated_var)
    store = get_store("landing")
    pull = landing.landed(store, DAY, "google_ads")
    key = f"ad_performance/report_date={DAY}/medium=google_ads/pull={pull.pull}/accepted.parquet"
    table = pq.read_table(io.BytesIO(store.read_bytes(key)))
    lost = table.slice(1)  # a row gone between landing and warehouse
    buf = io.BytesIO()
    pq.write_table(lost, buf)
    store.write_bytes(key, buf.getvalue())
    wh = DuckDBWarehouse(isolated_var / "warehouse.duckdb")
    expected_rows = pull.source_totals["rows"]
    with pytest.raises(landing.ReconciliationError, match=(
        rf"google_ads 2026-11-10: totals do not reconcile with source job {pull.source_job_id}: "
        rf"rows: source reports {expected_rows}, the warehouse holds {expected_rows - 1}"
    )):  # fmt: skip
        raw_load.load_raw_partition(DAY, MEDIA, store, wh)


def test_source_totals_that_disagree_with_its_rows_fail_the_pull(isolated_var) -> None:  # noqa: ANN001
    cfg = settings.load_config("simulator")
    state = state_from_config(cfg, today=TODAY)

    class Lying(ReportJobAdapter):
        def fetch(self, report_date: date):  # noqa: ANN202
            report = super().fetch(report_date)
            totals = {**report.source_totals, "clicks": report.source_totals["clicks"] + 1}
            return type(report)(report.medium, report.report_date, report.source_job_id, report.table, totals, report.final)

    with SimulatorServer(state) as srv, pytest.raises(landing.ReconciliationError, match="clicks: source reports"):
        landing.extract_to_landing(Lying("yahoo_ads", srv.url, cfg["token"], "1", FAST), DAY, get_store("landing"))


def test_subset_run_keeps_the_other_media_rows(clean, isolated_var) -> None:  # noqa: ANN001
    wh, _ = ingest([], isolated_var)
    raw_load.load_raw_partition(DAY, ["google_ads"], get_store("landing"), wh)
    assert content(wh) == clean


def test_simulator_report_is_what_lands(isolated_var) -> None:  # noqa: ANN001
    wh, state = ingest([], isolated_var)
    expected = report_table(state.world, "yahoo_ads", DAY, DAY, TODAY)
    got = wh.execute_native(
        "select sum(impressions), sum(conversions), count(*) from raw.ad_performance where medium = 'yahoo_ads'"
    )[0]
    assert got == (sum(expected["IMPS"].to_pylist()), sum(expected["CONVERSIONS"].to_pylist()), expected.num_rows)
