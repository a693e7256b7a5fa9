"""Failure notifications and deadline alerts through Airflow's notifier interface.

`OpsAlertNotifier` posts `{"text": ...}` to the webhook of the Airflow Connection named by
`alerts_connection_id` in config/pipeline.yaml (Slack and Google Chat incoming webhooks accept
that body). The webhook address is a secret: it stays in the Connection and is never logged.
A task's final failure calls `notify` in the worker (`on_failure_callback` in every DAG's
default args); a missed deadline calls `async_notify` in the triggerer (Airflow 3.1+
`DeadlineAlert` with an `AsyncCallback` of this class). No Connection = the alert is logged
as not delivered, and nothing else fails.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


def webhook_url(conn: Any) -> str:
    """schema://host[:port]endpoint of an HTTP Connection (schema = protocol, as HttpHook reads it)."""
    port = f":{conn.port}" if conn.port else ""
    endpoint = (conn.extra_dejson or {}).get("endpoint", "")
    if endpoint and not endpoint.startswith("/"):
        endpoint = "/" + endpoint
    return f"{conn.schema or 'https'}://{conn.host}{port}{endpoint}"


def failure_text(context: Any, headline: str) -> str:
    """One readable message: what failed, where, which try, why, and the log link."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    if isinstance(dag_run, dict):  # a deadline callback's context holds the run as a dict
        dag_id, run_id = dag_run.get("dag_id", "?"), dag_run.get("dag_run_id") or dag_run.get("run_id", "?")
    else:
        dag_id = getattr(dag_run, "dag_id", None) or getattr(context.get("dag"), "dag_id", None) or "?"
        run_id = getattr(dag_run, "run_id", None) or context.get("run_id") or "?"
    lines = [f"[adctr] {headline}", f"DAG {dag_id}, run {run_id}"]
    if ti is not None:
        lines.append(f"task {ti.task_id}" + (f"[{ti.map_index}]" if getattr(ti, "map_index", -1) not in (-1, None) else "")
                     + f", try {getattr(ti, 'try_number', '?')}")  # fmt: skip
    if context.get("exception") is not None:
        lines.append(f"error: {str(context['exception'])[:500]}")
    if ti is not None and getattr(ti, "log_url", None):
        lines.append(f"log: {ti.log_url}")
    return "\n".join(lines)


class OpsAlertNotifier(BaseNotifier):
    """Sends one alert to the alerts Connection's webhook."""

    template_fields = ("headline",)

    def __init__(self, headline: str = "task failed", conn_id: str | None = None, context: Any = None) -> None:
        super().__init__(context=context)
        self.headline = headline
        self.conn_id = conn_id

    def _conn_id(self) -> str:
        if self.conn_id:
            return self.conn_id
        from adctr.core import settings

        return settings.load_config("pipeline").get("alerts_connection_id", "adctr_alerts")

    def send(self, text: str) -> bool:
        """POST the text to the webhook; False (logged) when no Connection is configured."""
        from airflow.sdk import BaseHook

        conn_id = self._conn_id()
        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception:  # noqa: BLE001 - AirflowNotFoundException and its SDK twin
            log.warning("alert not delivered: no Airflow Connection %r configured\n%s", conn_id, text)
            return False
        body = json.dumps({"text": text}).encode()
        request = urllib.request.Request(webhook_url(conn), data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - operator-configured URL
            response.read()
        log.info("alert delivered through Connection %r", conn_id)
        return True

    def notify(self, context: Any) -> None:
        self.send(failure_text(context, self.headline))

    async def async_notify(self, context: Any) -> None:
        import anyio

        await anyio.to_thread.run_sync(self.send, failure_text(context or {}, self.headline))
