"""Data Docs render the suite results in a real browser (Debian's headless Chromium)."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
from adctr import quality
from adctr.core.table_schemas import get_schema
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

from tests.helpers import chromium, raw_rows

DAY = date(2026, 11, 4)


def _page_text(browser: str, url: str, profile: Path) -> str:
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    text = re.sub(r"<style.*?</style>|<script.*?</script>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def test_data_docs_show_the_failed_expectation(isolated_var) -> None:  # noqa: ANN001
    browser = chromium()
    wh = DuckDBWarehouse(isolated_var / "warehouse.duckdb")
    table = raw_rows(DAY, 6)
    bad = table.set_column(
        table.schema.get_field_index("clicks"), "clicks",
        pc.if_else(pc.equal(table["device"], "tablet"), pc.add(table["impressions"], 1), table["clicks"]),
    )  # fmt: skip
    wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), DAY, bad)
    result = quality.validate_partition(wh, "raw.ad_performance", DAY, "browser-test")
    assert not result.success and result.docs and Path(result.docs).exists()

    index = _page_text(browser, Path(result.docs).as_uri(), isolated_var / "chromium")
    assert "Data Docs" in index  # the index's tables need GX's CDN scripts (offline here)
    pages = sorted(Path(result.docs).parent.glob("validations/**/*.html"))
    assert len(pages) == 1
    page = _page_text(browser, pages[0].as_uri(), isolated_var / "chromium")
    assert "Expectation Suite: raw.ad_performance" in page
    assert "Status: Failed" in page
    assert "impressions" in page and "clicks" in page
