"""HTTP reporting API of the simulator, shaped like async report-job APIs (Yahoo! Ads kind).

    POST /api/v1/report_jobs              {"medium", "account_id", "start_date", "end_date"}
    GET  /api/v1/report_jobs/<id>         {"status": IN_PROGRESS|COMPLETED|FAILED, "row_count",
                                           "page_count", "page_size", "fields", "totals", ...}
    GET  /api/v1/report_jobs/<id>/download?page=N   CSV page with a header line; headers
                                           X-Report-Page, X-Report-Page-Count, X-Report-Page-Rows
    GET  /api/v1/ground_truth?medium=&date=         true CTR/CVR and final counts (JSON)
    PUT  /admin/clock   {"today": "YYYY-MM-DD" | null}   move the simulator's today
    PUT  /admin/faults  {"faults": [...]}                replace the fault rules (faults.py)
    GET  /admin/faults                                   rules and how often each kind fired
    GET  /healthz
Every call except /healthz needs `Authorization: Bearer <token>`; a wrong token is a 401.
A job's rows are fixed when it is created: the report as of the simulator's today, so a
later job for the same day shows its restated (grown) conversions.
"""

from __future__ import annotations

import io
import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from adctr.simulator.faults import FaultPlan, FaultRule
from adctr.simulator.world import DEVICES, FORMATS, INDUSTRIES, OBJECTIVES, PLACEMENTS, World, cost_text

REPORT_FIELDS = (
    "DAY", "ACCOUNT_ID", "ADVERTISER_ID", "INDUSTRY", "CAMPAIGN_ID", "CAMPAIGN_OBJECTIVE",
    "ADGROUP_ID", "PLACEMENT", "AD_ID", "AD_TITLE", "AD_DESCRIPTION", "AD_TYPE", "DEVICE",
    "IMPS", "CLICKS", "CONVERSIONS", "COST", "CURRENCY",
)  # fmt: skip
TOTAL_FIELDS = ("IMPS", "CLICKS", "CONVERSIONS", "COST")


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class DropConnection(Exception):
    """Close the socket instead of answering (optionally after part of a body)."""

    def __init__(self, partial: bytes = b"", content_length: int = 0) -> None:
        super().__init__("drop")
        self.partial = partial
        self.content_length = content_length


