"""The tree -> SQL compiler gives FittedModel.predict's scores (1e-9) on DuckDB, through the
project's BigQuery -> DuckDB transpile, for each LightGBM decision rule, the feature transform
(vocabulary, defaults, day_of_week), the output transforms and chunking."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlglot
from adctr.model.contract import FeatureDef, FeatureSpec, FittedModel, transform
from adctr.scoring.tree_sql import (
    BIGQUERY_MAX_QUERY_CHARS,
    K_ZERO_THRESHOLD,
    ModelNotCompilable,
    ScoringSql,
    compile_model,
    run_duckdb,
    run_in_warehouse,
)

TOLERANCE = 1e-9
PARAMS = {"objective": "cross_entropy", "num_leaves": 15, "min_data_in_leaf": 5, "verbosity": -1,
          "num_threads": 1, "deterministic": True, "seed": 1}  # fmt: skip
MONDAY = date(2026, 1, 5)


def _spec(*features: FeatureDef, rate: float | None = None) -> FeatureSpec:
    return FeatureSpec(list(features), negative_sampling_rate=rate)


def _num(name: str, **kw: object) -> FeatureDef:
    return FeatureDef(name, "numeric", **kw)  # type: ignore[arg-type]


def _cat(name: str, vocabulary: list[str], **kw: object) -> FeatureDef:
    return FeatureDef(name, "categorical", vocabulary=vocabulary, **kw)  # type: ignore[arg-type]


def _train(
    spec: FeatureSpec, frame: pd.DataFrame, label: np.ndarray, rounds: int = 20, **params: object
) -> lgb.Booster:
    data = lgb.Dataset(
        transform(spec, frame), label=label, feature_name=spec.names,
        categorical_feature=spec.categorical_indices, params={"verbosity": -1},
    )  # fmt: skip
    return lgb.train({**PARAMS, **params}, data, num_boost_round=rounds)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """Rows for the warehouse: None/NA -> NULL; a float NaN in a NumPy column stays NaN."""

    def missing(v: object) -> bool:
        return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))

    columns = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_string_dtype(col) or col.dtype == object:
            values = [None if missing(v) else v for v in col.tolist()]
            kind = pa.date32() if any(isinstance(v, date) for v in values) else pa.string()
            columns[name] = pa.array(values, kind)
        elif isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
            columns[name] = pa.array(col.array)
        else:
            columns[name] = pa.array(col.to_numpy())
    return pa.table(columns)


def _score_sql(
    booster: lgb.Booster, spec: FeatureSpec, frame: pd.DataFrame, **kw: object
) -> tuple[np.ndarray, ScoringSql]:
    con = duckdb.connect()
    con.register("rows_in", _arrow(frame))
    con.execute("create table src as select * from rows_in")
    options = {"max_query_chars": BIGQUERY_MAX_QUERY_CHARS, **kw}
    scoring = compile_model(booster, spec, source="src", keys=["row_id"], **options)  # type: ignore[arg-type]
    result = run_duckdb(con, scoring)
    ids = result.column("row_id").to_numpy()
    assert sorted(ids.tolist()) == frame["row_id"].tolist()
    return result.column("score").to_numpy()[np.argsort(ids)], scoring


def _expected(booster: lgb.Booster, spec: FeatureSpec, frame: pd.DataFrame) -> np.ndarray:
    """FittedModel.predict on the frame as it reads back from the warehouse (NULL -> None/NaN)."""
    back = _arrow(frame).to_pandas()
    return FittedModel(booster, spec).predict(back)


def _assert_parity(
    booster: lgb.Booster, spec: FeatureSpec, frame: pd.DataFrame, **kw: object
) -> ScoringSql:
    got, scoring = _score_sql(booster, spec, frame, **kw)
    want = _expected(booster, spec, frame)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE)
    return scoring


def _nodes(booster: lgb.Booster) -> list[dict]:
    out = []
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_index" in node:
                out.append(node)
                stack += [node["left_child"], node["right_child"]]
    return out


def _missing_types(booster: lgb.Booster) -> set[str]:
    return {n["missing_type"] for n in _nodes(booster) if n["decision_type"] == "<="}


def _numeric_world(
    n: int, rng: np.random.Generator, nan_share: float = 0.2, zero_share: float = 0.0
) -> tuple[pd.DataFrame, np.ndarray]:
    x = rng.normal(size=n)
    y = rng.normal(size=n)
    x[rng.random(n) < zero_share] = 0.0
    label = 1 / (1 + np.exp(-(1.5 * x - y)))
    x[rng.random(n) < nan_share] = np.nan
    label = np.where(
        np.isnan(x), 0.9, label
    )  # missing x is informative: LightGBM learns a direction
    return pd.DataFrame({"row_id": np.arange(n), "x": x, "y": y}), label


def _probe_rows(values: list[float | None], start: int = 0) -> pd.DataFrame:
    n = len(values)
    x = pd.array(values, dtype="Float64")  # None -> NULL
    return pd.DataFrame({"row_id": np.arange(start, start + n), "x": x, "y": np.linspace(-2, 2, n)})


def _with_probes(frame: pd.DataFrame, booster: lgb.Booster) -> pd.DataFrame:
    """The frame plus rows at every threshold of x, NULL, NaN, 0, -0, tiny and huge values."""
    thresholds = sorted(
        {
            n["threshold"]
            for n in _nodes(booster)
            if n["split_feature"] == 0 and n["decision_type"] == "<="
        }
    )
    probes: list[float | None] = [None, 0.0, -0.0, 1e-40, -1e-40, K_ZERO_THRESHOLD, -K_ZERO_THRESHOLD,
                                  2 * K_ZERO_THRESHOLD, 1e300, -1e300, *thresholds,
                                  *(np.nextafter(t, np.inf) for t in thresholds)]  # fmt: skip
    base = frame.copy()
    base["x"] = pd.array([None if np.isnan(v) else v for v in frame["x"]], dtype="Float64")
    return pd.concat([base, _probe_rows(probes, start=len(frame))], ignore_index=True)


def test_numeric_nulls_take_the_learned_missing_direction() -> None:
    rng = np.random.default_rng(1)
    frame, label = _numeric_world(600, rng)
    spec = _spec(_num("x"), _num("y"))
    booster = _train(spec, frame, label)
    frame = _with_probes(frame, booster)
    assert frame["x"].isna().sum() > 50
    _assert_parity(booster, spec, frame)


def test_missing_type_none_reads_missing_as_zero() -> None:
    rng = np.random.default_rng(2)
    frame, label = _numeric_world(600, rng, nan_share=0.0)
    spec = _spec(_num("x"), _num("y"))
    booster = _train(spec, frame, label, use_missing=False)
    assert _missing_types(booster) == {"None"}
    _assert_parity(booster, spec, _with_probes(frame, booster))


def test_missing_type_zero_sends_zero_tiny_and_null_the_default_way() -> None:
    rng = np.random.default_rng(3)
    frame, label = _numeric_world(800, rng, nan_share=0.0, zero_share=0.3)
    label = np.where(frame["x"] == 0.0, 0.95, label)
    spec = _spec(_num("x"), _num("y"))
    booster = _train(spec, frame, label, zero_as_missing=True)
    assert "Zero" in _missing_types(booster)
    zero_nodes = [n for n in _nodes(booster) if n["missing_type"] == "Zero"]
    assert {n["default_left"] for n in zero_nodes} == {True, False}  # both directions exercised
    assert any(n["threshold"] < 0 for n in zero_nodes) and any(
        n["threshold"] >= 0 for n in zero_nodes
    )
    _assert_parity(booster, spec, _with_probes(frame, booster))


def test_missing_type_nan_with_both_default_directions() -> None:
    rng = np.random.default_rng(4)
    frame, label = _numeric_world(800, rng, nan_share=0.3)
    spec = _spec(_num("x"), _num("y"))
    booster = _train(spec, frame, label, rounds=40)
    nan_nodes = [n for n in _nodes(booster) if n["missing_type"] == "NaN"]
    assert {n["default_left"] for n in nan_nodes} == {True, False}
    _assert_parity(booster, spec, _with_probes(frame, booster))


def test_nan_in_a_float_column_is_missing_like_null() -> None:
    rng = np.random.default_rng(5)
    frame, label = _numeric_world(600, rng, nan_share=0.3)
    spec = _spec(_num("x"), _num("y"))
    booster = _train(spec, frame, label)
    nan_rows = pd.DataFrame(
        {"row_id": [0, 1], "x": [np.nan, np.nan], "y": [0.0, 1.0]}
    )  # float NaN, not NULL
    con_rows = _arrow(nan_rows)
    assert con_rows.column("x").null_count == 0  # the warehouse holds NaN
    got, _ = _score_sql(booster, spec, nan_rows)
    want = FittedModel(booster, spec).predict(nan_rows)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE)


def _categorical_world(
    n: int, k: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    vocabulary = [f"c{i:02d}" for i in range(k)]
    effect = rng.normal(size=k) * 2
    codes = rng.integers(0, k, n)
    x = rng.normal(size=n)
    label = 1 / (1 + np.exp(-(effect[codes] + 0.5 * x)))
    frame = pd.DataFrame({"row_id": np.arange(n), "cat": [vocabulary[c] for c in codes], "x": x})
    return frame, label, vocabulary


def test_categorical_unseen_and_null_go_right() -> None:
    rng = np.random.default_rng(6)
    frame, label, vocabulary = _categorical_world(600, 5, rng)
    spec = _spec(_cat("cat", vocabulary), _num("x"))
    booster = _train(spec, frame, label, max_cat_to_onehot=8)
    assert any(n["decision_type"] == "==" for n in _nodes(booster))
    probes = pd.DataFrame({"row_id": np.arange(600, 606), "cat": ["never-seen", None, "", "C00", "c00 ", "c04"],
                           "x": np.zeros(6)})  # fmt: skip
    _assert_parity(booster, spec, pd.concat([frame, probes], ignore_index=True))


def test_categorical_split_with_many_categories() -> None:
    rng = np.random.default_rng(7)
    frame, label, vocabulary = _categorical_world(3000, 60, rng)
    spec = _spec(_cat("cat", vocabulary), _num("x"))
    booster = _train(
        spec,
        frame,
        label,
        max_cat_to_onehot=4,
        min_data_per_group=5,
        cat_smooth=1.0,
        max_cat_threshold=64,
    )
    widest = max(
        len(str(n["threshold"]).split("||")) for n in _nodes(booster) if n["decision_type"] == "=="
    )
    assert widest >= 10
    _assert_parity(booster, spec, frame)


def test_quotes_and_backslashes_in_a_vocabulary_are_matched_literally() -> None:
    rng = np.random.default_rng(8)
    vocabulary = sorted(["it's", 'say "hi"', "back\\slash", "naïve", "plain"])
    codes = rng.integers(0, len(vocabulary), 500)
    frame = pd.DataFrame(
        {"row_id": np.arange(500), "cat": [vocabulary[c] for c in codes], "x": rng.normal(size=500)}
    )
    label = np.where(codes % 2 == 0, 0.8, 0.2)
    spec = _spec(_cat("cat", vocabulary), _num("x"))
    booster = _train(spec, frame, label)
    _assert_parity(booster, spec, frame)


def test_day_of_week_derivation_on_all_seven_weekdays() -> None:
    rng = np.random.default_rng(9)
    days = [MONDAY + timedelta(days=int(d)) for d in rng.integers(0, 28, 1400)]
    label = np.array([0.1 + 0.1 * d.weekday() for d in days])
    frame = pd.DataFrame({"row_id": np.arange(len(days)), "report_date": days})
    spec = _spec(_num("day_of_week", derived_from="report_date"))
    booster = _train(spec, frame, label, min_data_in_leaf=2)
    probes = pd.DataFrame(
        {
            "row_id": np.arange(1400, 1408),
            "report_date": [MONDAY + timedelta(days=i) for i in range(7)] + [None],
        }
    )
    frame = pd.concat([frame, probes], ignore_index=True)
    got, _ = _score_sql(booster, spec, frame)
    np.testing.assert_allclose(got, _expected(booster, spec, frame), rtol=0, atol=TOLERANCE)
    weekly = got[1400:1407]
    assert len(set(np.round(weekly, 6))) == 7 and np.all(
        np.diff(weekly) > 0
    )  # Monday lowest ... Sunday highest


def test_feature_defaults_replace_missing_values() -> None:
    rng = np.random.default_rng(10)
    frame, label, vocabulary = _categorical_world(800, 6, rng)
    frame["x"] = np.where(rng.random(800) < 0.3, np.nan, frame["x"])
    spec = _spec(_cat("cat", vocabulary, default=2.0), _num("x", default=0.25))
    booster = _train(spec, frame, label)
    frame = frame.assign(
        x=pd.array([None if np.isnan(v) else v for v in frame["x"]], dtype="Float64")
    )
    probes = pd.DataFrame({"row_id": [800, 801, 802], "cat": [None, "unseen", vocabulary[2]],
                           "x": pd.array([None, 0.25, None], dtype="Float64")})  # fmt: skip
    _assert_parity(booster, spec, pd.concat([frame, probes], ignore_index=True))


def test_negative_downsampling_is_recalibrated() -> None:
    rng = np.random.default_rng(11)
    frame, label = _numeric_world(600, rng)
    spec = _spec(_num("x"), _num("y"), rate=0.1)
    booster = _train(spec, frame, label)
    got, _ = _score_sql(booster, spec, frame)
    np.testing.assert_allclose(got, _expected(booster, spec, frame), rtol=0, atol=TOLERANCE)
    raw = booster.predict(transform(spec, frame))
    assert np.all(got < raw - 1e-3)  # the re-calibration moved every score down


@pytest.mark.parametrize("sigmoid", [1.0, 0.7])
def test_binary_objective(sigmoid: float) -> None:
    rng = np.random.default_rng(12)
    frame, label = _numeric_world(600, rng)
    spec = _spec(_num("x"), _num("y"))
    booster = _train(
        spec, frame, (rng.random(600) < label).astype(float), objective="binary", sigmoid=sigmoid
    )
    assert booster.dump_model()["objective"].startswith("binary")
    _assert_parity(booster, spec, _with_probes(frame, booster))


def test_other_objectives_are_refused() -> None:
    rng = np.random.default_rng(13)
    frame, label = _numeric_world(200, rng)
    spec = _spec(_num("x"), _num("y"))
    booster = _train(spec, frame, label, objective="regression")
    with pytest.raises(ModelNotCompilable, match="objective 'regression'"):
        compile_model(
            booster, spec, source="src", keys=["row_id"], max_query_chars=BIGQUERY_MAX_QUERY_CHARS
        )


def test_a_spec_that_is_not_the_models_is_refused() -> None:
    rng = np.random.default_rng(14)
    frame, label = _numeric_world(200, rng)
    booster = _train(_spec(_num("x"), _num("y")), frame, label)
    with pytest.raises(ModelNotCompilable, match="not the spec's"):
        compile_model(
            booster,
            _spec(_num("y"), _num("x")),
            source="src",
            keys=["row_id"],
            max_query_chars=10**6,
        )


def test_chunked_scoring_equals_the_single_statement() -> None:
    rng = np.random.default_rng(15)
    frame, label, vocabulary = _categorical_world(1000, 8, rng)
    frame["z"] = rng.normal(size=1000)
    spec = _spec(_cat("cat", vocabulary), _num("x"), _num("z"))
    booster = _train(spec, frame, label, rounds=60)
    single, one = _score_sql(booster, spec, frame)
    assert len(one.steps) == 1 and one.intermediate_tables == []
    limit = len(one.final) // 5
    chunked, many = _score_sql(
        booster, spec, frame, max_query_chars=limit, chunk_table_prefix="scratch.tree_part"
    )
    assert len(many.steps) >= 6
    assert many.intermediate_tables == [f"scratch.tree_part_{i}" for i in range(1, len(many.steps))]
    assert max(len(s) for s in many.statements) <= limit
    np.testing.assert_array_equal(chunked, single)  # same summation order: bit for bit
    np.testing.assert_allclose(chunked, _expected(booster, spec, frame), rtol=0, atol=TOLERANCE)


def test_chunking_needs_a_table_prefix_and_room_for_one_tree() -> None:
    rng = np.random.default_rng(16)
    frame, label = _numeric_world(400, rng)
    spec = _spec(_num("x"), _num("y"))
    booster = _train(spec, frame, label)
    with pytest.raises(ModelNotCompilable, match="chunk_table_prefix"):
        compile_model(booster, spec, source="src", keys=["row_id"], max_query_chars=2000)
    with pytest.raises(ModelNotCompilable, match="alone needs"):
        compile_model(
            booster,
            spec,
            source="src",
            keys=["row_id"],
            max_query_chars=400,
            chunk_table_prefix="s.t",
        )


def test_single_leaf_trees_and_a_constant_model() -> None:
    frame = pd.DataFrame(
        {"row_id": np.arange(300), "x": np.linspace(-1, 1, 300), "y": np.zeros(300)}
    )
    spec = _spec(_num("x"), _num("y"))
    booster = _train(spec, frame, np.full(300, 0.3), rounds=5)
    trees = booster.dump_model()["tree_info"]
    assert all("split_index" not in t["tree_structure"] for t in trees)
    got, _ = _score_sql(booster, spec, frame)
    np.testing.assert_allclose(got, _expected(booster, spec, frame), rtol=0, atol=TOLERANCE)
    assert np.allclose(got, 0.3, atol=1e-6)


def test_extreme_values_and_values_equal_to_thresholds() -> None:
    rng = np.random.default_rng(17)
    frame, label = _numeric_world(600, rng, nan_share=0.1)
    frame["x"] = frame["x"] * 1e250  # thresholds far from 1
    spec = _spec(_num("x"), _num("y"))
    booster = _train(spec, frame, label)
    probes = _with_probes(frame, booster)
    extra = _probe_rows(
        [1.7976931348623157e308, -1.7976931348623157e308, 5e-324, float("inf"), float("-inf")],
        start=len(probes),
    )
    _assert_parity(booster, spec, pd.concat([probes, extra], ignore_index=True))


def test_bigquery_text_parses_and_respects_the_limit() -> None:
    rng = np.random.default_rng(18)
    frame, label, vocabulary = _categorical_world(800, 8, rng)
    spec = _spec(
        _cat("cat", vocabulary),
        _num("x"),
        _num("day_of_week", derived_from="report_date"),
        rate=0.5,
    )
    frame["report_date"] = [MONDAY + timedelta(days=i % 7) for i in range(800)]
    booster = _train(spec, frame, label, rounds=30)
    for limit in (BIGQUERY_MAX_QUERY_CHARS, 30_000, 12_000):
        scoring = compile_model(booster, spec, source="(select * from `proj.ds.rows`)", keys=["row_id", "cat"],
                                max_query_chars=limit, chunk_table_prefix="scratch.part")  # fmt: skip
        for statement in scoring.statements:
            assert len(statement) <= limit
            assert (
                len(sqlglot.parse(statement, read="bigquery", error_level=sqlglot.ErrorLevel.RAISE))
                == 1
            )
        assert "extract(dayofweek from `report_date`)" in scoring.statements[0]
        assert (len(scoring.steps) == 1) == (limit == BIGQUERY_MAX_QUERY_CHARS)
    assert len(scoring.steps) > 2


def test_literals_keep_round_trip_precision() -> None:
    rng = np.random.default_rng(19)
    frame, label = _numeric_world(600, rng)
    spec = _spec(_num("x"), _num("y"))
    booster = _train(spec, frame, label)
    text = compile_model(booster, spec, source="src", keys=["row_id"], max_query_chars=10**6).final
    for node in _nodes(booster):
        assert f"<= {node['threshold']!r}" in text
    leaves = [t["tree_structure"] for t in booster.dump_model()["tree_info"]]
    assert json.dumps(leaves)  # dump is plain JSON
    assert repr(K_ZERO_THRESHOLD) in text and K_ZERO_THRESHOLD != 1e-35


def test_runs_through_the_duckdb_warehouse_backend(tmp_path: Path) -> None:
    from adctr.warehouse.duckdb_backend import DuckDBWarehouse

    rng = np.random.default_rng(20)
    frame, label, vocabulary = _categorical_world(500, 6, rng)
    spec = _spec(_cat("cat", vocabulary), _num("x"))
    booster = _train(spec, frame, label, rounds=30)
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    with warehouse.connect() as con:
        con.register("rows_in", _arrow(frame))
        con.execute("create schema ds")
        con.execute("create table ds.rows as select * from rows_in")
    single = compile_model(booster, spec, source="ds.rows", keys=["row_id"], max_query_chars=10**6)
    chunked = compile_model(booster, spec, source="ds.rows", keys=["row_id"], max_query_chars=len(single.final) // 3,
                            chunk_table_prefix="scratch.tree_part")  # fmt: skip
    want = _expected(booster, spec, frame)
    for scoring in (single, chunked):
        result = run_in_warehouse(warehouse, scoring)
        got = result.column("score").to_numpy()[np.argsort(result.column("row_id").to_numpy())]
        np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE)
    tables = warehouse.execute_native(
        "select table_schema || '.' || table_name from information_schema.tables"
    )
    assert [t for (t,) in tables if t.startswith("scratch.")] == []  # chunks dropped


def _one_split_model(decision_type: int, threshold: float, cat: str = "") -> lgb.Booster:
    """A hand-written one-split model (model-file format v4): every decision rule combination,
    whether or not training would pick it. decision_type bits: 1 categorical, 2 default_left,
    (missing_type << 2) with None 0, Zero 1, NaN 2 (include/LightGBM/tree.h)."""
    cat_lines = f"cat_boundaries=0 1\ncat_threshold={cat}\n" if cat else ""
    text = f"""tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=cross_entropy
