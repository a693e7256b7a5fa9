"""A loopback test double of the BigQuery REST API: records every request, answers as BigQuery.

Not an emulator: it implements no SQL. A test registers canned answers (`answer(...)`: bytes a
dry run reports, referenced tables, result schema and rows) keyed by a fragment of the query
text; everything else is derived from what the client sent (the rows of an uploaded Parquet
file, the partition a write names). It speaks exactly the resources google-cloud-bigquery uses
for our backend: datasets.insert, tables.insert/get/patch/delete, jobs.insert/get (query, load
and copy jobs), jobs.getQueryResults and the resumable upload endpoint for load jobs, plus
datasets.get (create_dataset(exists_ok=True) reads it). Unknown routes answer 404 and are
recorded, so a client change shows up as a failing test instead of a silent pass.

Where it reproduces BigQuery behaviour, the documented rule it follows:
- a write to `table$YYYYMMDD` replaces (WRITE_TRUNCATE) or appends to that partition only
  (https://cloud.google.com/bigquery/docs/managing-partitioned-table-data#write_data_to_a_specific_partition);
- tables.get through a partition decorator reports that partition's numRows;
- a copy job from `source$YYYYMMDD` to `table$YYYYMMDD` replaces (WRITE_TRUNCATE) that
  partition with the source partition's rows (https://cloud.google.com/bigquery/docs/
  managing-partitioned-table-data#copy_partitions); it bills no bytes;
- a job whose bytes billed exceed `maximumBytesBilled` fails without running
  (REST JobConfigurationQuery.maximumBytesBilled), error reason `bytesBilledLimitExceeded`;
- field types come back in their legacy names (INTEGER, FLOAT, BOOLEAN) from tables.get;
- a query without a destination writes to an anonymous table the client then pages through.
"""

from __future__ import annotations

import copy
import io
import json
import math
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

MB = 1024 * 1024
LEGACY = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}


@dataclass(frozen=True)
class Recorded:
    resource: str  # e.g. "jobs.insert"
    method: str
    path: str
    args: dict[str, str]
    body: Any  # parsed JSON, raw bytes for upload chunks, None


@dataclass
class Answer:
    contains: str
    bytes_processed: int = 0
    bytes_billed: int | None = None  # default: what on-demand bills for one table
    referenced_tables: tuple[str, ...] = ()  # "dataset.table"
    schema: tuple[tuple[str, str], ...] = ()  # (name, standard SQL type)
    rows: tuple[tuple[Any, ...], ...] = ()


@dataclass
class _Table:
    resource: dict[str, Any]
    partitions: dict[str, int] = field(default_factory=dict)  # partition id -> rows


