"""Airflow Assets for lineage: ad-media APIs → warehouse tables → published models.

Tables are named by their BigQuery address, `bigquery://<project>/<dataset>/<table>` (the URI
form the Google provider understands), on both backends: the embedded DuckDB warehouse holds
the same tables under the same names. The project is ADCTR_BQ_PROJECT or `bigquery.project`
of config/warehouse.yaml (`adctr-local` when neither is set). A model is the folder its
versions are published under in the artifact store (gs:// in production, file:// locally).
Built at DAG parse time: reads small config files only.

Each Asset is named by its URI. Airflow keeps one URI per asset name and deactivates a
second one (a task with an inactive asset fails), so a name must never outlive a change of
address: a new var/ directory, project or bucket is simply a new asset.
"""

from __future__ import annotations

import os
from typing import Any

from adctr.core import settings

LOCAL_PROJECT = "adctr-local"


def bigquery_project() -> str:
    cfg = settings.load_config("warehouse").get("bigquery") or {}
    return os.environ.get("ADCTR_BQ_PROJECT") or cfg.get("project") or LOCAL_PROJECT


def table_asset(table_id: str) -> Any:
    from airflow.sdk import Asset

    dataset, table = table_id.split(".")
    uri = f"bigquery://{bigquery_project()}/{dataset}/{table}"
    return Asset(name=uri, uri=uri, group="warehouse")


def source_asset(medium: str) -> Any:
    """The reporting API of one ad medium (config/media.yaml), the start of the lineage."""
    from airflow.sdk import Asset

    uri = f"admedia://{medium}/performance_report"
    return Asset(name=uri, uri=uri, group="ad_media_api")


def library_source_asset(medium: str) -> Any:
    """The asset-library API (assets and ads listings) of one ad medium."""
    from airflow.sdk import Asset

    uri = f"admedia://{medium}/asset_library"
    return Asset(name=uri, uri=uri, group="ad_media_api")


def model_asset(model: str, variant: str) -> Any:
    from airflow.sdk import Asset

    uri = _artifact_uri(f"models/{model}/{variant}")
    return Asset(name=uri, uri=uri, group="model")


def slot_asset(slot: str) -> Any:
    """A serving slot (`serving/<slot>/` in the artifact store): updated when the slot sync
    moves it to another version, so what scores with the slot's model can run again."""
    from airflow.sdk import Asset

    uri = _artifact_uri(f"serving/{slot}")
    return Asset(name=uri, uri=uri, group="serving_slot")


def _artifact_uri(key: str) -> str:
    """A folder of the artifact store as a URI (gs:// in production, file:// locally)."""
    from adctr.core.storage import get_store

    uri = get_store("artifact").uri(key)
    return uri if "://" in uri else "file://" + uri
