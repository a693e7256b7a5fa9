"""Adapter for async report-job APIs (create job -> poll status -> download pages).

Written to the shape of the Yahoo! Ads report API; the project's simulator speaks it.
Transient faults (429 with Retry-After, 5xx, connection errors, timeouts) are retried with
exponential backoff and jitter; anything else fails with the API's own message.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import requests

from adctr.admedia.base import Report, SourceError, SourceUnavailableError

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class ClientPolicy:
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    poll_interval_seconds: float = 0.2
    job_timeout_seconds: float = 300.0

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "ClientPolicy":
        return cls(**{k: float(v) if k != "max_attempts" else int(v) for k, v in cfg.items()})


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

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        p = self.policy
        for attempt in range(1, p.max_attempts + 1):
            try:
                resp = self._session.request(
                    method, url, headers=self._auth, timeout=p.timeout_seconds, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason, retry_after = f"{type(exc).__name__}: {exc}", None
            else:
                if resp.status_code < 400:
                    return resp.json()
                message = _error_message(resp)
                if resp.status_code not in RETRYABLE_STATUS:
                    raise SourceError(
                        f"{self.medium}: {method} {path} failed with HTTP {resp.status_code}: "
                        f"{message}"
                    )
                reason, retry_after = f"HTTP {resp.status_code}: {message}", _retry_after(resp)
            if attempt == p.max_attempts:
                raise SourceUnavailableError(
                    f"{self.medium}: {method} {path} still failing after {attempt} attempts "
                    f"({reason})"
                )
            delay = min(p.backoff_max_seconds, p.backoff_base_seconds * 2 ** (attempt - 1))
            delay = max(delay * random.uniform(0.5, 1.0), retry_after or 0.0)
            log.warning("%s: %s, retry %d in %.2fs", self.medium, reason, attempt, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def fetch(self, report_date: date) -> Report:
        day = report_date.isoformat()
        job = self._request(
            "POST",
            "/api/v1/report_jobs",
            json={
                "medium": self.medium,
                "account_id": self.account_id,
                "start_date": day,
                "end_date": day,
                "level": "AD",
            },
        )
        job_id = str(job["job_id"])
        deadline = time.monotonic() + self.policy.job_timeout_seconds
        while True:
            status = self._request("GET", f"/api/v1/report_jobs/{job_id}")
            if status["status"] == "COMPLETED":
                break
            if status["status"] == "FAILED":
                raise SourceError(f"{self.medium}: report job {job_id} failed: {status}")
            if time.monotonic() > deadline:
                raise SourceUnavailableError(
                    f"{self.medium}: report job {job_id} not complete after "
                    f"{self.policy.job_timeout_seconds:.0f}s"
                )
            time.sleep(self.policy.poll_interval_seconds)
        fields: tuple[str, ...] | None = None
        rows: list[list[object]] = []
        for page in range(1, int(status["page_count"]) + 1):
            chunk = self._request(
                "GET", f"/api/v1/report_jobs/{job_id}/download", params={"page": page}
            )
            page_fields = tuple(chunk["fields"])
            if fields is not None and page_fields != fields:
                raise SourceError(f"{self.medium}: job {job_id} page {page} changed its fields")
            fields = page_fields
            rows.extend(chunk["rows"])
        if len(rows) != int(status["row_count"]):
            raise SourceError(
                f"{self.medium}: job {job_id} announced {status['row_count']} rows, "
                f"downloaded {len(rows)}"
            )
        return Report(self.medium, report_date, job_id, fields or (), rows)


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
