"""The report-job adapter against real HTTP servers: the simulator, and a flaky one."""

from __future__ import annotations

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adctr import settings
from adctr.admedia.base import SourceUnavailableError
from adctr.admedia.report_job import ClientPolicy, ReportJobAdapter
from adctr.simulator.server import SimulatorServer, state_from_config

FAST = ClientPolicy(timeout_seconds=5, max_attempts=3, backoff_base_seconds=0.01, poll_interval_seconds=0.01)


def test_fetches_all_pages_from_the_simulator() -> None:
    cfg = settings.load_config("simulator")
    with SimulatorServer(state_from_config(cfg, today=date(2026, 11, 10))) as srv:
        report = ReportJobAdapter("google_ads", srv.url, cfg["token"], "1001", FAST).fetch(date(2026, 11, 3))
    assert report.source_job_id.startswith("google_ads-")
    assert len(report.rows) == 96 * 3  # creatives x devices
    assert report.fields[0] == "DAY"


def test_token_never_appears_in_repr() -> None:
    adapter = ReportJobAdapter("m", "http://127.0.0.1:1", "s3cret-token", "1")
    assert "s3cret" not in repr(adapter)


class _Flaky(BaseHTTPRequestHandler):
    """429 with Retry-After on the first create, then a tiny completed job."""

    calls: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.calls.append("POST")
        if self.calls.count("POST") == 1:
            return self._json(429, {"error": "slow down"}, {"Retry-After": "0.05"})
        return self._json(201, {"job_id": "j1"})

    def do_GET(self) -> None:  # noqa: N802
        self.calls.append("GET")
        if self.path.endswith("/j1"):
            return self._json(200, {"status": "COMPLETED", "row_count": 1, "page_count": 1})
        return self._json(200, {"fields": ["A"], "rows": [[1]], "page": 1, "page_count": 1})


def test_retries_429_honouring_retry_after_then_succeeds() -> None:
    _Flaky.calls = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        report = ReportJobAdapter("m", url, "t", "1", FAST).fetch(date(2026, 11, 3))
    finally:
        httpd.shutdown()
    assert report.rows == [[1]]
    assert _Flaky.calls[:2] == ["POST", "POST"]


def test_gives_up_with_a_clear_error_when_nothing_listens() -> None:
    with pytest.raises(SourceUnavailableError, match="still failing after 3 attempts"):
        ReportJobAdapter("m", "http://127.0.0.1:9", "t", "1", FAST).fetch(date(2026, 11, 3))