class FakeBigQuery:
    """Start with `with FakeBigQuery() as bq:`; point the client at `bq.url`."""

    def __init__(self, page_size: int = 2) -> None:
        self.page_size = page_size
        self.requests: list[Recorded] = []
        self._answers: list[Answer] = []
        self._datasets: set[tuple[str, str]] = set()
        self._tables: dict[tuple[str, str, str], _Table] = {}
        self._jobs: dict[str, dict[str, Any]] = {}
        self._results: dict[str, Answer] = {}
        self._uploads: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> "FakeBigQuery":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    # --- what tests set up and read ------------------------------------------------------

    def answer(self, contains: str, **kw: Any) -> Answer:
        """Canned answer for every query whose text contains `contains` (newest wins)."""
        ans = Answer(contains, **kw)
        self._answers.insert(0, ans)
        return ans

    def seed_partition(self, project: str, table_id: str, partition_id: str, rows: int) -> None:
        dataset, table = table_id.split(".")
        self._tables[(project, dataset, table)].partitions[partition_id] = rows

    def tables(self, dataset: str) -> list[str]:
        """The tables that exist now in `dataset` (any project)."""
        return sorted(t for _, d, t in self._tables if d == dataset)

    def calls(self, resource: str) -> list[Recorded]:
        return [r for r in self.requests if r.resource == resource]

    def bodies(self, resource: str) -> list[Any]:
        return [r.body for r in self.calls(resource)]

    # --- HTTP --------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        request = Request(environ)
        with self._lock:
            response = self._dispatch(request)
        return response(environ, start_response)

    ROUTES = (
        ("POST", r"/bigquery/v2/projects/([^/]+)/datasets", "datasets.insert"),
        ("GET", r"/bigquery/v2/projects/([^/]+)/datasets/([^/]+)", "datasets.get"),
        ("POST", r"/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables", "tables.insert"),
        ("GET", r"/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)", "tables.get"),
        ("PATCH", r"/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)", "tables.patch"),
        ("DELETE", r"/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)", "tables.delete"),
        ("POST", r"/bigquery/v2/projects/([^/]+)/jobs", "jobs.insert"),
        ("GET", r"/bigquery/v2/projects/([^/]+)/jobs/([^/]+)", "jobs.get"),
        ("GET", r"/bigquery/v2/projects/([^/]+)/queries/([^/]+)", "jobs.getQueryResults"),
        ("POST", r"/upload/bigquery/v2/projects/([^/]+)/jobs", "upload.initiate"),
        ("PUT", r"/upload/bigquery/v2/projects/([^/]+)/jobs", "upload.chunk"),
    )

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        for method, pattern, name in self.ROUTES:
            match = re.fullmatch(pattern, path)
            if match and request.method == method:
                raw = request.get_data()
                if name == "upload.chunk":
                    body: Any = raw
                else:
                    body = json.loads(raw) if raw else None
                self.requests.append(Recorded(name, request.method, path, dict(request.args), body))
                handler = getattr(self, "_" + name.replace(".", "_"))
                return handler(request, body, *match.groups())
        self.requests.append(Recorded("unknown", request.method, path, dict(request.args), None))
        return _error(404, "notFound", f"the test double does not serve {request.method} {path}")

    # datasets / tables

    def _datasets_insert(self, request: Request, body: dict[str, Any], project: str) -> Response:
        ref = body["datasetReference"]
        key = (ref.get("projectId", project), ref["datasetId"])
        if key in self._datasets:
            return _error(409, "duplicate", f"Already Exists: Dataset {key[0]}:{key[1]}")
        self._datasets.add(key)
        return _json(
            {
                "kind": "bigquery#dataset",
                "id": f"{key[0]}:{key[1]}",
                "datasetReference": ref,
                "location": body.get("location", "US"),
            }
        )

    def _datasets_get(self, request: Request, body: None, project: str, dataset: str) -> Response:
        if (project, dataset) not in self._datasets:
            return _error(404, "notFound", f"Not found: Dataset {project}:{dataset}")
        return _json(
            {
                "kind": "bigquery#dataset",
                "id": f"{project}:{dataset}",
                "location": "asia-northeast1",
                "datasetReference": {"projectId": project, "datasetId": dataset},
            }
        )

    def _tables_insert(
        self, request: Request, body: dict[str, Any], project: str, dataset: str
    ) -> Response:
        ref = body["tableReference"]
        key = (project, dataset, ref["tableId"])
        if key in self._tables:
            return _error(
                409, "duplicate", f"Already Exists: Table {project}:{dataset}.{ref['tableId']}"
            )
        if (project, dataset) not in self._datasets:
            return _error(404, "notFound", f"Not found: Dataset {project}:{dataset}")
        resource = copy.deepcopy(body)
        for f in resource.get("schema", {}).get("fields", []):
            f["type"] = LEGACY.get(f["type"], f["type"])
        resource.update(
            {
                "kind": "bigquery#table",
                "id": f"{project}:{dataset}.{ref['tableId']}",
                "type": "TABLE",
                "creationTime": "1764547200000",
            }
        )
        self._tables[key] = _Table(resource)
        return _json(self._table_view(key, None))

    def _table_view(self, key: tuple[str, str, str], partition: str | None) -> dict[str, Any]:
        table = self._tables[key]
        view = copy.deepcopy(table.resource)
        rows = table.partitions.get(partition, 0) if partition else sum(table.partitions.values())
        view["numRows"] = str(rows)
        if partition:
            view["tableReference"]["tableId"] = f"{key[2]}${partition}"
        return view

    def _tables_get(
        self, request: Request, body: None, project: str, dataset: str, table_id: str
    ) -> Response:
        name, _, partition = table_id.partition("$")
        if (project, dataset, name) not in self._tables:
            return _error(404, "notFound", f"Not found: Table {project}:{dataset}.{table_id}")
        return _json(self._table_view((project, dataset, name), partition or None))

    def _tables_patch(
        self, request: Request, body: dict[str, Any], project: str, dataset: str, table_id: str
    ) -> Response:
        key = (project, dataset, table_id)
        if key not in self._tables:
            return _error(404, "notFound", f"Not found: Table {project}:{dataset}.{table_id}")
        self._tables[key].resource.update(copy.deepcopy(body))
        return _json(self._table_view(key, None))

    def _tables_delete(
        self, request: Request, body: None, project: str, dataset: str, table_id: str
    ) -> Response:
        if self._tables.pop((project, dataset, table_id), None) is None:
            return _error(404, "notFound", f"Not found: Table {project}:{dataset}.{table_id}")
        return Response(status=204)

    # jobs

    def _find_answer(self, sql: str) -> Answer | None:
        return next((a for a in self._answers if a.contains in sql), None)

    def _jobs_insert(self, request: Request, body: dict[str, Any], project: str) -> Response:
        return self._start_job(project, body)

    def _start_job(self, project: str, body: dict[str, Any], data: bytes | None = None) -> Response:
        config = copy.deepcopy(body["configuration"])
        ref = dict(body.get("jobReference") or {})
        ref.setdefault("projectId", project)
        ref.setdefault("jobId", f"fake_{uuid.uuid4().hex[:12]}")
        ref.setdefault("location", "US")
        job: dict[str, Any] = {
            "kind": "bigquery#job",
            "id": f"{project}:{ref['location']}.{ref['jobId']}",
            "jobReference": ref,
            "configuration": config,
            "status": {"state": "DONE"},
            "user_email": "anonymous@test",
            "statistics": {
                "creationTime": "1764547200000",
                "startTime": "1764547200001",
                "endTime": "1764547200002",
            },
        }
        if "query" in config:
            answer = self._find_answer(config["query"]["query"])
            if answer is None:
                return _error(
                    400, "invalidQuery", "the test double has no canned answer for this query"
                )
            self._query_job(job, config, answer)
        elif "load" in config:
            self._load_job(job, config["load"], data or b"")
        elif "copy" in config:
            missing = self._copy_job(job, config["copy"])
            if missing:
                return _error(404, "notFound", f"Not found: Table {missing}")
        if not config.get("dryRun"):
            self._jobs[ref["jobId"]] = job
        return _json(job)

    def _query_job(self, job: dict[str, Any], config: dict[str, Any], answer: Answer) -> None:
        processed = answer.bytes_processed
        billed = (
            answer.bytes_billed
            if answer.bytes_billed is not None
            else max(10 * MB, math.ceil(processed / MB) * MB)
        )
        stats = {
            "totalBytesProcessed": str(processed),
            "statementType": "SELECT",
            "cacheHit": False,
            "referencedTables": [
                {
                    "projectId": job["jobReference"]["projectId"],
                    "datasetId": t.split(".")[0],
                    "tableId": t.split(".")[1],
                }
                for t in answer.referenced_tables
            ],
        }
        job["statistics"]["totalBytesProcessed"] = str(processed)
        job["statistics"]["query"] = stats
        if config.get("dryRun"):
            stats["totalBytesProcessedAccuracy"] = "PRECISE"
            return
        limit = config["query"].get("maximumBytesBilled")
        if limit is not None and billed > int(limit):
            reason = {
                "reason": "bytesBilledLimitExceeded",
                "message": f"Query exceeded limit for bytes billed: {limit}. {billed} or higher required.",
            }
            job["status"] = {"state": "DONE", "errorResult": reason, "errors": [reason]}
            return
        stats["totalBytesBilled"] = str(billed)
        dest = config["query"].get("destinationTable")
        if dest is None:
            config["query"]["destinationTable"] = {
                "projectId": job["jobReference"]["projectId"],
                "datasetId": "_fake_anon",
                "tableId": "anon" + job["jobReference"]["jobId"],
            }
        else:
            self._write(
                dest, config["query"].get("writeDisposition", "WRITE_EMPTY"), len(answer.rows),
                create=config["query"].get("createDisposition") == "CREATE_IF_NEEDED",
            )
        self._results[job["jobReference"]["jobId"]] = answer

    def _write(self, dest: dict[str, str], disposition: str, rows: int, create: bool = False) -> None:
        name, _, partition = dest["tableId"].partition("$")
        key = (dest["projectId"], dest["datasetId"], name)
        if not partition:  # a scratch table (CREATE_IF_NEEDED, WRITE_TRUNCATE): one unpartitioned piece
            if not create or disposition != "WRITE_TRUNCATE":
                raise AssertionError(f"write without a partition decorator to {dest} that is not a scratch table")
            ref = {"projectId": key[0], "datasetId": key[1], "tableId": name}
            self._tables[key] = _Table({"kind": "bigquery#table", "id": f"{key[0]}:{key[1]}.{name}",
                                        "type": "TABLE", "tableReference": ref, "creationTime": "1764547200000"},
                                       {"": rows})  # fmt: skip
            return
        table = self._tables[key]
        if disposition == "WRITE_TRUNCATE":
            table.partitions[partition] = rows
        else:
            table.partitions[partition] = table.partitions.get(partition, 0) + rows

    def _copy_job(self, job: dict[str, Any], copy_config: dict[str, Any]) -> str | None:
        """Copy the source table (or partition) into the destination; the missing table's name."""
        src = copy_config["sourceTable"]
        name, _, partition = src["tableId"].partition("$")
        table = self._tables.get((src["projectId"], src["datasetId"], name))
        if table is None:
            return f"{src['projectId']}:{src['datasetId']}.{name}"
        rows = table.partitions.get(partition, 0) if partition else sum(table.partitions.values())
        dest = copy_config["destinationTable"]
        if (dest["projectId"], dest["datasetId"], dest["tableId"].partition("$")[0]) not in self._tables:
            return f"{dest['projectId']}:{dest['datasetId']}.{dest['tableId']}"
        self._write(dest, copy_config.get("writeDisposition", "WRITE_EMPTY"), rows)
        job["statistics"]["copy"] = {"copiedRows": str(rows)}
        return None

    def _load_job(self, job: dict[str, Any], load: dict[str, Any], data: bytes) -> None:
        import pyarrow.parquet as pq

        rows = pq.read_metadata(io.BytesIO(data)).num_rows  # derived from the uploaded file
        self._write(load["destinationTable"], load.get("writeDisposition", "WRITE_APPEND"), rows)
        job["statistics"]["load"] = {
            "inputFiles": "1",
            "inputFileBytes": str(len(data)),
            "outputRows": str(rows),
        }

    def _jobs_get(self, request: Request, body: None, project: str, job_id: str) -> Response:
        if job_id not in self._jobs:
            return _error(404, "notFound", f"Not found: Job {project}:{job_id}")
        return _json(self._jobs[job_id])

    def _jobs_getQueryResults(
        self, request: Request, body: None, project: str, job_id: str
    ) -> Response:
        job = self._jobs.get(job_id)
        if job is None:
            return _error(404, "notFound", f"Not found: Job {project}:{job_id}")
        if "errorResult" in job["status"]:
            err = job["status"]["errorResult"]
            return _error(400, err["reason"], err["message"])
        answer = self._results[job_id]
        start = int(request.args.get("pageToken") or request.args.get("startIndex") or 0)
        size = (
            self.page_size
            if request.args.get("maxResults") is None
            else int(request.args["maxResults"])
        )
        size = min(size, self.page_size)
        page = answer.rows[start : start + size]
        as_micros = request.args.get("formatOptions.useInt64Timestamp", "").lower() == "true"
        out: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": job["jobReference"],
            "jobComplete": True,
            "schema": {
                "fields": [
                    {"name": n, "type": LEGACY.get(t, t), "mode": "NULLABLE"}
                    for n, t in answer.schema
                ]
            },
            "totalRows": str(len(answer.rows)),
            "totalBytesProcessed": str(answer.bytes_processed),
            "cacheHit": False,
        }
        if page:  # BigQuery omits `rows` when a page has none (maxResults=0)
            out["rows"] = [
                {"f": [{"v": _cell(v, t, as_micros)} for v, (_, t) in zip(row, answer.schema)]}
                for row in page
            ]
        if size and start + size < len(answer.rows):
            out["pageToken"] = str(start + size)
        return _json(out)

    # resumable upload (what load_table_from_file uses for a file object of unknown size)

    def _upload_initiate(self, request: Request, body: dict[str, Any], project: str) -> Response:
        if request.args.get("uploadType") != "resumable":
            return _error(400, "invalid", "the test double serves resumable uploads only")
        upload_id = uuid.uuid4().hex
        self._uploads[upload_id] = {"project": project, "job": body, "data": b""}
        location = (
            f"{self.url}/upload/bigquery/v2/projects/{project}/jobs"
            f"?uploadType=resumable&upload_id={upload_id}"
        )
        return Response("", status=200, headers={"Location": location})

    def _upload_chunk(self, request: Request, body: bytes, project: str) -> Response:
        upload = self._uploads[request.args["upload_id"]]
        upload["data"] += body
        match = re.fullmatch(
            r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", request.headers.get("Content-Range", "")
        )
        total = match.group(3) if match else "*"
        if total != "*" and len(upload["data"]) >= int(total):
            return self._start_job(upload["project"], upload["job"], upload["data"])
        return Response("", status=308, headers={"Range": f"bytes=0-{len(upload['data']) - 1}"})


def _cell(value: Any, kind: str, as_micros: bool) -> Any:
    if value is None:
        return None
    if kind == "BOOL":
        return "true" if value else "false"
    if kind == "TIMESTAMP":
        micros = int(value.timestamp() * 1_000_000)
        return str(micros) if as_micros else f"{micros / 1e6:.6f}"
    return str(value)


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _error(code: int, reason: str, message: str) -> Response:
    return _json(
        {
            "error": {
                "code": code,
                "message": message,
                "errors": [{"reason": reason, "message": message}],
            }
        },
        code,
    )
