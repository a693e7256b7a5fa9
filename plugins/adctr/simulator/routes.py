"""HTTP layer of the simulator: the route table, transport faults and the loopback server.

The API is shaped like async report-job APIs (Yahoo! Ads kind); each route is a method and a
path regex mapped to a function over `SimulatorState` (state.py):

    POST /api/v1/report_jobs              {"medium", "account_id", "start_date", "end_date"}
    GET  /api/v1/report_jobs/<id>         {"status": IN_PROGRESS|COMPLETED|FAILED, "row_count",
                                           "page_count", "page_size", "fields", "totals", ...}
    GET  /api/v1/report_jobs/<id>/download?page=N   CSV page with a header line; headers
                                           X-Report-Page, X-Report-Page-Count, X-Report-Page-Rows
    GET  /api/v1/ground_truth?medium=&date=         true CTR/CVR and final counts (JSON)
    GET  /api/v1/assets?medium=&account_id=&page=N  JSON page of the assets as of today:
                                           {"medium", "account_id", "as_of", "page", "page_count",
                                            "page_size", "row_count", "assets": [...]}
    GET  /api/v1/ads?medium=&account_id=&page=N     the same envelope, "ads": [...] (creatives
                                           with their asset ids, launch/end date, status)
    POST /api/v1/combination_truth  {"date", "medium", "device", "combinations": [[h, d, i]]}
                                           true CTR/CVR as new creatives (age 0); 413 above
                                           combination_truth.max_combinations
    GET  /api/v1/combination_truth/summary?date=&medium=&device=&metric=ctr|cvr   per ad
                                           group: best combination, mean and served true rate
    POST /api/v1/creatives  {"medium", "account_id", "creatives": [{"ad_group_id",
                                           "headline_asset_id", "description_asset_id",
                                           "image_asset_id", "label", "start_date", "end_date"}]}
                                           -> {"creatives": [{"label", "creative_id", "status":
                                           CREATED|EXISTS}]}; all or nothing: 400/409/413 name
                                           the first bad entry ("index", "field"); submitted
                                           creatives deliver in the reports (AD_LABEL = label),
                                           list in /ads and /ground_truth (submissions.py)
    GET  /api/v1/creatives/truth?medium=&date=      the submitted creatives serving that day:
                                           {"rows": [{"label", "creative_id", "ad_group_id",
                                           "device", "expected_impressions", "true_ctr",
                                           "true_cvr"}]} (any date)
    PUT  /admin/clock   {"today": "YYYY-MM-DD" | null}   move the simulator's today
    PUT  /admin/faults  {"faults": [...]}                replace the fault rules (faults.py)
    GET  /admin/faults                                   rules and how often each kind fired
    GET  /healthz
Every call except /healthz needs `Authorization: Bearer <token>`; a wrong token is a 401.
The listings have their own fault streams ("assets", "ads"; faults.py), submissions theirs
("submit", before anything is stored; "delivery" for what submitted creatives deliver).
A job's rows are fixed when it is created: the report as of the simulator's today, so a
later job for the same day shows its restated (grown) conversions.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlparse

from adctr.simulator.faults import FaultRule
from adctr.simulator.state import ApiError, SimulatorState

METHODS = ("GET", "POST", "PUT")


class DropConnection(Exception):
    """Close the socket instead of answering (optionally after part of a body)."""

    def __init__(self, partial: bytes = b"", content_length: int = 0) -> None:
        super().__init__("drop")
        self.partial = partial
        self.content_length = content_length


def _apply_transport_faults(rules: list[FaultRule]) -> None:
    """Faults that happen before the request is served (slow, errors, dropped connection)."""
    for rule in rules:
        if rule.kind == "slow":
            time.sleep(rule.delay_seconds)
        elif rule.kind == "http_429":
            raise ApiError(
                HTTPStatus.TOO_MANY_REQUESTS, "rate limit exceeded",
                {"Retry-After": f"{rule.retry_after:g}"},
            )  # fmt: skip
        elif rule.kind == "http_5xx":
            raise ApiError(HTTPStatus(rule.status), "injected server error")
        elif rule.kind == "drop_connection":
            raise DropConnection()


# Route functions: (handler, path parameters, query parameters) -> None; each sends its answer.


def _healthz(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    h.send_json(HTTPStatus.OK, {"status": "ok"})


def _create_job(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    body = h.json_body()
    _apply_transport_faults(h.state.faults.fire("create", str(body.get("medium"))))
    job = h.state.create_job(body)
    h.send_json(HTTPStatus.CREATED, {"job_id": job.job_id, "status": "IN_PROGRESS"})


def _job_status(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    job = h.state.job(params["job_id"])
    rules = h.state.faults.fire("status", job.medium)
    _apply_transport_faults(rules)
    if any(r.kind == "job_failed" for r in rules):
        job.error = "internal error while building the report; create a new job"
    h.send_json(HTTPStatus.OK, h.state.job_status(params["job_id"]))


def _download(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    """A CSV page, with the download stream's faults (dropped midway, truncated, duplicated)."""
    page = int(query.get("page", "1"))
    job_id = params["job_id"]
    job = h.state.job(job_id)
    rules = h.state.faults.fire("download", job.medium)
    _apply_transport_faults([r for r in rules if r.kind != "drop_connection"])
    body, headers = h.state.download(job_id, page)
    for rule in rules:
        if rule.kind == "drop_connection":
            raise DropConnection(body[: len(body) // 2], len(body))
        if rule.kind == "truncated_page":
            lines = body.splitlines(keepends=True)
            keep = max(1, 1 + (len(lines) - 1) // 2)  # header + half the rows
            body = b"".join(lines[:keep])
        if rule.kind == "duplicated_page" and job.page_count > 1:
            other = page - 1 if page > 1 else page + 1
            body, headers = h.state.download(job_id, other)
    h.send_bytes(HTTPStatus.OK, body, "text/csv; charset=utf-8", headers)


def _ground_truth(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    day = date.fromisoformat(query["date"])
    h.send_json(HTTPStatus.OK, h.state.ground_truth(query["medium"], day))


def _listing(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    """A JSON page of assets or ads, with its stream's faults (as the CSV download has)."""
    listing = params["listing"]
    medium = query.get("medium", "")
    rules = h.state.faults.fire(listing, medium)
    _apply_transport_faults(rules)
    page = int(query.get("page", "1"))
    body = h.state.listing(listing, medium, query["account_id"], page)
    for rule in rules:
        if rule.kind == "truncated_page":
            body[listing] = body[listing][: len(body[listing]) // 2]
        if rule.kind == "duplicated_page" and body["page_count"] > 1:
            body = h.state.listing(
                listing, medium, query["account_id"], page - 1 if page > 1 else page + 1
            )
    h.send_json(HTTPStatus.OK, body)


def _combination_truth(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    h.send_json(HTTPStatus.OK, h.state.combination_truth(h.json_body()))


def _combination_summary(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    day = date.fromisoformat(query["date"])
    metric = query.get("metric", "ctr")
    h.send_json(HTTPStatus.OK, h.state.combination_summary(day, query["medium"], query["device"], metric))


def _submit_creatives(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    body = h.json_body()
    medium = str(body.get("medium")) if isinstance(body, dict) else "None"
    _apply_transport_faults(h.state.faults.fire("submit", medium))
    h.send_json(HTTPStatus.OK, h.state.submit_creatives(body))


def _creative_truth(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    day = date.fromisoformat(query["date"])
    h.send_json(HTTPStatus.OK, h.state.creative_truth(query["medium"], day))


def _set_clock(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    value = h.json_body().get("today")
    h.state.set_today(date.fromisoformat(value) if value else None)
    h.send_json(HTTPStatus.OK, {"today": h.state.today().isoformat()})


def _set_faults(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    h.state.faults.reset(list(h.json_body().get("faults") or []), h.state.world.seed)
    h.send_json(HTTPStatus.OK, {"rules": len(h.state.faults.rules)})


def _get_faults(h: _Handler, params: dict[str, str], query: dict[str, str]) -> None:
    h.send_json(HTTPStatus.OK, {"fired": dict(h.state.faults.fired)})


@dataclass(frozen=True)
class Route:
    """`pattern` must match the whole path, without its leading slash and with empty segments
    dropped (`//api/v1/report_jobs/` is `api/v1/report_jobs`); named groups become params."""

    method: str
    pattern: re.Pattern[str]
    handler: Callable[[_Handler, dict[str, str], dict[str, str]], None]
    public: bool = False  # served without the bearer token


ROUTES: tuple[Route, ...] = (
    *(Route(method, re.compile(r"healthz"), _healthz, public=True) for method in METHODS),
    Route("POST", re.compile(r"api/v1/report_jobs"), _create_job),
    Route("GET", re.compile(r"api/v1/report_jobs/(?P<job_id>[^/]+)"), _job_status),
    # The segment before the job id is not checked: any api/v1/<x>/<id>/download downloads.
    Route("GET", re.compile(r"api/v1/[^/]+/(?P<job_id>[^/]+)/download"), _download),
    Route("GET", re.compile(r"api/v1/ground_truth"), _ground_truth),
    Route("GET", re.compile(r"api/v1/(?P<listing>assets|ads)"), _listing),
    Route("POST", re.compile(r"api/v1/combination_truth"), _combination_truth),
    Route("GET", re.compile(r"api/v1/combination_truth/summary"), _combination_summary),
    Route("POST", re.compile(r"api/v1/creatives"), _submit_creatives),
    Route("GET", re.compile(r"api/v1/creatives/truth"), _creative_truth),
    Route("PUT", re.compile(r"admin/clock"), _set_clock),
    Route("PUT", re.compile(r"admin/faults"), _set_faults),
    Route("GET", re.compile(r"admin/faults"), _get_faults),
)


def _match(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    for route in ROUTES:
        if route.method == method and (m := route.pattern.fullmatch(path)):
            return route, m.groupdict()
    return None, {}


def _no_route(method: str, url_path: str, parts: list[str]) -> ApiError:
    if parts and parts[0] == "admin":
        return ApiError(HTTPStatus.NOT_FOUND, f"no admin route {method} /{'/'.join(parts[1:])}")
    if parts[:2] != ["api", "v1"]:
        return ApiError(HTTPStatus.NOT_FOUND, f"no route {url_path}")
    return ApiError(HTTPStatus.NOT_FOUND, f"no route {method} {url_path}")


class _Handler(BaseHTTPRequestHandler):
    """One request: look up its route, check the token, run the route, map errors to answers."""

    protocol_version = "HTTP/1.1"
    state: SimulatorState  # set per server by `_handler`

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        pass

    def send_bytes(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(
        self, status: HTTPStatus, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_bytes(status, body, "application/json; charset=utf-8", headers)

    def json_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length", "0"))
        try:
            return json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}") from exc

    def _drop(self, exc: DropConnection) -> None:
        if exc.partial:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/csv; charset=utf-8")
            self.send_header("Content-Length", str(exc.content_length))
            self.end_headers()
            self.wfile.write(exc.partial)
            self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _authorised(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {self.state.token}"

    def _dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        try:
            route, params = _match(method, "/".join(parts))
            if (route is None or not route.public) and not self._authorised():
                raise ApiError(HTTPStatus.UNAUTHORIZED, "missing or invalid API token")
            if route is None:
                raise _no_route(method, url.path, parts)
            route.handler(self, params, query)
        except DropConnection as exc:
            self._drop(exc)
        except ApiError as exc:
            self.send_json(exc.status, {"error": str(exc), **exc.details}, exc.headers)
        except (KeyError, ValueError) as exc:
            self.send_json(HTTPStatus.BAD_REQUEST, {"error": f"bad request: {exc}"})

    # http.server's naming
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")


def _handler(state: SimulatorState) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"state": state})


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeouts, dropped connections) is expected, not an error."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class SimulatorServer:
    """The simulator on a loopback port, in a background thread (port 0 = any free port)."""

    def __init__(self, state: SimulatorState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.httpd = _QuietServer((host, port), _handler(state))
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
