"""SQL models: one SELECT per `sql/<dataset>/<table>.sql`, its schema in the `.yml` beside it.

The model graph is derived from the files: a model depends on every project table its SQL
names, so adding a file adds a task in the right place and nobody hand-maintains edges.
Discovery is a cheap text scan (it runs at DAG parse time); tests check it agrees with a
full sqlglot parse of every file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from adctr.core import settings
from adctr.core import table_schemas as schemas
from adctr.core.errors import PermanentError


class SqlModelError(PermanentError, RuntimeError):
    """A SQL model is missing, malformed or failed to render."""


@dataclass(frozen=True)
class SqlModel:
    table_id: str
    sql_path: Path
    depends_on: tuple[str, ...]  # project tables this model reads
    dag: str | None

    @property
    def task_id(self) -> str:
        return "build__" + self.table_id.replace(".", "__")

    @property
    def schema(self) -> schemas.TableSchema:
        return schemas.get_schema(self.table_id)


def _referenced_tables(sql: str, known: set[str]) -> tuple[str, ...]:
    found = re.findall(r"`?\b([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\b`?", sql, flags=re.I)
    return tuple(sorted({f"{d}.{t}".lower() for d, t in found} & known))


@lru_cache(maxsize=None)
def _discover(sql_root: str) -> dict[str, SqlModel]:
    known = set(schemas.all_schemas())
    models: dict[str, SqlModel] = {}
    for path in sorted(Path(sql_root).glob("*/*.sql")):
        table_id = f"{path.parent.name}.{path.stem}"
        if table_id not in known:
            raise SqlModelError(f"{path} has no schema file {path.with_suffix('.yml')}")
        deps = tuple(d for d in _referenced_tables(path.read_text("utf-8"), known) if d != table_id)
        models[table_id] = SqlModel(table_id, path, deps, schemas.get_schema(table_id).dag)
    return models


def all_sql_models() -> dict[str, SqlModel]:
    return _discover(str(settings.sql_dir()))


def sql_models_for_dag(dag_id: str) -> list[SqlModel]:
    """The models a DAG builds, in dependency order."""
    return order_models(all_sql_models(), dag_id)


def order_models(models: dict[str, SqlModel], dag_id: str) -> list[SqlModel]:
    """`models` of `dag_id` in dependency order (upstream first, then by name)."""
    selected = {k: m for k, m in models.items() if m.dag == dag_id}
    ordered: list[SqlModel] = []
    state: dict[str, str] = {}

    def visit(key: str, path: tuple[str, ...]) -> None:
        if state.get(key) == "done":
            return
        if state.get(key) == "visiting":
            raise SqlModelError(f"dependency cycle: {' -> '.join(path + (key,))}")
        state[key] = "visiting"
        for dep in selected[key].depends_on:
            if dep in selected:
                visit(dep, path + (key,))
        state[key] = "done"
        ordered.append(selected[key])

    for key in sorted(selected):
        visit(key, ())
    return ordered


def upstream_tables(table_ids: list[str]) -> set[str]:
    """Every project table the given models read, directly or through other models."""
    models = all_sql_models()
    seen: set[str] = set()
    todo = [d for t in table_ids for d in models[t].depends_on]
    while todo:
        table = todo.pop()
        if table in seen:
            continue
        seen.add(table)
        if table in models:
            todo.extend(models[table].depends_on)
    return seen


class UpstreamNotReady(RuntimeError):
    """An earlier partition a model reads is not built yet although its source data is loaded
    (another run, e.g. of a parallel backfill, is still building it, or failed). Retryable."""


def days_read_back(model: SqlModel) -> int:
    """How many days before its report date a model reads (its `lookback_days`, `window_days`
    or longest `trailing_windows` param in the .yml; 0 = only its own date)."""
    p = model.schema.params
    spans = [p.get("lookback_days"), p.get("window_days"), max(p.get("trailing_windows") or [0])]
    return max(int(x) for x in spans if x) if any(spans) else 0


def upstream_gaps(model: SqlModel, day: date, warehouse: Any) -> list[str]:
    """Earlier partitions `model` reads for `day`, built by its own DAG, that are missing
    although their source partition is loaded: building now would read an incomplete window."""
    back = days_read_back(model)
    models = all_sql_models()
    counts: dict[str, dict[date, int]] = {}  # one count query per table, however often it is read

    def partitions(table_id: str) -> dict[date, int]:
        if table_id not in counts:
            try:
                counts[table_id] = warehouse.partition_counts(schemas.get_schema(table_id))
            except Exception:  # noqa: BLE001 - not created yet: nothing built
                counts[table_id] = {}
        return counts[table_id]

    gaps: set[str] = set()
    for table in model.depends_on:
        if not back or table not in models or models[table].dag != model.dag:
            continue
        built = partitions(table)
        for source in inputs_of([table]):
            for d, n in partitions(source).items():
                if n and day - timedelta(days=back) <= d < day and not built.get(d):
                    gaps.add(f"{table} {d.isoformat()} ({source} has {n} rows)")
    return sorted(gaps)


def require_upstream(model: SqlModel, day: date, warehouse: Any) -> None:
    """Raise UpstreamNotReady (retryable) when `upstream_gaps` finds partitions not built yet.

    Parallel runs (backfills) must not build a trailing window over a partition another run
    has not built yet: the task waits (retries with backoff) instead of reading a partial window.
    """
    gaps = upstream_gaps(model, day, warehouse)
    if gaps:
        raise UpstreamNotReady(
            f"{model.table_id} for {day} reads earlier partitions that are not built yet: {'; '.join(gaps[:8])}"
            f"{' ...' if len(gaps) > 8 else ''}. Another run is probably still building them and this "
            "task retries; if it keeps failing, re-run those report dates first."
        )


def param_overrides(table_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """DAG Params that override a SQL model's own params (same name, non-null value)."""
    declared = schemas.get_schema(table_id).params
    return {k: params[k] for k in declared if params.get(k) is not None}


