"""The BigQuery -> DuckDB translation's fast path for a compiled model's CASE trees writes exactly
the text sqlglot's full translation writes (so scores stay bit-identical), takes every tree of a
compiled model, and leaves everything outside its grammar to sqlglot."""

from __future__ import annotations

import numpy as np
import pytest
from adctr.scoring.tree_sql import compile_model
from adctr.warehouse.bigquery_to_duckdb import UntranslatableSql, _case_trees, _translate, translate

from tests.unit.test_tree_sql import (
    K_ZERO_THRESHOLD,
    _cat,
    _categorical_world,
    _num,
    _numeric_world,
    _one_split_model,
    _spec,
    _train,
)


def _split_trees(booster) -> int:  # noqa: ANN001
    return sum("split_index" in t["tree_structure"] for t in booster.dump_model()["tree_info"])


def _assert_fast_and_exact(booster, spec, limits: tuple[int, ...]) -> None:  # noqa: ANN001
    for limit in limits:
        scoring = compile_model(booster, spec, source="(select * from ds.rows where d = @d)", keys=["row_id"],
                                max_query_chars=limit, chunk_table_prefix="scratch.part")  # fmt: skip
        taken = 0
        for step in scoring.steps:
            assert translate(step.sql) == _translate(step.sql, "<query>")
            taken += len(_case_trees(step.sql)[1])
        assert taken == _split_trees(booster)  # every tree with a split took the fast path


def test_compiled_models_translate_exactly_as_sqlglot_does() -> None:
    rng = np.random.default_rng(30)
    frame, label = _numeric_world(800, rng, nan_share=0.2, zero_share=0.2)
    spec = _spec(_num("x"), _num("y", default=0.5), rate=0.25)
    booster = _train(spec, frame, label, rounds=40)
    _assert_fast_and_exact(booster, spec, (10**6, 20_000))

    frame["x"] = frame["x"] * 1e250  # thresholds in exponent notation
    _assert_fast_and_exact(_train(spec, frame, label, rounds=10), spec, (10**6,))

    frame, label, vocabulary = _categorical_world(3000, 60, rng)
    spec = _spec(_cat("cat", vocabulary, default=2.0), _num("x"))
    booster = _train(spec, frame, label, max_cat_to_onehot=4, min_data_per_group=5, cat_smooth=1.0,
                     max_cat_threshold=64)  # fmt: skip
    _assert_fast_and_exact(booster, spec, (10**6, 15_000))


@pytest.mark.parametrize("decision_type", [0, 2, 4, 6, 8, 10])
@pytest.mark.parametrize("threshold", [-0.5, 0.0, K_ZERO_THRESHOLD, -K_ZERO_THRESHOLD, 1e300])
def test_every_numerical_decision_rule_translates_exactly(decision_type: int, threshold: float) -> None:
    booster = _one_split_model(decision_type, threshold)
    _assert_fast_and_exact(booster, _spec(_num("x"), _num("y")), (10**6,))


def test_a_categorical_rule_translates_exactly() -> None:
    booster = _one_split_model(1, 0.0, cat=str(0b10110))
    _assert_fast_and_exact(booster, _spec(_cat("x", ["a", "b", "c", "d", "e"]), _num("y")), (10**6,))


TREE = "case when (_f0 <= 0.5 or _f0 is null) then -0.25 else case when _f1 in (1, 2) then 1e-35 else 2.0 end end"


@pytest.mark.parametrize(
    ("sql", "fast"),
    [
        (f"select {TREE} as s from t", 1),
        ("select CASE WHEN (_f0 <= 0.5 OR _f0 IS NULL) THEN -0.25 ELSE 2.0 END as s from t", 1),
        (f"select * replace (_raw + {TREE} + {TREE} as _raw) from s.t", 2),
        ("select case when _f0 <= cast('-inf' as float64) then cast('inf' as float64) else -1.5e-07 end as s from t", 1),
        (f"select cast({TREE} as int64) as i from t", 1),  # ROUND, as for the FLOAT64 tree
        (f"select 1 / {TREE} as d from t", 1),  # the divisor is written twice: sqlglot's text
        (f"select '{TREE}' as s, \"{TREE}\" as t from t", 0),  # in strings
        (f"select 1 as n from t -- {TREE}\n", 0),  # in a comment
        (f"select 1 as n /* {TREE} */ from t", 0),
        ("select case when /* why */ _f0 <= 0.5 then 1.0 else 2.0 end as s from t", 0),
        ("select case when _F0 <= 0.5 then 1.0 else 2.0 end as s from t", 0),
        ("select case when _f0 <= 0.5 then cast('INF' as float64) else 2.0 end as s from t", 1),
        ("select case when _f0 <= 0.5 then 1 else 2 end as i from t", 0),  # INT64 leaves
        ("select case when x <= 0.5 then 1.0 else 2.0 end as s from t", 0),  # not a compiled column
        ("select case when t._f0 <= 0.5 then 1.0 else 2.0 end as s from t", 0),
        ("select case when _f0 is not null then 1.0 else 2.0 end as s from t", 0),
        ("select case when _f0 <= 1.0-0.5 then 1.0 else 2.0 end as s from t", 0),
        ("select case when _f0 <= 0.5 then 1.0 when _f0 <= 0.7 then 3.0 else 2.0 end as s from t", 0),
        ("select case when is_nan(_f0) then null else 1.0 end as s from t", 0),
        ("select case _f0 when 1.0 then 2.0 else 3.0 end as s from t", 0),
    ],
)
def test_outside_the_grammar_sqlglot_translates(sql: str, fast: int) -> None:
    assert len(_case_trees(sql)[1]) == fast
    assert translate(sql) == _translate(sql, "<query>")


def test_a_refusal_after_a_tree_names_the_same_line() -> None:
    sql = f"select\n{TREE.replace(' else ', chr(10) + ' else ')} as s,\nformat('%t', 12) as f\nfrom t"
    assert len(_case_trees(sql)[1]) == 1
    with pytest.raises(UntranslatableSql) as slow:
        _translate(sql, "model.sql")
    with pytest.raises(UntranslatableSql) as fast:
        translate(sql, "model.sql")
    assert str(fast.value) == str(slow.value) and fast.value.line == 5
