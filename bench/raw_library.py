"""The asset library of one snapshot day into raw.ad_assets / raw.ad_creatives /
raw.ad_library_quarantine, for the benches that build a warehouse without Airflow.

The rows take the path the daily DAG's do (extract_library, load_library): the tables are put
in the API's row shape (every field a string, as `AssetLibraryAdapter` reads the JSON pages),
checked and landed by `library_load.extract_to_landing` and loaded by
`library_load.load_partition` (partition replace and reconciliation). Only the HTTP paging is
skipped: the rows come straight from the simulator's world (or a bench's generator).
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


def api_listing(endpoint: str, table: pa.Table, as_of: date) -> Any:
    """A `Listing` of `table` (World.asset_table / creative_table columns) as the adapter
    holds a pulled endpoint: the declared fields as strings, null where the API sends null."""
    from adctr.ingestion.adapters.asset_library import LISTINGS, Listing

    _, fields = LISTINGS[endpoint]
    columns = {f: pc.cast(table[f], pa.string()) for f in fields}
    return Listing(endpoint, as_of, table.num_rows, pa.table(columns))


class _Pulled:
    """An adapter whose `fetch` returns an already pulled library."""

    def __init__(self, library: Any) -> None:
        self._library = library

    def fetch(self) -> Any:
        return self._library


def load_library_day(
    warehouse: Any, day: date, assets: pa.Table, creatives: pa.Table, as_of: date, store: Any = None
) -> dict[str, Any]:
    """Land and load snapshot `day` of every library medium's asset library: `assets` and
    `creatives` as the API lists them on `as_of` (the daily DAG pulls on the day after `day`).
    Every medium of an account lists the same library. Returns load_partition's summary."""
    from adctr.core.storage import LocalStore
    from adctr.ingestion import library_load
    from adctr.ingestion.adapters.asset_library import AssetLibrary
    from adctr.ingestion.landing import configured_media, library_media

    media = library_media()
    asset_rows = api_listing("assets", assets, as_of)
    creative_rows = api_listing("ads", creatives, as_of)
    with tempfile.TemporaryDirectory() as tmp:
        landing = store if store is not None else LocalStore(Path(tmp))
        for medium in media:
            account = str(configured_media()[medium]["account_id"])
            job = f"library-{medium}-{account}-{as_of.isoformat()}-bench"
            library = AssetLibrary(medium, account, as_of, job, asset_rows, creative_rows)
            library_load.extract_to_landing(_Pulled(library), day, landing)
        return library_load.load_partition(day, media, landing, warehouse)
