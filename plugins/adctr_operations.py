"""Airflow plugin of this project (the logic lives in the `adctr` library; plugins/adctr/
itself is kept out of the plugins manager by plugins/.airflowignore):

- the api-server refuses a DAG run's bad conf before the run exists (unknown keys, every
  Param's schema, cross-field `x-requires` rules), naming each field: `adctr.orchestration.conf_guard`;
- every DAG run page gets a "Run summary" tab (rows per layer, DQ results with Data Docs
  links, model metrics and the version published or why none was): `adctr.orchestration.ui_pages`.
"""

from __future__ import annotations

from adctr.orchestration.conf_guard import ConfGuardMiddleware
from adctr.orchestration.ui_pages import app as ui_app
from airflow.plugins_manager import AirflowPlugin


class AdctrOperationsPlugin(AirflowPlugin):
    name = "adctr_operations"
    fastapi_root_middlewares = [
        {"middleware": ConfGuardMiddleware, "args": [], "kwargs": {}, "name": "adctr_conf_guard"},
    ]
    fastapi_apps = [{"app": ui_app, "url_prefix": "/adctr", "name": "adctr_operations_pages"}]
    external_views = [
        {
            "name": "Run summary",
            "href": "/adctr/runs/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": "run_summary",
        },
    ]
