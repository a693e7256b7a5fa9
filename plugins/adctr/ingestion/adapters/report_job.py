"""Adapter for async report-job APIs (create job -> poll status -> download CSV pages).

Written to the shape of the Yahoo! Ads report API; the project's simulator speaks it.
- Transient faults (429 with Retry-After, 5xx, dropped connections, timeouts) are retried
  (tenacity) with exponential backoff and full jitter, never sooner than Retry-After.
- Pages are fetched and checked one by one (page number echoed, row count as announced, CSV
  well formed); a bad page is re-requested alone, the pages already held are kept (resume).
- A job the source reports FAILED is recreated, up to `max_job_attempts` times.
- The source's own totals travel with the report for reconciliation after the load.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

import pyarrow as pa
import pyarrow.csv as pacsv
import requests
import tenacity
import urllib3

from adctr.ingestion.adapters.base import Report, SourceError, SourceUnavailableError

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
TRANSPORT_ERRORS = (
    requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,  # raised by streamed body reads (incomplete body, read timeout)
)  # fmt: skip
# Source total field -> raw column (COST is a currency amount, converted to micros).
TOTALS = {"IMPS": "impressions", "CLICKS": "clicks", "CONVERSIONS": "conversions", "COST": "cost_micros"}


@dataclass(frozen=True)
class ClientPolicy:
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    poll_interval_seconds: float = 0.2
    job_timeout_seconds: float = 300.0
    max_job_attempts: int = 3

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "ClientPolicy":
        ints = {"max_attempts", "max_job_attempts"}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise SourceError(f"config/media.yaml client: unknown settings {unknown} (known: {sorted(known)})")
        return cls(**{k: int(v) if k in ints else float(v) for k, v in cfg.items()})

    def retry_wait(self) -> tenacity.wait.wait_base:
        """Exponential backoff with full jitter, but never sooner than the server asked.

        Before retry n the wait is uniform in [0, min(backoff_max, backoff_base * 2**(n-1))],
        raised to the failure's Retry-After when it carried one.
        """
        return _AtLeastRetryAfter(
            tenacity.wait_random_exponential(
                multiplier=self.backoff_base_seconds, max=self.backoff_max_seconds
            )
        )


class _AtLeastRetryAfter(tenacity.wait.wait_base):
    """tenacity wait: max(the backoff's wait, the Retry-After of the failure just seen)."""

    def __init__(self, backoff: tenacity.wait.wait_base) -> None:
        self.backoff = backoff

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None and outcome.failed else None
        return max(self.backoff(retry_state), getattr(failure, "retry_after", None) or 0.0)


class _BadPage(Exception):
    """A page arrived but is not the page asked for (retried like a transport fault)."""


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
        self._session = session or requests.Session()
        self._auth = {"Authorization": f"Bearer {token}"}

    def __repr__(self) -> str:  # never show the token
        return f"ReportJobAdapter(medium={self.medium!r}, base_url={self.base_url!r})"

    def _call(self, what: str, attempt_fn: Any) -> Any:
        """Run `attempt_fn` with the retry policy; it raises on transient trouble."""

        def attempt() -> Any:
            # Every transient fault becomes a _Retryable (the one type retried), with its reason.
            try:
                return attempt_fn()
            except TRANSPORT_ERRORS as exc:
                raise _Retryable(f"{type(exc).__name__}: {str(exc)[:200]}", None) from exc
            except _BadPage as exc:
                raise _Retryable(str(exc), None) from exc

        def log_retry(state: tenacity.RetryCallState) -> None:
            log.warning(
                "%s: %s: %s; retry %d in %.2fs", self.medium, what, _failure(state).reason,
                state.attempt_number, state.next_action.sleep,
            )  # fmt: skip

        def give_up(state: tenacity.RetryCallState) -> NoReturn:
            # Not reraise=True: the caller gets one SourceUnavailableError, not the last fault.
            raise SourceUnavailableError(
                f"{self.medium}: {what} still failing after {state.attempt_number} attempts "
                f"({_failure(state).reason})"
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.policy.max_attempts),
            wait=self.policy.retry_wait(),
            retry=tenacity.retry_if_exception_type(_Retryable),
            before_sleep=log_retry,
            retry_error_callback=give_up,
            sleep=lambda seconds: time.sleep(seconds),  # looked up per call: patchable in tests
        )
        return retrying(attempt)

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        resp = self._session.request(
            method, f"{self.base_url}{path}", headers=self._auth, timeout=self.policy.timeout_seconds, **kwargs
        )
        if resp.status_code < 400:
            return resp
        resp.content  # noqa: B018 - a streamed error response is small: read it for the message
        message = _error_message(resp)
        if resp.status_code in RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {resp.status_code}: {message}", _retry_after(resp))
        raise SourceError(f"{self.medium}: {method} {path} failed with HTTP {resp.status_code}: {message}")

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._call(f"{method} {path}", lambda: self._send(method, path, **kwargs).json())

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
        job_id = str(self._json("POST", "/api/v1/report_jobs", json=body)["job_id"])
        deadline = time.monotonic() + self.policy.job_timeout_seconds
        while True:
            status = self._json("GET", f"/api/v1/report_jobs/{job_id}")
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
        pages: list[pa.Table] = []
        for page in range(1, int(status["page_count"]) + 1):
            expected = min(page_size, row_count - (page - 1) * page_size)
            pages.append(self._call(f"job {job_id} page {page}", lambda p=page, e=expected: self._page(job_id, p, e)))
        names = [tuple(t.column_names) for t in pages]
        if len(set(names)) > 1:
            raise SourceError(f"{self.medium}: job {job_id} pages disagree on their columns: {sorted(set(names))}")
        table = pa.concat_tables(pages) if pages else pa.table({})
        if table.num_rows != row_count:
            raise SourceError(f"{self.medium}: job {job_id} announced {row_count} rows, downloaded {table.num_rows}")
        final = status.get("final")
        return Report(self.medium, report_date, job_id, table, _source_totals(status, self.medium),
                      None if final is None else bool(final))

    def _page(self, job_id: str, page: int, expected_rows: int) -> pa.Table:
        resp = self._send("GET", f"/api/v1/report_jobs/{job_id}/download", params={"page": page}, stream=True)
        with resp:
            echoed = resp.headers.get("X-Report-Page")
            if echoed is not None and echoed != str(page):
                raise _BadPage(f"asked for page {page}, got page {echoed} (duplicated page)")
            # One read of the whole body (requests' .content reads it in 10 kB chunks).
            body = resp.raw.read(decode_content=True)
        table = parse_csv(body)
        if table.num_rows != expected_rows:
            raise _BadPage(f"page {page} has {table.num_rows} rows, expected {expected_rows} (truncated page)")
        return table


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


def _failure(state: tenacity.RetryCallState) -> _Retryable:
    """The _Retryable the attempt just made raised (tenacity retries nothing else)."""
    return state.outcome.exception()  # type: ignore[union-attr, return-value]


def parse_csv(body: bytes) -> pa.Table:
    """A CSV page with a header line -> an Arrow table of strings (empty -> null)."""
    first = body.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    header = next(csv.reader([first]), [])
    if not header:
        raise _BadPage("page has no header line")
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
        raise _BadPage(f"page is not well-formed CSV: {str(exc)[:200]}") from None


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


def _error_message(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("error", resp.text))
    except ValueError:
        return resp.text[:200]


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