def days_spanned(dag_id: str, params: dict[str, Any]) -> int:
    """The longest window plus attribution delay any of `dag_id`'s models reads, with the
    run's Param overrides applied: how far back its inputs must be sound."""
    return max(
        int(p.get("window_days", 0)) + int(p.get("attribution_window_days", 0))
        for p in ({**m.schema.params, **param_overrides(m.table_id, params)} for m in sql_models_for_dag(dag_id))
    )


def newest_input_date(dag_id: str, warehouse: Any) -> date | None:
    """The newest report date loaded into every input table of `dag_id`'s SQL models."""
    inputs = inputs_of([m.table_id for m in sql_models_for_dag(dag_id)])
    newest = [max(warehouse.partition_counts(schemas.get_schema(t)), default=None) for t in inputs]
    return None if not newest or None in newest else min(newest)


def inputs_of(table_ids: list[str]) -> list[str]:
    """Tables the given models read, directly or through each other, that they do not build."""
    return sorted(upstream_tables(table_ids) - set(table_ids))


def render(model: SqlModel, report_date: date, params: dict[str, Any] | None = None) -> str:
    """Render a model's Jinja for one date. Values reach the SQL as query parameters (@ds)."""
    import jinja2

    # The loader serves `{% import "macros/....jinja" %}`: expressions models share (sql/macros).
    loader = jinja2.FileSystemLoader(str(settings.sql_dir()))
    env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False)
    merged = {k: _config_value(v) for k, v in {**model.schema.params, **(params or {})}.items()}
    source = model.sql_path.read_text("utf-8")
    context = {
        "ds": report_date.isoformat(),
        "params": merged,
        "fx_rates": settings.load_config("currencies")["jpy_per_unit"],
    }
    try:
        return env.from_string(source).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise SqlModelError(f"{display_path(model.sql_path)}:{exc.lineno}: template error: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        raise SqlModelError(
            f"{display_path(model.sql_path)}:{_line_of(source, _undefined_name(exc))}: template error: "
            f"{exc.message}"
        ) from exc


def _config_value(value: Any) -> Any:
    """A param declared as `{from_config: <file>.<key>}` in a .yml takes that config value, so a
    setting other code reads too (e.g. config/scoring.yaml `contexts`) has one source."""
    if isinstance(value, dict) and set(value) == {"from_config"}:
        name, _, key = str(value["from_config"]).partition(".")
        config = settings.load_config(name)
        if key not in config:
            raise SqlModelError(f"config/{name}.yaml has no key {key!r} (a SQL model reads it)")
        return config[key]
    return value


def query_params(report_date: date) -> dict[str, Any]:
    """The query parameters every model may use."""
    return {"ds": report_date}