feature_names=x y
feature_infos=[-10:10] [-10:10]

Tree=0
num_leaves=2
num_cat={1 if cat else 0}
split_feature=0
split_gain=1
threshold={threshold!r}
decision_type={decision_type}
left_child=-1
right_child=-2
leaf_value=0.25 -0.5
leaf_weight=1 1
leaf_count=1 1
internal_value=0
internal_weight=0
internal_count=2
{cat_lines}is_linear=0
shrinkage=1


end of trees
"""
    return lgb.Booster(model_str=text)


PROBES = [None, 0.0, -0.0, 1e-40, -1e-40, K_ZERO_THRESHOLD, -K_ZERO_THRESHOLD, 2 * K_ZERO_THRESHOLD,
          -2 * K_ZERO_THRESHOLD, 0.5, -0.5, 1.0, -1.0, 1e300, -1e300, float("inf"), float("-inf")]  # fmt: skip


@pytest.mark.parametrize("missing_type", [0, 1, 2], ids=["None", "Zero", "NaN"])
@pytest.mark.parametrize("default_left", [False, True])
@pytest.mark.parametrize("threshold", [-0.5, 0.5, 0.0, K_ZERO_THRESHOLD, -K_ZERO_THRESHOLD])
def test_every_numerical_decision_rule(
    missing_type: int, default_left: bool, threshold: float
) -> None:
    booster = _one_split_model((missing_type << 2) | (2 if default_left else 0), threshold)
    node = booster.dump_model()["tree_info"][0]["tree_structure"]
    assert (node["missing_type"], node["default_left"]) == (
        ["None", "Zero", "NaN"][missing_type],
        default_left,
    )
    values = [
        *PROBES,
        threshold,
        float(np.nextafter(threshold, np.inf)),
        float(np.nextafter(threshold, -np.inf)),
    ]
    frame = _probe_rows(values)
    nan_row = pd.DataFrame({"row_id": [len(values)], "x": [np.nan], "y": [0.0]})  # NaN, not NULL
    spec = _spec(_num("x"), _num("y"))
    got, _ = _score_sql(booster, spec, frame)
    np.testing.assert_allclose(got, _expected(booster, spec, frame), rtol=0, atol=TOLERANCE)
    got_nan, _ = _score_sql(booster, spec, nan_row)
    np.testing.assert_allclose(
        got_nan, FittedModel(booster, spec).predict(nan_row), rtol=0, atol=TOLERANCE
    )


@pytest.mark.parametrize("default", [None, 2.7, -0.5, -1.5, 1e12])
def test_categorical_decision_rule_with_defaults(default: float | None) -> None:
    booster = _one_split_model(1, 0.0, cat=str(0b10110))  # categories 1, 2, 4 go left
    node = booster.dump_model()["tree_info"][0]["tree_structure"]
    assert node["threshold"] == "1||2||4"
    vocabulary = ["a", "b", "c", "d", "e", "f"]
    spec = _spec(_cat("x", vocabulary, default=default), _num("y"))
    frame = pd.DataFrame(
        {"row_id": np.arange(9), "x": [*vocabulary, None, "zzz", "B"], "y": np.zeros(9)}
    )
    _assert_parity(booster, spec, frame)


def test_no_statement_uses_an_alias_its_own_select_list_defines() -> None:
    """BigQuery refuses a SELECT list that reads a column alias it defines itself ("Unrecognized
    name"), which DuckDB accepts: every reference to a feature column `_f<j>` must come from
    the FROM clause of its statement, in one statement and in every chunk."""
    import sqlglot
    from sqlglot import exp

    rng = np.random.default_rng(3)
    x = rng.random((400, 4))
    spec = FeatureSpec([FeatureDef(f"x{j}", "numeric") for j in range(4)])
    booster = lgb.train({"objective": "cross_entropy", "num_leaves": 7, "verbosity": -1, "min_data_in_leaf": 5},
                        lgb.Dataset(x, (rng.random(400) < x[:, 0]).astype(float), feature_name=spec.names), 20)  # fmt: skip
    for max_chars in (10**7, 3_000):
        plan = compile_model(booster, spec, source="d.t", keys=["k"], max_query_chars=max_chars,
                                      chunk_table_prefix="d.chunk")  # fmt: skip
        assert (len(plan.steps) > 2) == (max_chars < 10**7)
        for step in plan.steps:
            for select in sqlglot.parse_one(step.sql, read="bigquery").find_all(exp.Select):
                defined = {e.alias for e in select.expressions if e.alias}
                used = {c.name for e in select.expressions for c in e.find_all(exp.Column)}
                assert not defined & used & {f"_f{j}" for j in range(4)}, step.sql[:300]
