"""Airflow plugin of this project: the api-server refuses a DAG run's bad conf before the run
exists (unknown keys, every Param's schema, cross-field `x-requires` rules), naming each field.

The logic lives in `adctr.conf_guard`; this file only registers it (plugins/adctr/ itself is
kept out of the plugins manager by plugins/.airflowignore).
"""

from __future__ import annotations

from adctr.conf_guard import ConfGuardMiddleware
from airflow.plugins_manager import AirflowPlugin


class AdctrOperationsPlugin(AirflowPlugin):
    name = "adctr_operations"
    fastapi_root_middlewares = [
        {"middleware": ConfGuardMiddleware, "args": [], "kwargs": {}, "name": "adctr_conf_guard"},
    ]
