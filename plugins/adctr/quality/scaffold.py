"""Write a starting suite for a table from its schema file: `python -m adctr.quality.scaffold TABLE`.

The generated checks follow the column conventions of this project (ids, counts, rates,
money); the file is then reviewed and edited like code. tests/unit/test_suites.py fails when
a table has no suite or a suite's column set no longer matches its schema file.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from adctr.core import settings
from adctr.core.table_schemas import TableSchema, all_schemas, get_schema

CRITICAL = {"severity": "critical"}
ID_COLUMNS = ("medium", "account_id", "advertiser_id", "campaign_id", "ad_group_id", "creative_id", "device")
COUNT_SUFFIXES = ("impressions", "clicks", "conversions", "cost_micros", "cost", "cost_jpy")


def _e(kind: str, meta: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": meta or dict(CRITICAL)}


def _is_count(name: str) -> bool:
    return name in COUNT_SUFFIXES or any(name.startswith(f"{s}_") or f"_{s}_" in name for s in COUNT_SUFFIXES[:3])


def suite_for(schema: TableSchema) -> dict[str, Any]:
    names = schema.column_names
    media = [m["name"] for m in settings.load_config("media")["media"]]
    # A quarantine table is normally empty: no volume or freshness expectations there.
    quarantine = schema.table.endswith("_quarantine")
    exp: list[dict[str, Any]] = [
        _e("expect_table_columns_to_match_set", column_set=names, exact_match=True),
    ]
    if not quarantine:
        exp += [
            _e("expect_table_row_count_to_be_between", {**CRITICAL, "why": "an empty partition"}, min_value=1),
            _e(
                "expect_table_row_count_to_be_between",
                {**CRITICAL, "volume": {"trailing_days": 7, "min_history_days": 3, "max_drop": 0.5, "max_spike": 1.0},
                 "why": "volume against the trailing 7-day median of this table"},
                min_value={"$PARAMETER": "volume_min"}, max_value={"$PARAMETER": "volume_max"},
            ),
        ]  # fmt: skip
    required = [c.name for c in schema.columns if c.required and not c.audit]
    ids = [c for c in names if c in ID_COLUMNS or c in ("report_date", "currency")]
    for name in dict.fromkeys(required + ids + [c for c in names if _is_count(c)]):
        exp.append(_e("expect_column_values_to_not_be_null", column=name))
    for name in names:
        if _is_count(name):
            exp.append(_e("expect_column_values_to_be_between", column=name, min_value=0))
        elif "_ctr_" in name or "_cvr_" in name:
            exp.append(_e("expect_column_values_to_be_between", {**CRITICAL, "why": "rates lie in [0, 1]"},
                          column=name, min_value=0, max_value=1))  # fmt: skip
    if {"impressions", "clicks"} <= set(names):
        exp.append(_e("expect_column_pair_values_a_to_be_greater_than_b", {**CRITICAL, "why": "a click needs an impression"},
                      column_A="impressions", column_B="clicks", or_equal=True))  # fmt: skip
    if {"clicks", "conversions"} <= set(names):
        exp.append(_e(
            "expect_column_pair_values_a_to_be_greater_than_b",
            {**CRITICAL, "exempt_media_with": "view_through_conversions",
             "why": "click-attributed conversions need a click (media with view-through attribution are exempt)"},
            column_A="clicks", column_B="conversions", or_equal=True,
        ))  # fmt: skip
    if schema.unique_key:
        exp.append(_e("expect_compound_columns_to_be_unique", {**CRITICAL, "why": "one row per key"},
                      column_list=list(schema.unique_key)))  # fmt: skip
    if "report_date" in names and schema.partition_field != "snapshot_date":
        exp.append(_e("expect_column_values_to_be_between", {**CRITICAL, "why": "rows belong to the partition's date"},
                      column="report_date", min_value={"$PARAMETER": "report_date"}, max_value={"$PARAMETER": "report_date"}))  # fmt: skip
    if "medium" in names:
        exp.append(_e("expect_column_values_to_be_in_set", {**CRITICAL, "why": "media configured in config/media.yaml"},
                      column="medium", value_set=media))  # fmt: skip
    if "currency" in names:
        exp.append(_e("expect_column_values_to_be_in_set", column="currency",
                      value_set=sorted(settings.load_config("currencies")["jpy_per_unit"])))  # fmt: skip
    if "device" in names:
        exp.append(_e("expect_column_values_to_be_in_set", {"severity": "warning", "why": "a new device type needs a feature review"},
                      column="device", value_set=["mobile", "desktop", "tablet"]))  # fmt: skip
    if "ingested_at" in names and schema.dataset == "raw" and not quarantine:
        exp.append(_e("expect_column_max_to_be_between", {**CRITICAL, "freshness": {"max_age_hours": 36},
                      "why": "the partition was pulled recently (not a stale load)"},
                      column="ingested_at", min_value={"$PARAMETER": "fresh_after"}))  # fmt: skip
        exp.append(_e("expect_column_min_to_be_between", {**CRITICAL, "why": "pulled only after the report day closed"},
                      column="ingested_at", min_value={"$PARAMETER": "day_closed_at"}))  # fmt: skip
    return {
        "name": schema.table_id,
        "meta": {
            "table": schema.table_id,
            "owner": schema.owner,
            "note": "severity: critical blocks downstream tasks; warning is reported only. "
                    "Column types are checked against the schema file by the runner.",
        },
        "expectations": exp,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("tables", nargs="*", help="dataset.table (default: every table)")
    parser.add_argument("--force", action="store_true", help="overwrite existing suites")
    args = parser.parse_args(argv)
    for table_id in args.tables or sorted(all_schemas()):
        path = settings.expectations_dir() / f"{table_id}.json"
        if path.exists() and not args.force:
            print(f"exists, kept: {path}")
            continue
        path.write_text(json.dumps(suite_for(get_schema(table_id)), indent=2, ensure_ascii=False) + "\n", "utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
