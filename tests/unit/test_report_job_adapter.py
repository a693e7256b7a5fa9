"""The report-job adapter against the simulator over real HTTP, with transport faults on."""

from __future__ import annotations

from datetime import date

import pytest
from adctr.core import settings
from adctr.ingestion.adapters.base import SourceError, SourceUnavailableError
from adctr.ingestion.adapters.report_job import ClientPolicy, ReportJobAdapter
from adctr.simulator.routes import SimulatorServer
from adctr.simulator.state import state_from_config

FAST = ClientPolicy(timeout_seconds=2, max_attempts=3, backoff_base_seconds=0.01, poll_interval_seconds=0.01)
DAY = date(2026, 11, 3)


def _fetch(faults: list[dict], policy: ClientPolicy = FAST, medium: str = "google_ads"):  # noqa: ANN202
    cfg = {**settings.load_config("simulator"), "faults": faults}
    state = state_from_config(cfg, today=date(2026, 11, 10))
    with SimulatorServer(state) as srv:
        report = ReportJobAdapter(medium, srv.url, cfg["token"], "1001", policy).fetch(DAY)
    return report, state


def test_fetches_all_pages_with_the_source_totals() -> None:
    report, state = _fetch([])
    assert report.source_job_id.startswith("google_ads-")
    assert report.table.num_rows == report.source_totals["rows"] == len(state.world.active(DAY)) * 3
    assert report.fields[0] == "DAY" and report.final is True
    assert sum(int(v) for v in report.table["IMPS"].to_pylist()) == report.source_totals["impressions"]


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "http_429", "stream": "create", "on_requests": [1], "retry_after": 0.05},
        {"kind": "http_5xx", "stream": "status", "on_requests": [1], "status": 502},
        {"kind": "slow", "stream": "download", "on_requests": [1], "delay_seconds": 2.5},
        {"kind": "drop_connection", "stream": "download", "on_requests": [2]},
        {"kind": "truncated_page", "stream": "download", "on_requests": [1]},
        {"kind": "duplicated_page", "stream": "download", "on_requests": [2]},
        {"kind": "job_failed", "stream": "status", "on_requests": [1]},
    ],
    ids=lambda f: f["kind"],
)
def test_each_transport_fault_is_survived_with_the_same_rows(fault: dict) -> None:
    clean, _ = _fetch([])
    report, state = _fetch([fault])
    assert state.faults.fired[fault["kind"]] == 1
    assert report.table.equals(clean.table) and report.source_totals == clean.source_totals


def test_retry_after_is_honoured() -> None:
    import time

    start = time.monotonic()
    _fetch([{"kind": "http_429", "stream": "download", "on_requests": [1], "retry_after": 0.6}])
    assert time.monotonic() - start >= 0.6


def test_a_fault_that_outlasts_the_retries_fails_clearly() -> None:
    fault = {"kind": "http_5xx", "stream": "download", "on_requests": [1, 2, 3], "status": 503}
    with pytest.raises(SourceUnavailableError, match=r"page 1 still failing after 3 attempts \(HTTP 503"):
        _fetch([fault])
    failing_jobs = {"kind": "job_failed", "stream": "status", "probability": 1.0}
    with pytest.raises(SourceUnavailableError, match="report job for 2026-11-03 failed 3 times"):
        _fetch([failing_jobs])


def test_refusals_are_not_retried() -> None:
    cfg = settings.load_config("simulator")
    with SimulatorServer(state_from_config(cfg, today=date(2026, 11, 10))) as srv:
        with pytest.raises(SourceError, match="HTTP 401: missing or invalid API token"):
            ReportJobAdapter("meta", srv.url, "wrong", "1001", FAST).fetch(DAY)


def test_token_never_appears_in_repr() -> None:
    adapter = ReportJobAdapter("m", "http://127.0.0.1:1", "s3cret-token", "1")
    assert "s3cret" not in repr(adapter)


def test_gives_up_with_a_clear_error_when_nothing_listens() -> None:
    with pytest.raises(SourceUnavailableError, match="still failing after 3 attempts"):
        ReportJobAdapter("m", "http://127.0.0.1:9", "t", "1", FAST).fetch(DAY)


@pytest.mark.parametrize(
    "fault",
    [
        None,
        {"kind": "drop_connection", "stream": "download", "on_requests": [2]},
        {"kind": "truncated_page", "stream": "download", "on_requests": [2]},
        {"kind": "duplicated_page", "stream": "download", "on_requests": [1]},
        {"kind": "http_429", "stream": "download", "on_requests": [1, 2], "retry_after": 0.05},
    ],
    ids=lambda f: f["kind"] if f else "clean",
)
def test_pages_fetched_concurrently_come_back_in_order_with_faults_retried(fault: dict | None, monkeypatch) -> None:  # noqa: ANN001
    import dataclasses
    import threading

    serial, _ = _fetch([])
    threads: set[str] = set()
    met: set[int] = set()
    lock = threading.Lock()
    # Pages 1 and 2 each wait, on their first request, until the other is in flight too: a
    # serial download never gets past page 1 (BrokenBarrierError after the timeout). A thread
    # count alone proves nothing: the pool may reuse one idle thread when pages are quick.
    both_in_flight = threading.Barrier(2, timeout=10)
    page = ReportJobAdapter._page

    def recording(self, job_id: str, number: int, expected: int):  # noqa: ANN001, ANN202
        with lock:
            threads.add(threading.current_thread().name)
            first = number in (1, 2) and number not in met
            met.add(number)
        if first:
            both_in_flight.wait()
        return page(self, job_id, number, expected)

    monkeypatch.setattr(ReportJobAdapter, "_page", recording)
    report, state = _fetch([fault] if fault else [], dataclasses.replace(FAST, page_concurrency=4))
    assert report.table.equals(serial.table) and report.source_totals == serial.source_totals
    assert {1, 2} <= met and not both_in_flight.broken
    assert len(threads) > 1 and all(t.startswith("google_ads-pages") for t in threads)
    if fault:
        assert state.faults.fired[fault["kind"]] == len(fault["on_requests"])


def test_page_concurrency_below_one_is_refused() -> None:
    with pytest.raises(SourceError, match="page_concurrency must be at least 1"):
        ClientPolicy.from_config({"page_concurrency": 0})
