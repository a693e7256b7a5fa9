"""The simulator's state: world, clock, fault plan and report jobs, apart from any transport.

`SimulatorState` answers the API's operations as Python calls (create a job, poll it, download
a page, ground truth, asset and ad listings, combination truth, creative submissions and their
truth) and raises `ApiError` with the HTTP status a refusal maps to;
`state_from_config` builds one from `config/simulator.yaml`. Code that only needs the data
(fixtures, benchmarks, checks) uses this module without starting a server.
"""

from __future__ import annotations

import itertools
import threading
from datetime import date, datetime
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from adctr.simulator.faults import FaultPlan, FaultRule, apply_schema_drift, inject_bad_rows
from adctr.simulator.reports import ReportJob, report_table
from adctr.simulator.submissions import (
    Submission,
    SubmissionConfig,
    SubmissionError,
    SubmissionStore,
    draw_submitted,
    submitted_truth,
)
from adctr.simulator.world import DEVICES, World, _date32, world_from_config

LISTINGS = ("assets", "ads")  # GET /api/v1/<listing>: the JSON key of its rows too


class ApiError(Exception):
    """A refused API call: the HTTP status, the message, any extra response headers and any
    extra keys of the JSON error body (`details`)."""

    def __init__(
        self,
        status: HTTPStatus,
        message: str,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.details = details or {}


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
        listing_page_size: int = 500,
        max_truth_combinations: int = 100_000,
        submissions: SubmissionConfig | None = None,
    ) -> None:
        self.world = world
        self.submissions = SubmissionStore(submissions)
        self.listing_page_size = listing_page_size
        self.max_truth_combinations = max_truth_combinations
        self._listing_cache: dict[tuple[Any, ...], pa.Table] = {}
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
        table = report_table(
            self.world, medium, start, end, today, self.submissions, self.faults.delivery_rules()
        )
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
        status: dict[str, Any] = {
            "job_id": job.job_id,
            "status": "COMPLETED" if done else "IN_PROGRESS",
        }
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
        rows = truth.drop_columns(["report_date", "medium"]).to_pylist()
        for row in rows:
            row["label"] = None  # organic creatives carry no label
        d = draw_submitted(
            self.world, self.submissions, medium, day, faults=self.faults.delivery_rules()
        )
        rows += [
            {"creative_id": c, "device": DEVICES[v], "impressions": int(n), "clicks": int(k),
             "conversions": int(x), "true_ctr": float(p), "true_cvr": float(q), "label": lab}
            for c, v, n, k, x, p, q, lab in zip(
                d.creative_ids, d.device_index, d.impressions, d.clicks,
                d.conversions_by_delay.sum(axis=1), d.true_ctr, d.true_cvr, d.labels,
            )
        ]  # fmt: skip
        return {
            "medium": medium,
            "date": day.isoformat(),
            "final_from": self.world.final_day(day).isoformat(),
            "rows": rows,
        }

    def _check_context(self, medium: str, device: str | None = None) -> None:
        if not self.world.knows_medium(medium):
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                f"unknown medium {medium!r}; this API serves {sorted(self.world.media)}",
            )
        if device is not None and device not in DEVICES:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"unknown device {device!r}; devices are {list(DEVICES)}"
            )

    def listing_table(self, listing: str, day: date, medium: str | None = None) -> pa.Table:
        """The assets or ads as of `day` (kept for the day, so paging reads one snapshot); the
        ads of `medium` include its submitted creatives launched by `day`."""
        version = self.submissions.version
        key = (listing, day) if listing == "assets" else (listing, day, medium, version)
        with self._lock:
            table = self._listing_cache.get(key)
        if table is None:
            if listing == "assets":
                table = self.world.asset_table(day)
            else:
                table = self.world.creative_table(day)
                if medium is not None:
                    table = _with_submitted(table, self.submissions.all(), medium, day)
            with self._lock:  # one day (and submission set) per listing: the clock moves forward
                for old in [k for k in self._listing_cache if k[0] == listing]:
                    if old[1] != day or old[3:] != key[3:]:
                        del self._listing_cache[old]
                self._listing_cache[key] = table
        return table

    def listing(self, listing: str, medium: str, account_id: str, page: int) -> dict[str, Any]:
        """One JSON page of the assets or ads as of the simulator's today."""
        self._check_context(medium)
        if account_id != self.world.account_id:
            raise ApiError(HTTPStatus.NOT_FOUND, f"unknown account {account_id!r}")
        today = self.today()
        table = self.listing_table(listing, today, medium)
        page_count = max(1, -(-table.num_rows // self.listing_page_size))
        if not 1 <= page <= page_count:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"page {page} out of range 1..{page_count}")
        chunk = table.slice((page - 1) * self.listing_page_size, self.listing_page_size)
        for name in ("launch_date", "end_date"):
            if name in chunk.column_names:
                chunk = chunk.set_column(
                    chunk.column_names.index(name), name, pc.cast(chunk[name], pa.string())
                )
        return {
            "medium": medium, "account_id": account_id, "as_of": today.isoformat(), "page": page,
            "page_count": page_count, "page_size": self.listing_page_size, "row_count": table.num_rows,
            listing: chunk.to_pylist(),
        }  # fmt: skip

    def combination_truth(self, body: dict[str, Any]) -> dict[str, Any]:
        """True rates (age 0) of the listed combinations on a day and context."""
        try:
            day = date.fromisoformat(body["date"])
            medium, device = str(body["medium"]), str(body["device"])
            combos = list(body["combinations"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"invalid combination_truth request: {exc}"
            ) from exc
        self._check_context(medium, device)
        if len(combos) > self.max_truth_combinations:
            raise ApiError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"{len(combos)} combinations; at most {self.max_truth_combinations} per call",
            )
        if any(
            not isinstance(c, list) or len(c) != 3 or not all(isinstance(x, str) for x in c)
            for c in combos
        ):
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "each combination is [headline_asset_id, description_asset_id, image_asset_id]",
            )
        h, d, i = ([c[k] for c in combos] for k in range(3))
        try:
            ctr, cvr = self.world.combination_rates(day, medium, device, h, d, i)
        except KeyError as exc:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, str(exc.args[0]) if exc.args else str(exc)
            ) from exc
        return {
            "rows": [
                {"headline_asset_id": a, "description_asset_id": b, "image_asset_id": c,
                 "true_ctr": float(x), "true_cvr": float(y)}
                for a, b, c, x, y in zip(h, d, i, ctr, cvr)
            ]
        }  # fmt: skip

    def combination_summary(self, day: date, medium: str, device: str, metric: str = "ctr") -> dict[str, Any]:
        self._check_context(medium, device)
        if metric not in ("ctr", "cvr"):
            raise ApiError(HTTPStatus.BAD_REQUEST, f"metric must be ctr or cvr, got {metric!r}")
        return {"ad_groups": self.world.combination_summary(day, medium, device, metric)}


    def submit_creatives(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/v1/creatives: store a call's creatives, all or nothing."""
        if not isinstance(body, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "the body is an object with medium, "
                           "account_id and creatives")  # fmt: skip
        try:
            answer = self.submissions.submit(
                self.world, body.get("medium"), str(body.get("account_id")),
                body.get("creatives"), self.today(),
            )  # fmt: skip
        except SubmissionError as exc:
            details = {"index": exc.index, "field": exc.field} if exc.index is not None else {}
            raise ApiError(exc.status, str(exc), details=details) from exc
        return {"creatives": answer}

    def creative_truth(self, medium: str, day: date) -> dict[str, Any]:
        """The submitted creatives serving (medium, day) with their expected impressions and
        true rates per device: the answer key (any day; delivery faults do not show here)."""
        self._check_context(medium)
        t = submitted_truth(self.world, self.submissions, medium, day)
        subs = t.submissions
        return {
            "medium": medium,
            "date": day.isoformat(),
            "rows": [
                {"label": subs[k].label, "creative_id": subs[k].creative_id,
                 "ad_group_id": subs[k].ad_group_id, "device": DEVICES[v],
                 "expected_impressions": float(lam), "true_ctr": float(p), "true_cvr": float(q)}
                for k, v, lam, p, q in zip(
                    t.submission_index, t.device_index, t.expected_impressions, t.true_ctr,
                    t.true_cvr,
                )
            ],
        }  # fmt: skip


def _with_submitted(
    table: pa.Table, submissions: tuple[Submission, ...], medium: str, day: date
) -> pa.Table:
    """The ads listing with the medium's submitted creatives launched by `day` merged in, in
    creative_id order (creative_table's semantics: launch_date = start_date; ENABLED while
    serving, else REMOVED with end_date the day after their last)."""
    subs = [s for s in submissions if s.medium == medium and s.start_date <= day]
    if not subs:
        return table
    retired = np.array([s.end_date < day for s in subs])
    ends = np.array([s.end_date.toordinal() + 1 for s in subs])
    extra = pa.table(
        {
            "creative_id": [s.creative_id for s in subs],
            "ad_group_id": [s.ad_group_id for s in subs],
            "headline_asset_id": [s.headline_asset_id for s in subs],
            "description_asset_id": [s.description_asset_id for s in subs],
            "image_asset_id": [s.image_asset_id for s in subs],
            "launch_date": _date32(np.array([s.start_date.toordinal() for s in subs])),
            "end_date": _date32(np.where(retired, ends, 0), valid=retired),
            "status": np.where(retired, "REMOVED", "ENABLED").tolist(),
        }
    )
    merged = pa.concat_tables([table, extra.select(table.column_names).cast(table.schema)])
    return merged.take(pc.sort_indices(merged["creative_id"]))


def state_from_config(
    config: dict[str, Any],
    today: date | None = None,
    timezone: str = "Asia/Tokyo",
    profile: str | None = None,
) -> SimulatorState:
    report = config.get("report") or {}
    return SimulatorState(
        world_from_config(config, profile),
        token=str(config["token"]),
        page_size=int(report.get("page_size", 500)),
        polls_until_complete=int(report.get("polls_until_complete", 1)),
        today=today,
        timezone=timezone,
        faults=list(config.get("faults") or []),
        listing_page_size=int((config.get("assets") or {}).get("page_size", 500)),
        max_truth_combinations=int(
            (config.get("combination_truth") or {}).get("max_combinations", 100_000)
        ),
        submissions=SubmissionConfig.from_config(config.get("submissions")),
    )
