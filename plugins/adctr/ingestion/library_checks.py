"""Turn a pulled asset library into raw-schema Arrow tables: accepted assets, accepted
creatives, and quarantined rows of either with their reasons (never dropped silently).

Row checks, column-wise with pyarrow compute (reasons joined with ';'):
- assets: null ids, asset_type outside config/media.yaml `asset_library.asset_types`, a
  headline/description without text, an image whose format is not a known one, a launch date
  that is not a date, an asset id listed twice;
- creatives: null ids, a status outside `creative_statuses`, bad launch/end dates or an end
  before the launch, and for each of its three assets: not among this pull's accepted assets
  (`unknown_<slot>_asset`), of another ad group (`<slot>_asset_not_in_ad_group`), of the wrong
  type (`<slot>_asset_wrong_type`), launched after the creative; a creative id listed twice.
A creative is checked against the *accepted* assets, so an asset quarantined for its own
reason takes the creatives made of it along (as `unknown_<slot>_asset`).
The rows are landed without snapshot date and audit columns: `with_partition` adds them at load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from adctr.core.table_schemas import TableSchema
from adctr.ingestion.adapters.asset_library import ASSET_FIELDS, CREATIVE_FIELDS, AssetLibrary
from adctr.ingestion.normalize import append_reason, as_text, duplicate_keys, parse_dates

ASSETS_TABLE = "raw.ad_assets"
CREATIVES_TABLE = "raw.ad_creatives"
LIBRARY_QUARANTINE_TABLE = "raw.ad_library_quarantine"
# Columns `with_partition` fills at load time (the rest is what the source sent).
LOAD_COLUMNS = ("snapshot_date", "source_job_id", "ingested_at")
# creative column -> (slot name used in reasons, asset_type it must have)
SLOTS = {
    "headline_asset_id": ("headline", "HEADLINE"),
    "description_asset_id": ("description", "DESCRIPTION"),
    "image_asset_id": ("image", "IMAGE"),
}
TEXT_TYPES = ("HEADLINE", "DESCRIPTION")


@dataclass(frozen=True)
class LibraryRules:
    """The values a library row may carry (config/media.yaml `asset_library`)."""

    asset_types: tuple[str, ...]
    image_formats: tuple[str, ...]
    creative_statuses: tuple[str, ...]

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "LibraryRules":
        return cls(*(tuple(str(v) for v in cfg[k]) for k in ("asset_types", "image_formats", "creative_statuses")))


@dataclass(frozen=True)
class CheckedLibrary:
    assets: pa.Table  # raw.ad_assets columns except LOAD_COLUMNS
    creatives: pa.Table  # raw.ad_creatives columns except LOAD_COLUMNS
    quarantined: pa.Table  # raw.ad_library_quarantine columns except LOAD_COLUMNS

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        by_table = pc.value_counts(self.quarantined["source_table"]).to_pylist() if self.quarantined.num_rows else []
        bad = {v["values"]: v["counts"] for v in by_table}
        return {
            ASSETS_TABLE: {"accepted": self.assets.num_rows, "quarantined": bad.get(ASSETS_TABLE, 0)},
            CREATIVES_TABLE: {"accepted": self.creatives.num_rows, "quarantined": bad.get(CREATIVES_TABLE, 0)},
        }


def _is_in(values: pa.Array, allowed: tuple[str, ...]) -> pa.Array:
    return pc.fill_null(pc.is_in(values, value_set=pa.array(allowed, pa.string())), False)


def _landed_schema(schema: TableSchema) -> pa.Schema:
    arrow = schema.arrow_schema()
    return pa.schema([f for f in arrow if f.name not in LOAD_COLUMNS])


def _typed(
    text: dict[str, pa.Array], dates: dict[str, pa.Array], schema: TableSchema, library: AssetLibrary, keep: pa.Array
) -> pa.Table:
    n = len(keep)
    constants = {"medium": library.medium, "account_id": library.account_id}
    columns: dict[str, Any] = {}
    for name in _landed_schema(schema).names:
        if name in constants:
            columns[name] = pa.repeat(pa.scalar(constants[name], pa.string()), n)
        elif name == "source_as_of":
            columns[name] = pa.repeat(pa.scalar(library.as_of, pa.date32()), n)
        else:
            columns[name] = dates.get(name, text.get(name))
    return pa.table(columns).filter(keep).cast(_landed_schema(schema))


def _rejects(table: pa.Table, reasons: pa.Array, source_table: str, medium: str) -> pa.Table:
    bad = pc.indices_nonzero(pc.is_valid(reasons))
    rows = table.take(bad).to_pylist() if len(bad) else []
    return pa.table({
        "medium": pa.array([medium] * len(bad), pa.string()),
        "source_table": pa.array([source_table] * len(bad), pa.string()),
        "reason": pc.take(reasons, bad),
        "row_json": pa.array([json.dumps(r, ensure_ascii=False) for r in rows], pa.string()),
    })  # fmt: skip


def check_assets(library: AssetLibrary, rules: LibraryRules, schema: TableSchema) -> tuple[pa.Table, pa.Table]:
    """(accepted assets, their rejects) of one pull."""
    table = library.assets.table
    text = {f: as_text(table[f]) for f in ASSET_FIELDS}
    reasons = pa.nulls(table.num_rows, pa.string())
    for col in ("asset_id", "ad_group_id", "campaign_id", "advertiser_id"):
        reasons = append_reason(reasons, pc.is_null(text[col]), f"null_{col}")
    kind = text["asset_type"]
    reasons = append_reason(reasons, pc.invert(_is_in(kind, rules.asset_types)), "unknown_asset_type")
    needs_text = _is_in(kind, TEXT_TYPES)
    reasons = append_reason(reasons, pc.and_(needs_text, pc.is_null(text["asset_text"])), "missing_asset_text")
    image = pc.fill_null(pc.equal(kind, "IMAGE"), False)
    bad_format = pc.and_(image, pc.invert(_is_in(text["asset_format"], rules.image_formats)))
    reasons = append_reason(reasons, bad_format, "unknown_asset_format")
    launch, launch_ok = parse_dates(text["launch_date"])
    reasons = append_reason(reasons, pc.invert(launch_ok), "bad_launch_date")
    if table.num_rows:
        reasons = append_reason(reasons, duplicate_keys(text, ("asset_id",)), "duplicate_key")
    keep = pc.is_null(reasons)
    accepted = _typed(text, {"launch_date": launch}, schema, library, keep)
    return accepted, _rejects(table, reasons, ASSETS_TABLE, library.medium)


def check_creatives(
    library: AssetLibrary, assets: pa.Table, rules: LibraryRules, schema: TableSchema
) -> tuple[pa.Table, pa.Table]:
    """(accepted creatives, their rejects) of one pull, against its accepted `assets`."""
    table = library.creatives.table
    text = {f: as_text(table[f]) for f in CREATIVE_FIELDS}
    reasons = pa.nulls(table.num_rows, pa.string())
    for col in ("creative_id", "ad_group_id", *SLOTS):
        reasons = append_reason(reasons, pc.is_null(text[col]), f"null_{col}")
    reasons = append_reason(reasons, pc.invert(_is_in(text["status"], rules.creative_statuses)), "unknown_status")
    launch, launch_ok = parse_dates(text["launch_date"])
    reasons = append_reason(reasons, pc.invert(launch_ok), "bad_launch_date")
    end, end_ok = parse_dates(text["end_date"])
    reasons = append_reason(reasons, pc.and_(pc.is_valid(text["end_date"]), pc.invert(end_ok)), "bad_end_date")
    reasons = append_reason(reasons, pc.less(end, launch), "end_before_launch")
    for column, (slot, kind) in SLOTS.items():
        found = pc.index_in(text[column], value_set=assets["asset_id"].combine_chunks())
        known = pc.is_valid(found)
        reasons = append_reason(reasons, pc.and_(pc.is_valid(text[column]), pc.invert(known)), f"unknown_{slot}_asset")
        group = pc.take(assets["ad_group_id"], found)
        reasons = append_reason(reasons, pc.and_(known, pc.not_equal(group, text["ad_group_id"])), f"{slot}_asset_not_in_ad_group")
        reasons = append_reason(reasons, pc.and_(known, pc.not_equal(pc.take(assets["asset_type"], found), kind)), f"{slot}_asset_wrong_type")
        later = pc.greater(pc.take(assets["launch_date"], found), launch)
        reasons = append_reason(reasons, pc.and_(known, later), f"{slot}_asset_launched_after_creative")
    if table.num_rows:
        reasons = append_reason(reasons, duplicate_keys(text, ("creative_id",)), "duplicate_key")
    keep = pc.is_null(reasons)
    accepted = _typed(text, {"launch_date": launch, "end_date": end}, schema, library, keep)
    return accepted, _rejects(table, reasons, CREATIVES_TABLE, library.medium)


def check_library(library: AssetLibrary, rules: LibraryRules, schemas: dict[str, TableSchema]) -> CheckedLibrary:
    assets, bad_assets = check_assets(library, rules, schemas[ASSETS_TABLE])
    creatives, bad_creatives = check_creatives(library, assets, rules, schemas[CREATIVES_TABLE])
    return CheckedLibrary(assets, creatives, pa.concat_tables([bad_assets, bad_creatives]))


def with_partition(table: pa.Table, schema: TableSchema, snapshot_date: date, job_id: str, ingested_at: datetime) -> pa.Table:
    """A landed table in its raw schema: the partition's date and the pull's audit columns added."""
    n = table.num_rows
    filled = {
        "snapshot_date": pa.repeat(pa.scalar(snapshot_date, pa.date32()), n),
        "source_job_id": pa.repeat(pa.scalar(job_id, pa.string()), n),
        "ingested_at": pa.repeat(pa.scalar(ingested_at, pa.timestamp("us", tz="UTC")), n),
    }
    return pa.table({c: filled[c] if c in filled else table[c] for c in schema.column_names}).cast(schema.arrow_schema())
