"""Libraries a task process should inherit already imported, and the Celery configuration that
preloads them on workers.

Every Airflow task runs in a fresh process that parses its DAG file and imports what the task
needs. Two of those imports cost more than most tasks' work: Great Expectations (about 6 s on
a 2-core machine, in every validate task) and the Google provider's GCS hook (about 1.3 s, in
every task: Airflow loads all providers' asset-URI handlers as soon as a DAG file defines an
Asset, and the `gs` handler imports the hook). Imported once in the process task processes are
forked from, they cost nothing per task:

- LocalExecutor: `[scheduler] mp_start_method = forkserver` with `[scheduler]
  mp_forkserver_preload` = LIBRARIES (Airflow 3.3); `adctr.local.airflow_env` sets both.
- CeleryExecutor: `[celery] celery_config_options = adctr.orchestration.preload.CELERY_CONFIG`,
  Airflow's default Celery configuration plus `imports`: each worker imports LIBRARIES before
  it forks its pool.

Only third-party libraries, never the project's own code (adctr, training): an edited plugin or
DAG file is picked up by the next task as before. A library upgrade needs a worker or
scheduler restart, as it does anyway.
"""

from __future__ import annotations

from typing import Any

LIBRARIES: tuple[str, ...] = (
    "airflow",
    "airflow.sdk.execution_time.task_runner",
    "airflow.providers.standard.decorators.python",
    "airflow.providers.google.cloud.hooks.gcs",
    "great_expectations",
    "duckdb",
    "pyarrow",
    "sqlglot",
)


def __getattr__(name: str) -> Any:
    # Built on first access only (the default configuration reads airflow.cfg): importing this
    # module for LIBRARIES costs nothing.
    if name == "CELERY_CONFIG":
        from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

        return {**DEFAULT_CELERY_CONFIG, "imports": [*DEFAULT_CELERY_CONFIG.get("imports", ()), *LIBRARIES]}
    raise AttributeError(name)
