"""A LightGBM model as BigQuery SQL that scores rows where they are, with `FittedModel.predict`'s
values (to 1e-9; the same decisions, leaf values and summation order).

The SQL is written once, in BigQuery's dialect; the embedded warehouse runs its transpile
(`adctr.warehouse.bigquery_to_duckdb`), so DuckDB answers what BigQuery would. Three parts:
- features: `adctr.model.contract.transform` in SQL: categoricals (STRING) to their vocabulary
  index, unseen or NULL to missing (NULL); numerics cast to FLOAT64, NaN to missing; day_of_week
  from report_date with pandas' Monday = 0; a feature's `default` for missing; then what
  LightGBM's predictor does to a dense row before the trees see it: |x| <= kZeroThreshold
  (1e-35f) becomes 0.0 (only non-zeros are copied into its zeroed buffer);
- trees: one nested CASE per tree with `Tree::NumericalDecision` / `CategoricalDecision`'s
  rules (include/LightGBM/tree.h), summed left to right in tree order as `GBDT::PredictRaw` does;
- output: the objective's transform (cross_entropy or binary: sigmoid) and
  `contract.recalibrate` at the spec's negative sampling rate.

BigQuery refuses query text over 1,024K characters. A model that does not fit `max_query_chars`
is scored in steps: the first materialises the features with the raw sum of the first trees,
each next one adds its trees to that sum (`select * replace`), the last applies the output
transform. The running sum keeps LightGBM's summation order, so chunked scores equal the
one-statement ones exactly, and no join is needed (the keys need not be unique).
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adctr.core.errors import PermanentError
from adctr.model.contract import FeatureDef, FeatureSpec

if TYPE_CHECKING:
    import duckdb
    import lightgbm as lgb
    import pyarrow as pa

# LightGBM's kZeroThreshold is the float literal 1e-35f (include/LightGBM/meta.h), as a double.
K_ZERO_THRESHOLD: float = struct.unpack("f", struct.pack("f", 1e-35))[0]
BIGQUERY_MAX_QUERY_CHARS = 1_024_000
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TABLE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")  # dataset.table
RAW = "_raw"
PROBABILITY = "_p"
HOLE = "\x00"  # where a template takes its trees or its input relation


class ModelNotCompilable(PermanentError, ValueError):
    """The model (or the request) is outside what the SQL compiler reproduces exactly."""


@dataclass(frozen=True)
class Step:
    """One statement. `destination` set: materialise the SELECT there (replacing the table),
    e.g. run `ddl` (BigQuery and DuckDB accept it) or a query job with that destination table.
    `destination` None: the final SELECT giving keys + score."""

    sql: str
    destination: str | None = None

    @property
    def ddl(self) -> str:
        if self.destination is None:
            return self.sql
        return f"create or replace table {self.destination} as\n{self.sql}"


@dataclass(frozen=True)
class ScoringSql:
    steps: list[Step]
    keys: list[str]
    score_column: str

    @property
    def statements(self) -> list[str]:
        """BigQuery statements to run in order (chunks as CREATE OR REPLACE TABLE ... AS)."""
        return [s.ddl for s in self.steps]

    @property
    def final(self) -> str:
        """The SELECT of keys + score (read it, or use it as a partition's query)."""
        return self.steps[-1].sql

    @property
    def intermediate_tables(self) -> list[str]:
        """Tables the chunk steps write; the caller drops them after reading `final`."""
        return [s.destination for s in self.steps if s.destination is not None]


def compile_model(
    booster: lgb.Booster,
    spec: FeatureSpec,
    *,
    source: str,
    keys: list[str],
    max_query_chars: int,
    score_column: str = "score",
    chunk_table_prefix: str | None = None,
) -> ScoringSql:
    """SQL scoring `source` (a table id or a parenthesised subquery with every source column of
    `spec` and `keys`) with `FittedModel(booster, spec).predict`'s values.

    One SELECT if it fits in `max_query_chars`, else steps materialising
    `{chunk_table_prefix}_1`, `_2`, ... (a dataset-qualified table name prefix the caller owns)
    and a final SELECT; every statement (as `Step.ddl`) is at most `max_query_chars` long.
    """
    model = booster.dump_model()
    _check_model(model, spec)
    _check_names(keys, score_column, spec)
    output = _output_transform(model["objective"])
    trees = [_tree_sql(t["tree_structure"], spec) for t in model["tree_info"]]
    features = [_feature_sql(j, f) for j, f in enumerate(spec.features)]
    key_list = ", ".join(_quote(k) for k in keys)
    final_tail = _final_select(key_list, output, spec.negative_sampling_rate, score_column)

    prepared = f"select {key_list}, {', '.join(features)} from {source} as _src"
    single = final_tail.replace(
        HOLE, f"(select {key_list}, {_sum(trees)} as {RAW} from ({prepared}) as _features)"
    )
    if len(single) <= max_query_chars:
        return ScoringSql([Step(single)], list(keys), score_column)
    if chunk_table_prefix is None or not TABLE_ID.fullmatch(chunk_table_prefix):
        raise ModelNotCompilable(
            f"the model's SQL has {len(single)} characters, over max_query_chars={max_query_chars}: "
            f"chunking needs chunk_table_prefix as a table name ('dataset.table'), got {chunk_table_prefix!r}"
        )
    steps: list[Step] = []
    start = 0
    while start < len(trees):
        destination = f"{chunk_table_prefix}_{len(steps) + 1}"
        if steps:  # add this group's trees to the running sum, in tree order
            template = f"select * replace ({RAW} + {HOLE} as {RAW}) from {steps[-1].destination}"
        else:
            # The trees read the features from a subquery: BigQuery does not let a SELECT list
            # use an alias it defines (DuckDB does), and DuckDB plans it faster this way too.
            columns = ", ".join(f"_f{j}" for j in range(len(features)))
            template = f"select {key_list}, {columns}, {HOLE} as {RAW} from ({prepared}) as _features"
        budget = max_query_chars - len(Step(template, destination).ddl) + len(HOLE)
        end, used = start, -len(" + ")
        while end < len(trees) and used + len(" + ") + len(trees[end]) <= budget:
            used += len(" + ") + len(trees[end])
            end += 1
        if end == start:
            raise ModelNotCompilable(
                f"tree {start} alone needs {len(trees[start]) - budget + max_query_chars} characters "
                f"with its statement, over max_query_chars={max_query_chars}"
            )
        steps.append(Step(template.replace(HOLE, _sum(trees[start:end])), destination))
        start = end
    steps.append(Step(final_tail.replace(HOLE, str(steps[-1].destination))))
    longest = max(len(s.ddl) for s in steps)
    if longest > max_query_chars:
        raise ModelNotCompilable(
            f"a statement has {longest} characters, over max_query_chars={max_query_chars}"
        )
    return ScoringSql(steps, list(keys), score_column)


def run_duckdb(con: duckdb.DuckDBPyConnection, scoring: ScoringSql) -> pa.Table:
    """Keys + score on a DuckDB connection, each step through the project's BigQuery -> DuckDB
    transpile, chunks materialised as the embedded warehouse's `materialize` does; the
    intermediate tables are dropped afterwards."""
    from adctr.warehouse.duckdb_backend import transpile

    try:
        for step in scoring.steps[:-1]:
            assert step.destination is not None
            con.execute(f"create schema if not exists {step.destination.split('.')[0]}")
            con.execute(
                f"create or replace table {step.destination} as {transpile(step.sql, 'tree_sql chunk')}"
            )
        return con.sql(transpile(scoring.final, "tree_sql final")).to_arrow_table()
    finally:
        for table in scoring.intermediate_tables:
            con.execute(f"drop table if exists {table}")


def run_in_warehouse(warehouse: Any, scoring: ScoringSql) -> pa.Table:
    """Keys + score through a warehouse backend (`materialize` each chunk, read the final
    SELECT, drop the chunks), DuckDB or BigQuery alike."""
    try:
        for step in scoring.steps[:-1]:
            warehouse.materialize(step.destination, step.sql)
        return warehouse.query_arrow(scoring.final)
    finally:
        for table in scoring.intermediate_tables:
            warehouse.drop_table(table)


def _check_model(model: dict[str, Any], spec: FeatureSpec) -> None:
    if model.get("num_class", 1) != 1 or model.get("num_tree_per_iteration", 1) != 1:
        raise ModelNotCompilable(
            "only single-output models (one tree per iteration) compile to SQL"
        )
    if model.get("average_output"):
        raise ModelNotCompilable("random forest models (average_output) are not compiled")
    names = list(model.get("feature_names") or [])
    if names != spec.names:
        raise ModelNotCompilable(f"the model's features {names} are not the spec's {spec.names}")
    for f in spec.features:
        if f.derived_from and f.name != "day_of_week":
            raise ModelNotCompilable(f"no SQL derivation for {f.name}")
        if f.kind not in ("categorical", "numeric"):
            raise ModelNotCompilable(f"feature {f.name} has unknown kind {f.kind!r}")
    for i, tree in enumerate(model["tree_info"]):
        if any("leaf_coeff" in node for node in _nodes(tree["tree_structure"])):
            raise ModelNotCompilable(
                f"tree {i} is a linear tree; linear_tree models are not compiled"
            )


def _check_names(keys: list[str], score_column: str, spec: FeatureSpec) -> None:
    for name in [*keys, score_column]:
        if not IDENTIFIER.fullmatch(name):
            raise ModelNotCompilable(f"{name!r} is not a plain column name")
    reserved = {RAW, PROBABILITY, *(f"_f{j}" for j in range(len(spec.features)))}
    clash = sorted(reserved & {*keys, score_column})
    if clash or not keys:
        raise ModelNotCompilable(f"keys must be given and avoid the compiler's columns {clash}")
    for f in spec.features:
        if not IDENTIFIER.fullmatch(f.derived_from or f.name):
            raise ModelNotCompilable(
                f"source column {f.derived_from or f.name!r} is not a plain name"
            )


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(n[c] for c in ("left_child", "right_child") if c in n)
    return out


def _quote(name: str) -> str:
    return f"`{name}`"


def _float(x: float) -> str:
    """A FLOAT64 literal that reads back as exactly `x` (repr round-trips; always has . or e)."""
    x = float(x)
    if math.isinf(x):
        return "cast('inf' as float64)" if x > 0 else "cast('-inf' as float64)"
    if math.isnan(x):
        raise ModelNotCompilable("NaN in a model value")
    return repr(x)


def _string(value: str) -> str:
    from sqlglot import exp

    return exp.Literal.string(value).sql(dialect="bigquery")


def _predictor_value(x: float) -> float:
    """What LightGBM's dense-row copy makes of a finite value: |x| <= kZeroThreshold -> 0."""
    return 0.0 if abs(x) <= K_ZERO_THRESHOLD else x


def _feature_sql(j: int, f: FeatureDef) -> str:
    """Column `_f{j}`: the transformed feature, NULL = missing (LightGBM's NaN)."""
    column = _quote(f.derived_from or f.name)
    default = (
        None if f.default is None or math.isnan(f.default) else _predictor_value(float(f.default))
    )
    if f.kind == "categorical":
        if default is not None:
            # CategoricalDecision uses static_cast<int>(fval) (out of int range: negative -> right).
            default = float(math.trunc(default)) if abs(default) < 2**31 else -1.0
        whens = " ".join(f"when {_string(v)} then {i}.0" for i, v in enumerate(f.vocabulary))
        otherwise = "null" if default is None else _float(default)
        if not whens:
            return f"cast({otherwise} as float64) as _f{j}"
        return f"case {column} {whens} else {otherwise} end as _f{j}"
    if f.derived_from:  # day_of_week: BigQuery DAYOFWEEK is 1 = Sunday; pandas' is 0 = Monday
        value = f"cast(mod(extract(dayofweek from {column}) + 5, 7) as float64)"
    else:
        value = f"cast({column} as float64)"
    # NULL stays NULL through every branch (is_nan and the comparison are NULL, not true).
    cleaned = f"case when is_nan({value}) then null when abs({value}) <= {_float(K_ZERO_THRESHOLD)} then 0.0 else {value} end"
    if default is None:
        return f"{cleaned} as _f{j}"
    return f"coalesce({cleaned}, {_float(default)}) as _f{j}"


def _tree_sql(node: dict[str, Any], spec: FeatureSpec) -> str:
    if "split_index" not in node:
        return _float(node["leaf_value"])
    return (
        f"case when {_goes_left(node, spec)} then {_tree_sql(node['left_child'], spec)} "
        f"else {_tree_sql(node['right_child'], spec)} end"
    )


def _goes_left(node: dict[str, Any], spec: FeatureSpec) -> str:
    """The condition under which Tree::Decision sends the row left (NULL counts as false)."""
    f = f"_f{int(node['split_feature'])}"
    if node["decision_type"] == "==":
        # CategoricalDecision: NaN or a negative category -> right; left iff in the category set.
        # Feature values are whole numbers here (vocabulary indices, truncated defaults).
        cats = [int(c) for c in str(node["threshold"]).split("||")]
        return f"{f} in ({', '.join(str(c) for c in cats)})"
    if node["decision_type"] != "<=":
        raise ModelNotCompilable(f"unknown decision_type {node['decision_type']!r}")
    threshold = float(node["threshold"])
    default_left = bool(node["default_left"])
    missing_type = node["missing_type"]
    le = f"{f} <= {_float(threshold)}"
    if missing_type == "None":  # NaN -> 0.0, then the comparison
        return f"({le} or {f} is null)" if 0.0 <= threshold else le
    if missing_type == "Zero":  # NaN -> 0.0; IsZero -> default direction
        if default_left:
            return (
                f"({le} or {f} is null or {f} = 0.0)"
                if threshold < 0.0
                else f"({le} or {f} is null)"
            )
        return f"({le} and {f} != 0.0)" if 0.0 <= threshold else le
    if missing_type == "NaN":  # NaN -> default direction
        return f"({le} or {f} is null)" if default_left else le
    raise ModelNotCompilable(f"unknown missing_type {missing_type!r}")


def _sum(trees: list[str]) -> str:
    return " + ".join(trees)


def _output_transform(objective: str) -> str:
    """The objective's ConvertOutput of column _raw as SQL: the sigmoid written so
    EXP never overflows (BigQuery raises on overflow)."""
    parts = objective.split()
    name = parts[0] if parts else ""
    if name == "cross_entropy" or name == "xentropy":
        scale = 1.0
    elif name == "binary":
        params = dict(p.split(":", 1) for p in parts[1:] if ":" in p)
        scale = float(params.get("sigmoid", "1"))
    else:
        raise ModelNotCompilable(
            f"objective {objective!r} is not compiled: only cross_entropy and binary (sigmoid outputs)"
        )
    z = RAW if scale == 1.0 else f"({_float(scale)} * {RAW})"
    return f"if({z} >= 0.0, 1.0 / (1.0 + exp(-{z})), exp({z}) / (1.0 + exp({z})))"


def _final_select(key_list: str, output: str, rate: float | None, score_column: str) -> str:
    """Template over the relation (at HOLE) that has keys + _raw."""
    probability = f"select {key_list}, {output} as {PROBABILITY} from {HOLE} as _raw_scores"
    if not rate or rate >= 1:
        return probability.replace(f"as {PROBABILITY} from", f"as {score_column} from")
    recalibrated = f"{PROBABILITY} / ({PROBABILITY} + (1.0 - {PROBABILITY}) / {_float(rate)})"
    return f"select {key_list}, {recalibrated} as {score_column} from ({probability}) as _probabilities"
