"""Suites are files reviewed like code: one per table, in step with the schema files."""

from __future__ import annotations

import json

import great_expectations as gx
import pytest
from adctr.core import settings
from adctr.core.table_schemas import all_schemas


@pytest.mark.parametrize("table_id", sorted(all_schemas()))
def test_every_table_has_a_valid_suite_matching_its_schema(table_id: str) -> None:
    path = settings.expectations_dir() / f"{table_id}.json"
    assert path.exists(), f"{table_id} has no suite: python -m adctr.quality.scaffold {table_id}"
    suite = json.loads(path.read_text())
    assert suite["name"] == table_id
    columns = [e for e in suite["expectations"] if e["type"] == "expect_table_columns_to_match_set"]
    assert columns and columns[0]["kwargs"]["column_set"] == all_schemas()[table_id].column_names
    for e in suite["expectations"]:
        assert e["meta"]["severity"] in ("critical", "warning"), e
    # GX parses every entry (it silently drops invalid ones otherwise).
    assert len(gx.ExpectationSuite(**suite).expectations) == len(suite["expectations"])


def test_media_with_view_through_attribution_are_exempt_from_conversions_le_clicks(config_copy) -> None:  # noqa: ANN001
    import yaml
    from adctr.quality.runner import _apply_media_exemptions, load_suite_dict

    path = config_copy / "media.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["media"][1]["view_through_conversions"] = True
    path.write_text(yaml.safe_dump(cfg))
    suite = _apply_media_exemptions(load_suite_dict("raw.ad_performance"))
    (pair,) = [e for e in suite["expectations"] if e["kwargs"].get("column_B") == "conversions"]
    condition = pair["kwargs"]["row_condition"]
    assert condition.parameter == [cfg["media"][1]["name"]] and condition.column.name == "medium"


@pytest.mark.parametrize("table_id", sorted(all_schemas()))
def test_every_column_an_expectation_names_is_in_the_table(table_id: str) -> None:
    """A check on a column the table does not have fails at run time with no count: catch it in review."""
    suite = json.loads((settings.project_root() / "expectations" / f"{table_id}.json").read_text("utf-8"))
    columns = set(all_schemas()[table_id].column_names)
    for e in suite["expectations"]:
        kw = e["kwargs"]
        named = [kw[k] for k in ("column", "column_A", "column_B") if k in kw] + list(kw.get("column_list") or [])
        assert set(named) <= columns, (e["type"], sorted(set(named) - columns))
