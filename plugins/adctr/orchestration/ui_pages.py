"""Pages the Airflow UI embeds for this project (mounted at /adctr by the plugin).

- `/adctr/runs/{dag_id}/{run_id}`: the run's summary (adctr.orchestration.run_summary), shown as the
  "Run summary" tab of every DAG run page (an external view with destination `dag_run`).
- `/adctr/data-docs/{key}`: Great Expectations Data Docs pages from the DQ store, so the
  summary's links open in the browser for the local store too (GCS links go to the console).

Both need a logged-in Airflow user (the UI's session cookie or a Bearer token); the run page
needs read access to the DAG's runs, like the run itself.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

URL_PREFIX = "/adctr"
DOCS_ROUTE = f"{URL_PREFIX}/data-docs"

app = FastAPI(title="adctr operations pages", docs_url=None, redoc_url=None, openapi_url=None)


async def _user(request: Request) -> Any:
    """The caller, as Airflow's API authenticates it: a Bearer token, else the UI's session
    cookie. (Airflow's security module is imported here, not at plugin load: it is heavy and
    every Airflow component loads plugins; the api-server has it loaded already.)"""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    auth = request.headers.get("authorization", "")
    token = auth[7:] if auth.lower().startswith("bearer ") else request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    return await resolve_user_from_token(token)


async def _may_read_runs(request: Request, user: Any = Depends(_user)) -> None:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN)(request, user)


@app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse, dependencies=[Depends(_may_read_runs)])
def run_summary_page(dag_id: str, run_id: str) -> HTMLResponse:
    from adctr.orchestration import run_summary
    from adctr.quality.results import dq_store

    store = dq_store()
    return HTMLResponse(run_summary.render_html(run_summary.read(store, dag_id, run_id), store, DOCS_ROUTE))


@app.get("/data-docs/{key:path}", dependencies=[Depends(_user)])
def data_docs(key: str) -> Response:
    from adctr.core.storage import ObjectNotFoundError
    from adctr.quality.results import dq_store

    if not key.startswith("docs/") or ".." in key.split("/"):
        raise HTTPException(404, "not a Data Docs page")
    try:
        body = dq_store().read_bytes(key)
    except ObjectNotFoundError:
        raise HTTPException(404, f"no Data Docs page {key}") from None
    return Response(body, media_type=mimetypes.guess_type(key)[0] or "application/octet-stream")