def display_path(path: Path) -> str:
    """A path relative to the project root, or to a branch variant's deployment (the path in
    the branch), where possible (for messages)."""
    for root in (settings.deployment_root(), settings.project_root()):
        if root is not None and path.is_relative_to(root):
            return str(path.relative_to(root))
    return str(path)


def _undefined_name(exc: Exception) -> str:
    found = re.findall(r"'([^']+)'", str(exc))
    return found[-1] if found else ""


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle and needle in line:
            return number
    return 1


def check(model: SqlModel, rendered: str) -> None:
    """Fail before anything is written: syntax, unknown tables, untranslatable constructs.

    Errors name the file and the line (of the rendered SQL, quoted, as Jinja may shift lines).
    """
    import sqlglot
    from sqlglot import exp

    where = display_path(model.sql_path)
    lines = rendered.splitlines()
    try:
        tree = sqlglot.parse_one(rendered, read="bigquery")
    except sqlglot.errors.ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        line = int(err.get("line") or 1)
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        raise SqlModelError(
            f"{where}:{line}: syntax error: {err.get('description', exc)} (near `{text}`)"
        ) from exc
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    known = set(schemas.all_schemas())
    for table in tree.find_all(exp.Table):
        if table.name in ctes and not table.db:
            continue
        ref = f"{table.db}.{table.name}" if table.db else table.name
        if ref not in known:
            raise SqlModelError(
                f"{where}:{_line_of(rendered, table.name)}: reads table `{ref}`, which no schema "
                f"file defines (sql/<dataset>/<table>.yml)"
            )
    from adctr.warehouse.bigquery_to_duckdb import UntranslatableSql, translate

    try:
        translate(rendered, source=where)
    except UntranslatableSql as exc:  # names the file, the line and the construct
        raise SqlModelError(str(exc)) from exc


def redirect_tables(sql: str, mapping: dict[str, str], source: str = "<query>") -> str:
    """`sql` with each project table in `mapping` read from its mapped name instead (a branch
    variant's scoped tables), the text otherwise unchanged; checked with a full parse that no
    mapped table is still read under its own name."""
    import sqlglot
    from sqlglot import exp

    if not mapping:
        return sql
    names = "|".join(re.escape(t) for t in sorted(mapping, key=len, reverse=True))
    # string literals and comments are matched first and kept as they are
    kept = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|--[^\n]*|#[^\n]*|/\*.*?\*/"
    pattern = re.compile(rf"({kept})|(?<![\w.])`?({names})`?(?![\w])", flags=re.I | re.S)
    out = pattern.sub(lambda m: m.group(1) or mapping[m.group(2).lower()], sql)
    read = {f"{t.db}.{t.name}".lower() for t in sqlglot.parse_one(out, read="bigquery").find_all(exp.Table) if t.db}
    left = sorted(read & set(mapping))
    if left:
        raise SqlModelError(f"{source}: could not redirect {left} to the variant's tables")
    return out


def build(
    table_id: str,
    report_date: date,
    warehouse: Any,
    params: dict[str, Any] | None = None,
    labels: Any = None,
    scope: Any = None,
) -> int:
    """Materialise one model's partition for a date; returns rows written.

    `scope` (a branch variant's `adctr.variants.plan.VariantPlan`): the model is written to its
    variant-scoped table, and reads the tables the variant rebuilds from theirs.
    """
    from adctr.warehouse.base import JobLabels

    sql, target = checked_query(table_id, report_date, params, scope)
    return warehouse.replace_partition_from_query(
        target,
        report_date,
        sql,
        labels or JobLabels(task_id=all_sql_models()[table_id].task_id),
        query_params=query_params(report_date),
    )


def checked_query(
    table_id: str, report_date: date, params: dict[str, Any] | None = None, scope: Any = None
) -> tuple[str, schemas.TableSchema]:
    """The SELECT that builds one model's partition (rendered, checked, redirected to a
    variant's scoped tables) and the table it writes."""
    models = all_sql_models()
    if table_id not in models:
        raise SqlModelError(f"no SQL model {table_id!r} (expected sql/{table_id.replace('.', '/')}.sql)")
    model = models[table_id]
    sql = render(model, report_date, params)
    check(model, sql)
    if scope is None:
        return sql, model.schema
    return redirect_tables(sql, scope.mapping(), display_path(model.sql_path)), scope.physical_schema(table_id)