@dataclass
class ReportJob:
    job_id: str
    medium: str
    start: date
    end: date
    table: pa.Table
    page_size: int
    polls_left: int
    as_of: date
    final: bool
    error: str | None = None

    @property
    def page_count(self) -> int:
        return max(1, -(-self.table.num_rows // self.page_size))

    def totals(self) -> dict[str, str]:
        """Sums the API reports for the job (what reconciliation compares against)."""
        out: dict[str, str] = {}
        for name in TOTAL_FIELDS:
            if name not in self.table.column_names:
                continue
            col = self.table[name]
            if name == "COST":
                col = pc.cast(col, pa.decimal128(18, 2))
            total = pc.sum(col).as_py()
            out[name] = str(total if total is not None else 0)
        return out

    def page_csv(self, page: int) -> tuple[bytes, int]:
        lo = (page - 1) * self.page_size
        chunk = self.table.slice(lo, self.page_size)
        buf = io.BytesIO()
        pacsv.write_csv(chunk, buf)
        return buf.getvalue(), chunk.num_rows


def report_table(world: World, medium: str, start: date, end: date, today: date) -> pa.Table:
    """The report rows for a date range as the API serves them on `today` (vectorised)."""
    tables = []
    day = start
    while day <= end:
        d = world.draw(medium, day)
        n = len(d.impressions)
        idx = pa.array(d.creative_index)
        tables.append(
            pa.table(
                {
                    "DAY": pa.array([day.isoformat()] * n, pa.string()),
                    "ACCOUNT_ID": pa.array([world.account_id] * n, pa.string()),
                    "ADVERTISER_ID": world.advertiser_ids.take(idx),
                    "INDUSTRY": pa.array(INDUSTRIES).take(pa.array(world.industry[d.creative_index])),
                    "CAMPAIGN_ID": world.campaign_ids.take(idx),
                    "CAMPAIGN_OBJECTIVE": pa.array(OBJECTIVES).take(pa.array(world.objective[d.creative_index])),
                    "ADGROUP_ID": world.ad_group_ids.take(idx),
                    "PLACEMENT": pa.array(PLACEMENTS).take(pa.array(world.placement[d.creative_index])),
                    "AD_ID": world.creative_ids.take(idx),
                    "AD_TITLE": world.headlines.take(idx),
                    "AD_DESCRIPTION": world.descriptions.take(idx),
                    "AD_TYPE": pa.array(FORMATS).take(pa.array(world.format[d.creative_index])),
                    "DEVICE": pa.array(DEVICES).take(pa.array(d.device_index)),
                    "IMPS": pa.array(d.impressions, pa.int64()),
                    "CLICKS": pa.array(d.clicks, pa.int64()),
                    "CONVERSIONS": pa.array(d.conversions_as_of(today), pa.int64()),
                    "COST": cost_text(d.cost_sen),
                    "CURRENCY": pa.array(["JPY"] * n, pa.string()),
                }
            )
        )
        day += timedelta(days=1)
    return pa.concat_tables(tables)


def inject_bad_rows(table: pa.Table, kinds: tuple[str, ...], start: date) -> pa.Table:
    """Spoil one row per kind (rows 0, 1, ... in order), as a faulty source would."""
    if not kinds or table.num_rows == 0:
        return table
    rows = table.slice(0, len(kinds)).to_pylist()
    extra = []
    for row, kind in zip(rows, kinds):
        if kind == "negative_count":
            row["IMPS"] = -5
        elif kind == "clicks_gt_impressions":
            row["CLICKS"] = int(row["IMPS"]) + 3
        elif kind == "null_id":
            row["AD_ID"] = None
        elif kind == "unknown_currency":
            row["CURRENCY"] = "XYZ"
        elif kind == "date_outside_range":
            row["DAY"] = (start - timedelta(days=1)).isoformat()
        elif kind == "duplicate_row":
            extra.append(dict(row))
    spoiled = pa.Table.from_pylist(rows + extra, schema=table.schema)
    return pa.concat_tables([spoiled, table.slice(len(rows))])


def apply_schema_drift(table: pa.Table, rule: FaultRule) -> pa.Table:
    if rule.rename:
        table = table.rename_columns([rule.rename.get(c, c) for c in table.column_names])
    for name, value in rule.extra_columns.items():
        table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
    return table


class SimulatorState:
    """The world, the simulator's notion of today, fault rules, and the jobs created so far."""

    def __init__(
        self,
        world: World,
        token: str,
        page_size: int = 500,
        polls_until_complete: int = 1,
        today: date | None = None,
        timezone: str = "Asia/Tokyo",
        faults: list[dict[str, Any]] | None = None,
    ) -> None:
        self.world = world
        self.token = token
        self.page_size = page_size
        self.polls_until_complete = polls_until_complete
        self._today = today
        self.timezone = ZoneInfo(timezone)
        self.faults = FaultPlan(faults, seed=world.seed)
        self.jobs: dict[str, ReportJob] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def today(self) -> date:
        return self._today or datetime.now(self.timezone).date()

    def set_today(self, today: date | None) -> None:
        self._today = today

    def _check_request(self, medium: str, start: date, end: date) -> None:
        if not self.world.knows_medium(medium):
            raise ApiError(
                HTTPStatus.NOT_FOUND,
                f"unknown medium {medium!r}; this API serves {sorted(self.world.media)}",
            )
        if end < start:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"end_date {end} is before start_date {start}")
        if end >= self.today():
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                f"report date {end} is not complete yet (today is {self.today()} in "
                f"{self.timezone.key})",
            )

    def create_job(self, body: dict[str, Any], rules: list[FaultRule] | None = None) -> ReportJob:
        try:
            medium = str(body["medium"])
            start = date.fromisoformat(body["start_date"])
            end = date.fromisoformat(body["end_date"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"invalid report request: {exc}") from exc
        self._check_request(medium, start, end)
        today = self.today()
        table = report_table(self.world, medium, start, end, today)
        for rule in rules if rules is not None else self.faults.fire("job", medium):
            if rule.kind == "bad_rows":
                table = inject_bad_rows(table, rule.bad_rows, start)
            elif rule.kind == "schema_drift":
                table = apply_schema_drift(table, rule)
        with self._lock:
            job = ReportJob(
                job_id=f"{medium}-{next(self._ids):06d}",
                medium=medium,
                start=start,
                end=end,
                table=table,
                page_size=self.page_size,
                polls_left=self.polls_until_complete,
                as_of=today,
                final=today >= self.world.final_day(end),
            )
            self.jobs[job.job_id] = job
        return job

    def job(self, job_id: str) -> ReportJob:
        with self._lock:
            if job_id not in self.jobs:
                raise ApiError(HTTPStatus.NOT_FOUND, f"no report job {job_id!r}")
            return self.jobs[job_id]

    def job_status(self, job_id: str) -> dict[str, Any]:
        job = self.job(job_id)
        with self._lock:
            done = job.polls_left <= 0
            job.polls_left -= 1
        if job.error:
            return {"job_id": job.job_id, "status": "FAILED", "error": job.error}
        status: dict[str, Any] = {"job_id": job.job_id, "status": "COMPLETED" if done else "IN_PROGRESS"}
        if done:
            status.update(
                row_count=job.table.num_rows,
                page_count=job.page_count,
                page_size=job.page_size,
                fields=job.table.column_names,
                totals=job.totals(),
                as_of=job.as_of.isoformat(),
                final=job.final,
            )
        return status

    def download(self, job_id: str, page: int) -> tuple[bytes, dict[str, str]]:
        job = self.job(job_id)
        if job.error:
            raise ApiError(HTTPStatus.CONFLICT, f"report job {job_id} failed: {job.error}")
        if job.polls_left >= 0:
            raise ApiError(HTTPStatus.CONFLICT, f"report job {job_id} is not complete")
        if not 1 <= page <= job.page_count:
            raise ApiError(HTTPStatus.NOT_FOUND, f"page {page} out of range 1..{job.page_count}")
        body, rows = job.page_csv(page)
        return body, {
            "X-Report-Page": str(page),
            "X-Report-Page-Count": str(job.page_count),
            "X-Report-Page-Rows": str(rows),
        }

    def ground_truth(self, medium: str, day: date) -> dict[str, Any]:
        self._check_request(medium, day, day)
        truth = self.world.ground_truth(medium, day)
        return {
            "medium": medium,
            "date": day.isoformat(),
            "final_from": self.world.final_day(day).isoformat(),
            "rows": truth.drop_columns(["report_date", "medium"]).to_pylist(),
        }


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


def _handler(state: SimulatorState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
            pass

        def _send_bytes(
            self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _send(self, status: HTTPStatus, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self._send_bytes(status, body, "application/json; charset=utf-8", headers)

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
            return self.headers.get("Authorization", "") == f"Bearer {state.token}"

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length", "0"))
            try:
                return json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError as exc:
                raise ApiError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}") from exc

        def _download(self, job_id: str, page: int) -> None:
            job = state.job(job_id)
            rules = state.faults.fire("download", job.medium)
            _apply_transport_faults([r for r in rules if r.kind != "drop_connection"])
            body, headers = state.download(job_id, page)
            for rule in rules:
                if rule.kind == "drop_connection":
                    raise DropConnection(body[: len(body) // 2], len(body))
                if rule.kind == "truncated_page":
                    lines = body.splitlines(keepends=True)
                    keep = max(1, 1 + (len(lines) - 1) // 2)  # header + half the rows
                    body = b"".join(lines[:keep])
                if rule.kind == "duplicated_page" and job.page_count > 1:
                    other = page - 1 if page > 1 else page + 1
                    body, headers = state.download(job_id, other)
            self._send_bytes(HTTPStatus.OK, body, "text/csv; charset=utf-8", headers)

        def _dispatch(self, method: str) -> None:
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            parts = [p for p in url.path.split("/") if p]
            try:
                if parts == ["healthz"]:
                    return self._send(HTTPStatus.OK, {"status": "ok"})
                if not self._authorised():
                    raise ApiError(HTTPStatus.UNAUTHORIZED, "missing or invalid API token")
                if parts and parts[0] == "admin":
                    return self._admin(method, parts[1:])
                if parts[:2] != ["api", "v1"]:
                    raise ApiError(HTTPStatus.NOT_FOUND, f"no route {url.path}")
                route = parts[2:]
                if method == "POST" and route == ["report_jobs"]:
                    body = self._body()
                    _apply_transport_faults(state.faults.fire("create", str(body.get("medium"))))
                    job = state.create_job(body)
                    return self._send(HTTPStatus.CREATED, {"job_id": job.job_id, "status": "IN_PROGRESS"})
                if method == "GET" and len(route) == 2 and route[0] == "report_jobs":
                    job = state.job(route[1])
                    rules = state.faults.fire("status", job.medium)
                    _apply_transport_faults(rules)
                    if any(r.kind == "job_failed" for r in rules):
                        job.error = "internal error while building the report; create a new job"
                    return self._send(HTTPStatus.OK, state.job_status(route[1]))
                if method == "GET" and len(route) == 3 and route[2] == "download":
                    return self._download(route[1], int(query.get("page", "1")))
                if method == "GET" and route == ["ground_truth"]:
                    day = date.fromisoformat(query["date"])
                    return self._send(HTTPStatus.OK, state.ground_truth(query["medium"], day))
                raise ApiError(HTTPStatus.NOT_FOUND, f"no route {method} {url.path}")
            except DropConnection as exc:
                return self._drop(exc)
            except ApiError as exc:
                return self._send(exc.status, {"error": str(exc)}, exc.headers)
            except (KeyError, ValueError) as exc:
                return self._send(HTTPStatus.BAD_REQUEST, {"error": f"bad request: {exc}"})

        def _admin(self, method: str, route: list[str]) -> None:
            if method == "PUT" and route == ["clock"]:
                value = self._body().get("today")
                state.set_today(date.fromisoformat(value) if value else None)
                return self._send(HTTPStatus.OK, {"today": state.today().isoformat()})
            if method == "PUT" and route == ["faults"]:
                state.faults.reset(list(self._body().get("faults") or []), state.world.seed)
                return self._send(HTTPStatus.OK, {"rules": len(state.faults.rules)})
            if method == "GET" and route == ["faults"]:
                return self._send(HTTPStatus.OK, {"fired": dict(state.faults.fired)})
            raise ApiError(HTTPStatus.NOT_FOUND, f"no admin route {method} /{'/'.join(route)}")

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._dispatch("PUT")

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeouts, dropped connections) is expected, not an error."""
        import sys

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

    def start(self) -> "SimulatorServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def world_from_config(config: dict[str, Any]) -> World:
    world_cfg = dict(config.get("world") or {})
    report = config.get("report") or {}
    for key in ("attribution_window_days", "conversion_delay_weights"):
        if key in report:
            world_cfg[key] = tuple(report[key]) if isinstance(report[key], list) else report[key]
    return World(seed=int(config.get("seed", 7)), media=tuple(config["media"]), **world_cfg)


def state_from_config(
    config: dict[str, Any], today: date | None = None, timezone: str = "Asia/Tokyo"
) -> SimulatorState:
    report = config.get("report") or {}
    return SimulatorState(
        world_from_config(config),
        token=str(config["token"]),
        page_size=int(report.get("page_size", 500)),
        polls_until_complete=int(report.get("polls_until_complete", 1)),
        today=today,
        timezone=timezone,
        faults=list(config.get("faults") or []),
    )

