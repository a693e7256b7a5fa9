"""SQL models: every file has a schema, dependencies are right, rendering is strict."""

from __future__ import annotations

from datetime import date

import pytest
import sqlglot
from adctr.core import settings
from adctr.core import table_schemas as schema
from adctr.warehouse import elt
from sqlglot import exp


def _sqlglot_tables(sql: str) -> set[str]:
    tree = sqlglot.parse_one(sql, read="bigquery")
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return {f"{t.db}.{t.name}" for t in tree.find_all(exp.Table) if t.db and t.name not in ctes}


def test_every_sql_file_has_a_schema_and_suite_names_match() -> None:
    sql_root = settings.sql_dir()
    for path in sql_root.glob("*/*.sql"):
        assert path.with_suffix(".yml").exists(), f"{path} has no schema file"
    for path in settings.expectations_dir().glob("*.json"):
        assert path.stem in schema.all_schemas(), f"suite {path.name} names no table"


@pytest.mark.parametrize("table_id", sorted(elt.all_sql_models()))
def test_text_scan_dependencies_match_a_full_parse(table_id: str) -> None:
    model = elt.all_sql_models()[table_id]
    rendered = elt.render(model, date(2026, 11, 20))
    assert set(model.depends_on) == _sqlglot_tables(rendered) - {table_id}


def test_dag_order_respects_dependencies() -> None:
    order = [m.table_id for m in elt.sql_models_for_dag("ad_performance_daily")]
    assert order.index("staging.ad_performance") < order.index("features.creative_daily")


def test_params_override_and_unknown_params_fail(tmp_path) -> None:  # noqa: ANN001
    model = elt.all_sql_models()["features.creative_daily"]
    assert "interval 3 day" in elt.render(model, date(2026, 11, 20), {"trailing_windows": [3, 5]})
    broken = tmp_path / "creative_daily.sql"
    broken.write_text("select {{ params.no_such_param }} as x")
    with pytest.raises(elt.SqlModelError, match="no_such_param"):
        elt.render(elt.SqlModel(model.table_id, broken, (), model.dag), date(2026, 11, 20))


def test_sql_lints_clean_with_sqlfluff() -> None:
    from sqlfluff.core import FluffConfig, Linter

    config = FluffConfig.from_path(str(settings.project_root()))
    result = Linter(config=config).lint_paths((str(settings.sql_dir()),))
    violations = {
        rec["filepath"]: [f"L{v['start_line_no']} {v['code']} {v['description']}" for v in rec["violations"]]
        for rec in result.as_records()
        if rec["violations"]
    }
    assert violations == {}


@pytest.mark.parametrize("table_id", sorted(elt.all_sql_models()))
def test_transpile_guard_every_file_runs_faithfully_on_duckdb(table_id: str) -> None:
    model = elt.all_sql_models()[table_id]
    elt.check(model, elt.render(model, date(2026, 11, 20)))  # raises naming file and construct


def _model_with(tmp_path, text: str) -> elt.SqlModel:  # noqa: ANN001
    base = elt.all_sql_models()["staging.ad_performance"]
    path = tmp_path / "sql" / "staging" / "ad_performance.sql"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return elt.SqlModel(base.table_id, path, (), base.dag)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("select 1 as x\nfrom raw.ad_performance\nwhere (report_date = @ds", r"ad_performance.sql:3: syntax error"),
        ("select *\nfrom raw.no_such_table", r"ad_performance.sql:2: reads table `raw.no_such_table`"),
        ("select *\nfrom raw.ad_performance\nwhere x = {{ params.no_such }}", r"ad_performance.sql:3: template error"),
        ("select approx_top_count(medium, 3) as x\nfrom raw.ad_performance", r"ad_performance.sql:1: uses a construct .* cannot run faithfully: APPROX_TOP_COUNT"),
    ],
)
def test_bad_sql_fails_with_file_and_line_before_anything_is_written(
    tmp_path, monkeypatch, text: str, message: str  # noqa: ANN001
) -> None:
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    model = _model_with(tmp_path, text)
    monkeypatch.setattr(elt, "all_sql_models", lambda: {model.table_id: model})
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    with pytest.raises(elt.SqlModelError, match=message):
        elt.build(model.table_id, date(2026, 11, 20), wh)
    assert not (tmp_path / "w.duckdb").exists()  # the warehouse was never even opened


def test_a_trailing_window_waits_for_earlier_partitions_a_parallel_run_has_not_built(tmp_path) -> None:  # noqa: ANN001
    from datetime import timedelta

    from adctr.core.table_schemas import get_schema
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    from tests.helpers import raw_rows

    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    days = [date(2026, 11, 18) + timedelta(days=i) for i in range(3)]
    for day in days:
        wh.replace_partition_from_arrow(get_schema("raw.ad_performance"), day, raw_rows(day, 6))
    staging = ("staging.ad_performance", "staging.creative_snapshot")
    for day in (days[0], days[2]):  # the middle date's run has loaded raw but not built staging yet
        for table in staging:
            elt.build(table, day, wh)
    features = elt.all_sql_models()["features.creative_daily"]
    assert elt.days_read_back(features) == 28
    assert elt.upstream_gaps(features, days[2], wh) == [
        "staging.ad_performance 2026-11-19 (raw.ad_performance has 6 rows)",
        "staging.creative_snapshot 2026-11-19 (raw.ad_performance has 6 rows)",
    ]
    assert elt.upstream_gaps(features, days[1], wh) == []  # earlier dates are complete
    assert elt.upstream_gaps(elt.all_sql_models()["staging.ad_performance"], days[2], wh) == []  # reads its own date
    for table in staging:
        elt.build(table, days[1], wh)
    assert elt.upstream_gaps(features, days[2], wh) == []


def test_a_param_from_config_takes_the_config_value_and_a_missing_key_fails(config_copy) -> None:  # noqa: ANN001
    import yaml

    model = elt.all_sql_models()["scoring.candidates"]
    assert model.schema.params["contexts"] == {"from_config": "scoring.contexts"}
    path = config_copy / "scoring.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["contexts"] = [{"medium": "meta", "device": "tablet"}, {"medium": "yahoo_ads", "device": "desktop"}]
    path.write_text(yaml.safe_dump(cfg))
    rendered = elt.render(model, date(2026, 11, 20))
    assert "'meta' as medium" in rendered and "'desktop' as device" in rendered
    del cfg["contexts"]
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(elt.SqlModelError, match="scoring.yaml has no key 'contexts'"):
        elt.render(model, date(2026, 11, 20))
