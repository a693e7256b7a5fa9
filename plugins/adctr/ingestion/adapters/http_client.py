"""The HTTP side every ad-media API adapter shares: bearer auth, the retry policy, and the
mapping of answers to errors.

- Transient faults (429 with Retry-After, 5xx, dropped connections, timeouts, a page that
  arrived malformed) are retried (tenacity) with exponential backoff and full jitter, never
  sooner than Retry-After; past `max_attempts` the caller gets one SourceUnavailableError.
- Any other 4xx is a refusal: SourceError at once (retrying will not fix a bad token).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from typing import Any, NoReturn

import requests
import tenacity
import urllib3

from adctr.ingestion.adapters.base import SourceError, SourceUnavailableError

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
TRANSPORT_ERRORS = (
    requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,  # raised by streamed body reads (incomplete body, read timeout)
)  # fmt: skip


@dataclass(frozen=True)
class ClientPolicy:
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    poll_interval_seconds: float = 0.2
    job_timeout_seconds: float = 300.0
    max_job_attempts: int = 3
    page_concurrency: int = 1

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "ClientPolicy":
        ints = {"max_attempts", "max_job_attempts", "page_concurrency"}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise SourceError(f"config/media.yaml client: unknown settings {unknown} (known: {sorted(known)})")
        policy = cls(**{k: int(v) if k in ints else float(v) for k, v in cfg.items()})
        if policy.page_concurrency < 1:
            raise SourceError(f"config/media.yaml client: page_concurrency must be at least 1, got {policy.page_concurrency}")
        return policy

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


class BadPage(Exception):
    """A page arrived but is not the page asked for (retried like a transport fault)."""


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


def _failure(state: tenacity.RetryCallState) -> _Retryable:
    """The _Retryable the attempt just made raised (tenacity retries nothing else)."""
    return state.outcome.exception()  # type: ignore[union-attr, return-value]


class ApiClient:
    """One medium's API endpoint: authenticated requests under the retry policy."""

    def __init__(
        self,
        medium: str,
        base_url: str,
        token: str,
        policy: ClientPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.medium = medium
        self.base_url = base_url.rstrip("/")
        self.policy = policy or ClientPolicy()
        self._session = session or requests.Session()
        self._auth = {"Authorization": f"Bearer {token}"}

    def __repr__(self) -> str:  # never show the token
        return f"ApiClient(medium={self.medium!r}, base_url={self.base_url!r})"

    def call(self, what: str, attempt_fn: Any) -> Any:
        """Run `attempt_fn` with the retry policy; it raises on transient trouble."""

        def attempt() -> Any:
            # Every transient fault becomes a _Retryable (the one type retried), with its reason.
            try:
                return attempt_fn()
            except TRANSPORT_ERRORS as exc:
                raise _Retryable(f"{type(exc).__name__}: {str(exc)[:200]}", None) from exc
            except BadPage as exc:
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

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request; a retryable status raises _Retryable, a refusal SourceError."""
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

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A JSON answer under the retry policy (a body that is not JSON is retried)."""
        return self.call(f"{method} {path}", lambda: parse_json(self.send(method, path, **kwargs)))


def parse_json(resp: requests.Response) -> Any:
    """The response's JSON body; a body cut short or garbled is a BadPage (re-requested)."""
    try:
        return resp.json()
    except ValueError as exc:
        raise BadPage(f"answer is not JSON: {str(exc)[:200]}") from None


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
