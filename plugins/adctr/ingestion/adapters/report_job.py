"""Adapter for async report-job APIs (create job -> poll status -> download CSV pages).

Written to the shape of the Yahoo! Ads report API; the project's simulator speaks it.
- Transient faults are retried by the shared client (`http_client`: tenacity, backoff with
  full jitter, never sooner than Retry-After).
- Pages are fetched `page_concurrency` at a time (the API builds the next pages while this side
  parses the last ones) and each is checked (page number echoed, row count as announced, CSV
  well formed); a bad page is re-requested alone, the pages already held are kept (resume).
- A job the source reports FAILED is recreated, up to `max_job_attempts` times.
- The source's own totals travel with the report for reconciliation after the load.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import requests

from adctr.ingestion.adapters.base import Report, SourceError, SourceUnavailableError
from adctr.ingestion.adapters.http_client import ApiClient, BadPage, ClientPolicy

__all__ = ["ClientPolicy", "ReportJobAdapter", "parse_csv"]

log = logging.getLogger(__name__)

# Source total field -> raw column (COST is a currency amount, converted to micros).
TOTALS = {"IMPS": "impressions", "CLICKS": "clicks", "CONVERSIONS": "conversions", "COST": "cost_micros"}


class _JobFailed(Exception):
    pass


class ReportJobAdapter:
    def __init__(
        self,
        medium: str,
        base_url: str,
        token: str,
        account_id: str,
        policy: ClientPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.medium = medium
        self.base_url = base_url.rstrip("/")
        self.account_id = account_id
        self.policy = policy or ClientPolicy()
        self._client = ApiClient(medium, base_url, token, self.policy, session)

    def __repr__(self) -> str:  # never show the token
        return f"ReportJobAdapter(medium={self.medium!r}, base_url={self.base_url!r})"

    def fetch(self, report_date: date) -> Report:
        for job_attempt in range(1, self.policy.max_job_attempts + 1):
            try:
                return self._run_job(report_date)
            except _JobFailed as exc:
                if job_attempt == self.policy.max_job_attempts:
                    raise SourceUnavailableError(
                        f"{self.medium}: report job for {report_date} failed {job_attempt} times "
                        f"(last: {exc})"
                    ) from None
                log.warning("%s: %s; creating a new job (%d)", self.medium, exc, job_attempt + 1)
        raise AssertionError("unreachable")

    def _run_job(self, report_date: date) -> Report:
        day = report_date.isoformat()
        body = {"medium": self.medium, "account_id": self.account_id, "start_date": day,
                "end_date": day, "level": "AD"}  # fmt: skip
        job_id = str(self._client.json("POST", "/api/v1/report_jobs", json=body)["job_id"])
        deadline = time.monotonic() + self.policy.job_timeout_seconds
        while True:
            status = self._client.json("GET", f"/api/v1/report_jobs/{job_id}")
            if status["status"] == "COMPLETED":
                break
            if status["status"] == "FAILED":
                raise _JobFailed(f"job {job_id} FAILED: {status.get('error', 'no reason given')}")
            if time.monotonic() > deadline:
                raise SourceUnavailableError(
                    f"{self.medium}: report job {job_id} not complete after "
                    f"{self.policy.job_timeout_seconds:.0f}s"
                )
            time.sleep(self.policy.poll_interval_seconds)

        row_count, page_size = int(status["row_count"]), int(status["page_size"])
        pages = self._pages(job_id, int(status["page_count"]), row_count, page_size)
        names = [tuple(t.column_names) for t in pages]
        if len(set(names)) > 1:
            raise SourceError(f"{self.medium}: job {job_id} pages disagree on their columns: {sorted(set(names))}")
        table = pa.concat_tables(pages) if pages else pa.table({})
        if table.num_rows != row_count:
            raise SourceError(f"{self.medium}: job {job_id} announced {row_count} rows, downloaded {table.num_rows}")
        final = status.get("final")
        return Report(self.medium, report_date, job_id, table, _source_totals(status, self.medium),
                      None if final is None else bool(final))

    def _pages(self, job_id: str, page_count: int, row_count: int, page_size: int) -> list[pa.Table]:
        """Every page of a completed job, in page order, each under the retry policy on its
        own; at most `page_concurrency` requests are in flight (requests' pooled session is
        shared: urllib3's connection pool is thread-safe)."""

        def fetch(page: int) -> pa.Table:
            expected = min(page_size, row_count - (page - 1) * page_size)
            return self._client.call(f"job {job_id} page {page}", lambda: self._page(job_id, page, expected))

        workers = min(self.policy.page_concurrency, page_count)
        if workers <= 1:
            return [fetch(page) for page in range(1, page_count + 1)]
        pool = ThreadPoolExecutor(workers, thread_name_prefix=f"{self.medium}-pages")
        try:
            return list(pool.map(fetch, range(1, page_count + 1)))
        finally:
            # On a failed page the pages not started yet are dropped; those in flight finish.
            pool.shutdown(wait=True, cancel_futures=True)

    def _page(self, job_id: str, page: int, expected_rows: int) -> pa.Table:
        resp = self._client.send("GET", f"/api/v1/report_jobs/{job_id}/download", params={"page": page}, stream=True)
        with resp:
            echoed = resp.headers.get("X-Report-Page")
            if echoed is not None and echoed != str(page):
                raise BadPage(f"asked for page {page}, got page {echoed} (duplicated page)")
            # One read of the whole body (requests' .content reads it in 10 kB chunks).
            body = resp.raw.read(decode_content=True)
        table = parse_csv(body)
        if table.num_rows != expected_rows:
            raise BadPage(f"page {page} has {table.num_rows} rows, expected {expected_rows} (truncated page)")
        return table


def parse_csv(body: bytes) -> pa.Table:
    """A CSV page with a header line -> an Arrow table of strings (empty -> null)."""
    first = body.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    header = next(csv.reader([first]), [])
    if not header:
        raise BadPage("page has no header line")
    try:
        return pacsv.read_csv(
            io.BytesIO(body),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except pa.ArrowInvalid as exc:
        raise BadPage(f"page is not well-formed CSV: {str(exc)[:200]}") from None


def _source_totals(status: dict[str, Any], medium: str) -> dict[str, int]:
    totals: dict[str, int] = {"rows": int(status["row_count"])}
    for field, column in TOTALS.items():
        value = (status.get("totals") or {}).get(field)
        if value is None:
            continue
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise SourceError(f"{medium}: job total {field}={value!r} is not a number") from None
        totals[column] = int(amount * 1_000_000) if column == "cost_micros" else int(amount)
    return totals
