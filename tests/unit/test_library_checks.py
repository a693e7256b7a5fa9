"""Asset-library rows: bad rows are quarantined by name (never dropped), and the staging models
give the library and creative compositions as of the snapshot day, across media."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pyarrow as pa
import pytest
from adctr.core import settings
from adctr.core.table_schemas import get_schema
from adctr.ingestion.adapters.asset_library import (
    ASSET_FIELDS,
    CREATIVE_FIELDS,
    AssetLibrary,
    Listing,
)
from adctr.ingestion.library_checks import (
    ASSETS_TABLE,
    CREATIVES_TABLE,
    LIBRARY_QUARANTINE_TABLE,
    LibraryRules,
    check_library,
    with_partition,
)
from adctr.warehouse import elt
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

D = date(2026, 11, 3)
AS_OF = date(2026, 11, 10)
G = "adv1-c1-g1"
ASSETS = [
    (f"{G}-h1", G, "HEADLINE", "見出し一", None, "2026-01-01"),
    (f"{G}-h2", G, "HEADLINE", "見出し二", None, "2026-11-05"),  # launches after D
    (f"{G}-d1", G, "DESCRIPTION", "説明", None, "2026-01-01"),
    (f"{G}-i1", G, "IMAGE", None, "video", "2026-01-01"),
    ("g2-h1", "g2", "HEADLINE", "他の見出し", None, "2026-01-01"),
]
CREATIVES = [
    # id, headline, description, image, launch, end (first day not serving), status as of AS_OF
    (f"{G}-cr1", f"{G}-h1", f"{G}-d1", f"{G}-i1", "2026-01-01", "2026-11-03", "REMOVED"),  # retired on D
    (f"{G}-cr2", f"{G}-h1", f"{G}-d1", f"{G}-i1", "2026-02-01", "2026-11-06", "REMOVED"),  # retired after D
    (f"{G}-cr3", f"{G}-h1", f"{G}-d1", f"{G}-i1", "2026-03-01", None, "ENABLED"),
    (f"{G}-cr4", f"{G}-h2", f"{G}-d1", f"{G}-i1", "2026-11-07", None, "ENABLED"),  # launches after D
]


def rules() -> LibraryRules:
    return LibraryRules.from_config(settings.load_config("media")["asset_library"])


def schemas() -> dict:
    return {t: get_schema(t) for t in (ASSETS_TABLE, CREATIVES_TABLE)}


def library(assets=ASSETS, creatives=CREATIVES, medium: str = "yahoo_ads", job: str = "pull-1") -> AssetLibrary:  # noqa: ANN001
    def table(fields: tuple[str, ...], rows: list[dict]) -> pa.Table:
        return pa.table({f: pa.array([r.get(f) for r in rows], pa.string()) for f in fields})

    asset_rows = [dict(zip(("asset_id", "ad_group_id", "asset_type", "asset_text", "asset_format", "launch_date"), a, strict=True),
                       campaign_id="adv1-c1", advertiser_id="adv1") for a in assets]  # fmt: skip
    creative_rows = [dict(zip(("creative_id", "headline_asset_id", "description_asset_id", "image_asset_id",
                                "launch_date", "end_date", "status"), c, strict=True), ad_group_id=c[0].rsplit("-", 1)[0])
                     for c in creatives]  # fmt: skip
    return AssetLibrary(
        medium, "1001", AS_OF, job,
        Listing("assets", AS_OF, len(asset_rows), table(ASSET_FIELDS, asset_rows)),
        Listing("ads", AS_OF, len(creative_rows), table(CREATIVE_FIELDS, creative_rows)),
    )  # fmt: skip


def reasons(checked) -> dict[str, str]:  # noqa: ANN001
    out = {}
    for r in checked.quarantined.to_pylist():
        row = json.loads(r["row_json"])
        out[row.get("creative_id") or row.get("asset_id") or "?"] = r["reason"]
    return out


def test_a_clean_library_loads_whole() -> None:
    checked = check_library(library(), rules(), schemas())
    assert checked.assets.num_rows == len(ASSETS) and checked.creatives.num_rows == len(CREATIVES)
    assert checked.quarantined.num_rows == 0
    assert checked.assets.column("source_as_of").to_pylist() == [AS_OF] * len(ASSETS)
    assert checked.creatives.column("end_date").to_pylist()[:2] == [date(2026, 11, 3), date(2026, 11, 6)]


def test_bad_rows_are_quarantined_with_their_reasons() -> None:
    assets = [
        *ASSETS,
        (None, G, "HEADLINE", "x", None, "2026-01-01"),
        (f"{G}-x1", G, "LOGO", "x", None, "2026-01-01"),
        (f"{G}-h3", G, "HEADLINE", None, None, "2026-01-01"),
        (f"{G}-i2", G, "IMAGE", None, "gif", "2026-13-01"),
        (f"{G}-h1", G, "HEADLINE", "同じID", None, "2026-01-01"),
    ]
    creatives = [
        *CREATIVES,
        (f"{G}-cr5", "g2-h1", f"{G}-d1", f"{G}-i1", "2026-01-01", None, "ENABLED"),  # another group's headline
        (f"{G}-cr6", f"{G}-d1", f"{G}-d1", f"{G}-i1", "2026-01-01", None, "ENABLED"),  # a description as headline
        (f"{G}-cr7", f"{G}-h9", f"{G}-d1", f"{G}-i2", "2026-01-01", None, "PAUSED"),  # unknown / quarantined assets
        (f"{G}-cr8", f"{G}-h2", f"{G}-d1", f"{G}-i1", "2026-11-01", "2026-10-01", "REMOVED"),
        (f"{G}-cr3", f"{G}-h1", f"{G}-d1", f"{G}-i1", "2026-03-01", None, "ENABLED"),
    ]
    checked = check_library(library(assets, creatives), rules(), schemas())
    got = reasons(checked)
    assert got == {
        "?": "null_asset_id",
        f"{G}-x1": "unknown_asset_type",
        f"{G}-h3": "missing_asset_text",
        f"{G}-i2": "unknown_asset_format;bad_launch_date",
        f"{G}-h1": "duplicate_key",
        f"{G}-cr5": "headline_asset_not_in_ad_group",
        f"{G}-cr6": "headline_asset_wrong_type",
        f"{G}-cr7": "unknown_status;unknown_headline_asset;unknown_image_asset",
        f"{G}-cr8": "end_before_launch;headline_asset_launched_after_creative",
        f"{G}-cr3": "duplicate_key",
    }
    tables = checked.quarantined.column("source_table").to_pylist()
    assert tables.count(ASSETS_TABLE) == 5 and tables.count(CREATIVES_TABLE) == 5
    # Nothing lost: every row sent is either loaded or quarantined.
    counts = checked.counts
    assert counts[ASSETS_TABLE]["accepted"] + counts[ASSETS_TABLE]["quarantined"] == len(assets)
    assert counts[CREATIVES_TABLE]["accepted"] + counts[CREATIVES_TABLE]["quarantined"] == len(creatives)


def _load(wh: DuckDBWarehouse, day: date, pulls: list[AssetLibrary]) -> None:
    pulled = datetime(2026, 11, 10, 6, tzinfo=timezone.utc)
    parts: dict[str, list[pa.Table]] = {ASSETS_TABLE: [], CREATIVES_TABLE: [], LIBRARY_QUARANTINE_TABLE: []}
    for i, lib in enumerate(pulls):
        checked = check_library(lib, rules(), schemas())
        for table, data in ((ASSETS_TABLE, checked.assets), (CREATIVES_TABLE, checked.creatives),
                            (LIBRARY_QUARANTINE_TABLE, checked.quarantined)):  # fmt: skip
            at = pulled.replace(minute=i)
            parts[table].append(with_partition(data, get_schema(table), day, lib.source_job_id, at))
    for table, tables in parts.items():
        wh.replace_partition_from_arrow(get_schema(table), day, pa.concat_tables(tables))


@pytest.fixture
def wh(tmp_path) -> DuckDBWarehouse:  # noqa: ANN001
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    renamed = [(a[0], a[1], a[2], (a[3] or "") + "!" if a[3] else None, a[4], a[5]) for a in ASSETS]
    _load(warehouse, D, [library(), library(renamed, medium="google_ads", job="pull-2")])
    elt.build("staging.assets", D, warehouse)
    elt.build("staging.creative_assets", D, warehouse)
    return warehouse


def test_staging_assets_is_the_library_on_the_snapshot_day_across_media(wh: DuckDBWarehouse) -> None:
    got = wh.query_arrow("select * from staging.assets order by asset_id").to_pylist()
    assert [r["asset_id"] for r in got] == sorted(a[0] for a in ASSETS if a[5] <= D.isoformat())
    assert {r["report_date"] for r in got} == {D}
    head = next(r for r in got if r["asset_id"] == f"{G}-h1")
    assert head["asset_text"] == "見出し一!" and head["text_length"] == 5  # the later pull (google_ads) wins
    image = next(r for r in got if r["asset_type"] == "IMAGE")
    assert image["asset_text"] is None and image["text_length"] is None and image["asset_format"] == "video"


def test_staging_creatives_have_their_status_on_the_snapshot_day(wh: DuckDBWarehouse) -> None:
    got = {r["creative_id"]: r for r in wh.query_arrow("select * from staging.creative_assets").to_pylist()}
    assert sorted(got) == [f"{G}-cr1", f"{G}-cr2", f"{G}-cr3"]  # cr4 launches after D
    assert {k: r["status"] for k, r in got.items()} == {
        f"{G}-cr1": "REMOVED",  # its first day not serving is D
        f"{G}-cr2": "ENABLED",  # retired after D: it served on D
        f"{G}-cr3": "ENABLED",
    }
    assert got[f"{G}-cr3"]["headline_asset_id"] == f"{G}-h1" and got[f"{G}-cr3"]["launch_date"] == date(2026, 3, 1)
