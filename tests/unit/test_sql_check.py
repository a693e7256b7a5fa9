"""`make sql-check` runs every model on fixture data and names failing files and lines."""

from __future__ import annotations

from datetime import date

from adctr.local import sql_check as sqlcheck
from adctr.warehouse import elt


def test_every_model_passes_on_fixture_data(capsys) -> None:  # noqa: ANN001
    assert sqlcheck.check_embedded(date(2026, 11, 20), days=3) == 0
    out = capsys.readouterr().out
    assert "BQ scans" in out and "BQ bills" in out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("PASS")}
    for model in elt.all_sql_models().values():
        line = lines[elt.display_path(model.sql_path)]
        # offline BigQuery estimate: bytes scanned, then billed (10 MiB minimum per table)
        assert line.rstrip().endswith("MiB") and "no estimate" not in line
    assert "KiB" in lines["sql/staging/ad_performance.sql"]  # the fixture day's raw partition


def test_a_broken_file_is_reported_with_its_line(tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    models = dict(elt.all_sql_models())
    good = models["features.creative_daily"]
    broken = tmp_path / "creative_daily.sql"
    broken.write_text("select *\nfrom staging.ad_performance\nwhere report_date = @ds)\n")
    models[good.table_id] = elt.SqlModel(good.table_id, broken, good.depends_on, good.dag)
    monkeypatch.setattr(elt, "all_sql_models", lambda: models)
    assert sqlcheck.check_embedded(date(2026, 11, 20), days=2) == 1
    out = capsys.readouterr().out
    assert "FAIL  " in out and "creative_daily.sql:3: syntax error" in out
    assert "PASS  sql/staging/ad_performance.sql" in out
