"""Airflow Connections, read only inside tasks (never at DAG parse time, never logged)."""

from __future__ import annotations

from dataclasses import dataclass

from adctr.core.errors import PermanentError


class MissingConnectionError(PermanentError, RuntimeError):
    """A task needs an Airflow Connection that is not defined."""


@dataclass(frozen=True)
class ApiEndpoint:
    base_url: str
    token: str

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"ApiEndpoint(base_url={self.base_url!r}, token='***')"


def api_endpoint(conn_id: str) -> ApiEndpoint:
    """Base URL (schema://host:port) and token (password) of an HTTP API connection."""
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException moved between 3.x releases
        if type(exc).__name__ != "AirflowNotFoundException":
            raise
        raise MissingConnectionError(
            f"Airflow connection {conn_id!r} is not defined; create it (host, port, token as "
            f"password) or set AIRFLOW_CONN_{conn_id.upper()}"
        ) from None
    scheme = conn.schema or "http"
    host = conn.host or ""
    if not host:
        raise MissingConnectionError(f"Airflow connection {conn_id!r} has no host")
    if "://" in host:
        base = host
    else:
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    return ApiEndpoint(base_url=base, token=conn.password or "")
