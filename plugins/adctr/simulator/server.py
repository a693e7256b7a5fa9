"""HTTP reporting API of the simulator, shaped like async report-job APIs (Yahoo! Ads kind).

    POST /api/v1/report_jobs              {"medium", "account_id", "start_date", "end_date"}
    GET  /api/v1/report_jobs/<id>         {"status": IN_PROGRESS|COMPLETED, "page_count", ...}
    GET  /api/v1/report_jobs/<id>/download?page=N   {"fields": [...], "rows": [[...]], ...}
    GET  /api/v1/ground_truth?medium=&date=         true CTR/CVR per creative x device
    GET  /healthz
Every /api call needs `Authorization: Bearer <token>`; a wrong token is a 401.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

from adctr.simulator.world import World

REPORT_FIELDS = (
    "DAY", "ACCOUNT_ID", "ADVERTISER_ID", "INDUSTRY", "CAMPAIGN_ID", "CAMPAIGN_OBJECTIVE",
    "ADGROUP_ID", "AD_ID", "AD_TITLE", "AD_DESCRIPTION", "AD_TYPE", "DEVICE",
    "IMPS", "CLICKS", "CONVERSIONS", "COST", "CURRENCY",
)  # fmt: skip


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ReportJob:
    job_id: str
    medium: str
    rows: list[list[Any]]
    page_size: int
    polls_left: int
    created_at: str = field(default_factory=lambda: datetime.now().isoformat())

    @property
    def page_count(self) -> int:
        return max(1, -(-len(self.rows) // self.page_size))


class SimulatorState:
    """The world, the simulator's notion of today, and the report jobs created so far."""

    def __init__(
        self,
        world: World,
        token: str,
        page_size: int = 500,
        polls_until_complete: int = 1,
        today: date | None = None,
        timezone: str = "Asia/Tokyo",
    ) -> None:
        self.world = world
        self.token = token
        self.page_size = page_size
        self.polls_until_complete = polls_until_complete
        self._today = today
        self.timezone = ZoneInfo(timezone)
        self.jobs: dict[str, ReportJob] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def today(self) -> date:
        return self._today or datetime.now(self.timezone).date()

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

    def create_job(self, body: dict[str, Any]) -> ReportJob:
        try:
            medium = str(body["medium"])
            start = date.fromisoformat(body["start_date"])
            end = date.fromisoformat(body["end_date"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"invalid report request: {exc}") from exc
        self._check_request(medium, start, end)
        rows: list[list[Any]] = []
        day = start
        while day <= end:
            for r in self.world.daily_rows(medium, day):
                c = r["creative"]
                rows.append(
                    [
                        day.isoformat(), c.account_id, c.advertiser_id, c.industry,
                        c.campaign_id, c.objective, c.ad_group_id, c.creative_id, c.headline,
                        c.description, c.ad_format, r["device"], r["impressions"], r["clicks"],
                        r["conversions"], f"{r['cost']:.2f}", "JPY",
                    ]
                )  # fmt: skip
            day = date.fromordinal(day.toordinal() + 1)
        with self._lock:
            job = ReportJob(
                job_id=f"{medium}-{next(self._ids):06d}",
                medium=medium,
                rows=rows,
                page_size=self.page_size,
                polls_left=self.polls_until_complete,
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
        status = {"job_id": job.job_id, "status": "COMPLETED" if done else "IN_PROGRESS"}
        if done:
            status.update(row_count=len(job.rows), page_count=job.page_count)
        return status

    def download(self, job_id: str, page: int) -> dict[str, Any]:
        job = self.job(job_id)
        if job.polls_left >= 0:
            raise ApiError(HTTPStatus.CONFLICT, f"report job {job_id} is not complete")
        if not 1 <= page <= job.page_count:
            raise ApiError(HTTPStatus.NOT_FOUND, f"page {page} out of range 1..{job.page_count}")
        lo = (page - 1) * job.page_size
        return {
            "job_id": job_id,
            "fields": list(REPORT_FIELDS),
            "rows": job.rows[lo : lo + job.page_size],
            "page": page,
            "page_count": job.page_count,
        }

    def ground_truth(self, medium: str, day: date) -> dict[str, Any]:
        self._check_request(medium, day, day)
        rows = [
            {
                "creative_id": r["creative"].creative_id,
                "device": r["device"],
                "true_ctr": r["true_ctr"],
                "true_cvr": r["true_cvr"],
            }
            for r in self.world.daily_rows(medium, day)
        ]
        return {"medium": medium, "date": day.isoformat(), "rows": rows}


def _handler(state: SimulatorState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
            pass

        def _send(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authorised(self) -> bool:
            return self.headers.get("Authorization", "") == f"Bearer {state.token}"

        def _dispatch(self, method: str) -> None:
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            parts = [p for p in url.path.split("/") if p]
            try:
                if parts == ["healthz"]:
                    return self._send(HTTPStatus.OK, {"status": "ok"})
                if not self._authorised():
                    raise ApiError(HTTPStatus.UNAUTHORIZED, "missing or invalid API token")
                if parts[:3] != ["api", "v1", parts[2] if len(parts) > 2 else ""]:
                    raise ApiError(HTTPStatus.NOT_FOUND, f"no route {url.path}")
                route = parts[2:]
                if method == "POST" and route == ["report_jobs"]:
                    length = int(self.headers.get("Content-Length", "0"))
                    try:
                        body = json.loads(self.rfile.read(length) or b"{}")
                    except json.JSONDecodeError as exc:
                        raise ApiError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}") from exc
                    job = state.create_job(body)
                    return self._send(
                        HTTPStatus.CREATED, {"job_id": job.job_id, "status": "IN_PROGRESS"}
                    )
                if method == "GET" and len(route) == 2 and route[0] == "report_jobs":
                    return self._send(HTTPStatus.OK, state.job_status(route[1]))
                if method == "GET" and len(route) == 3 and route[2] == "download":
                    page = int(query.get("page", "1"))
                    return self._send(HTTPStatus.OK, state.download(route[1], page))
                if method == "GET" and route == ["ground_truth"]:
                    day = date.fromisoformat(query["date"])
                    return self._send(HTTPStatus.OK, state.ground_truth(query["medium"], day))
                raise ApiError(HTTPStatus.NOT_FOUND, f"no route {method} {url.path}")
            except ApiError as exc:
                return self._send(exc.status, {"error": str(exc)})
            except (KeyError, ValueError) as exc:
                return self._send(HTTPStatus.BAD_REQUEST, {"error": f"bad request: {exc}"})

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

    return Handler


class SimulatorServer:
    """The simulator on a loopback port, in a background thread (port 0 = any free port)."""

    def __init__(self, state: SimulatorState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.httpd = ThreadingHTTPServer((host, port), _handler(state))
        self.httpd.daemon_threads = True
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


def state_from_config(
    config: dict[str, Any], today: date | None = None, timezone: str = "Asia/Tokyo"
) -> SimulatorState:
    world_cfg = dict(config.get("world") or {})
    world = World(seed=int(config.get("seed", 7)), media=tuple(config["media"]), **world_cfg)
    report = config.get("report") or {}
    return SimulatorState(
        world,
        token=str(config["token"]),
        page_size=int(report.get("page_size", 500)),
        polls_until_complete=int(report.get("polls_until_complete", 1)),
        today=today,
        timezone=timezone,
    )
