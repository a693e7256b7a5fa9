"""Great Expectations on DuckDB really computes metrics (the private fix in gx_compat works).

Fails the day GX moves the symbol it patches, changes version, or the fix stops returning
real counts: the gate must never read an all-false, count-less result as "data bad".
"""

from __future__ import annotations

from datetime import date

import great_expectations as gx
import pyarrow.compute as pc
from adctr import quality
from adctr.core.table_schemas import get_schema
from adctr.quality import gx_compat
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

from tests.helpers import raw_rows

DAY = date(2026, 11, 3)


def test_pinned_version_and_patched_symbol_exist() -> None:
    from great_expectations.execution_engine import sqlalchemy_execution_engine as engine_module

    assert gx.__version__ == gx_compat.TESTED_GX_VERSION
    assert isinstance(engine_module._PERSISTED_CONNECTION_DIALECTS, tuple)


def test_counts_are_real_and_the_file_is_released(isolated_var) -> None:  # noqa: ANN001
    wh = DuckDBWarehouse(isolated_var / "warehouse.duckdb")
    table = raw_rows(DAY, 6)
    bad = table.set_column(
        table.schema.get_field_index("clicks"), "clicks",
        pc.if_else(pc.equal(table["device"], "tablet"),
                   pc.add(table["impressions"], 1), table["clicks"]),
    )  # fmt: skip
    wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), DAY, bad)
    result = quality.validate_partition(wh, "raw.ad_performance", DAY, "test")
    failed = [o for o in result.outcomes if not o.success]
    assert [o.expectation for o in failed] == ["expect_column_pair_values_a_to_be_greater_than_b"]
    assert failed[0].unexpected_count == 2 and failed[0].error is None
    row_count = next(o for o in result.outcomes if o.expectation == "expect_table_row_count_to_be_between")
    assert row_count.observed == 6
    # GX released the file: our own writer can open it again at once.
    wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), DAY, table)
    assert quality.validate_partition(wh, "raw.ad_performance", DAY, "test").success
