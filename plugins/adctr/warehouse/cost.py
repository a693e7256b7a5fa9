"""What a BigQuery query costs: the billing rule, the per-DAG budget, an offline estimate.

On-demand BigQuery bills the logical bytes of the columns a query references, "rounded up to
the nearest MB, with a minimum 10 MB data processed per table referenced by the query, and
with a minimum 10 MB data processed per query" (https://cloud.google.com/bigquery/pricing,
on-demand compute). A dry run (free) reports the bytes processed and the referenced tables,
not the bytes per table, so `billed_upper_bound` takes the worst case of the rounding over
every split of the total between the tables. `maximumBytesBilled` set to the bare estimate
fails with "... or higher required" (DESIGN.md, BigQuery cost): every job gets that bound
plus growth headroom, capped at its DAG's budget, and a query whose bound exceeds the budget
fails before it runs.

The offline estimate (for `make sql-check` on DuckDB) applies BigQuery's logical sizes per
value (https://cloud.google.com/bigquery/docs/storage_overview#data_type_sizes: INT64, FLOAT64,
DATE, TIMESTAMP 8 bytes; BOOL 1; NUMERIC 16; STRING 2 + UTF-8 bytes; NULL 0) to the columns
each table reference actually uses (sqlglot qualify + projection pushdown) over the
partitions its filter on the partition column selects.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from adctr.core.errors import ConfigError, PermanentError
from adctr.warehouse.base import WarehouseError

MB = 1024 * 1024  # BigQuery's on-demand units are binary (MiB, TiB)
MIN_PER_TABLE = 10 * MB
MIN_PER_QUERY = 10 * MB

_UNITS = {
    "": 1,
    "b": 1,
    "kib": 1024,
    "mib": MB,
    "gib": 1024**3,
    "tib": 1024**4,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
}

# Logical bytes per non-NULL value (STRING adds its UTF-8 length).
LOGICAL_BYTES = {
    "INT64": 8,
    "FLOAT64": 8,
    "DATE": 8,
    "TIMESTAMP": 8,
    "DATETIME": 8,
    "TIME": 8,
    "BOOL": 1,
    "NUMERIC": 16,
    "STRING": 2,
    "BYTES": 2,
}


class QueryOverBudget(PermanentError, WarehouseError):
    """A query would bill more than its DAG's per-query budget; it was not run."""


def parse_bytes(value: int | str) -> int:
    """`10 GiB`, `500 MB`, `1048576` -> bytes (config values)."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2).lower() not in _UNITS:
        raise ConfigError(f"not a byte size: {value!r} (use e.g. '10 GiB' or '500 MB')")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def human(n: int) -> str:
    """Bytes in binary units, as BigQuery's console shows them."""
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", MB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n:,} B"


def _round_up_mb(n: int) -> int:
    return math.ceil(n / MB) * MB


def billed_bytes(per_table: dict[str, int]) -> int:
    """What on-demand BigQuery bills when it knows the bytes of each referenced table."""
    tables = sum(max(MIN_PER_TABLE, _round_up_mb(b)) for b in per_table.values())
    return max(MIN_PER_QUERY, tables) if per_table else 0


def billed_upper_bound(processed: int, tables: int) -> int:
    """The most BigQuery can bill for `processed` bytes spread over `tables` tables.

    Per table the bill is max(10 MB, ceil_MB(b)) <= max(10 MB, b + 1 MB), a convex function,
    so the sum over tables is largest when one table holds every byte and the others hold
    nearly none (10 MB each).
    """
    tables = max(tables, 1)
    return max(
        MIN_PER_QUERY,
        _round_up_mb(max(MIN_PER_TABLE, processed + MB)) + (tables - 1) * MIN_PER_TABLE,
    )


@dataclass(frozen=True)
class CostPolicy:
    """`bigquery.cost` in config/warehouse.yaml."""

    budgets: dict[str, int]  # per-query bytes-billed budget by DAG id; "default" for the rest
    growth_headroom: float = 0.1  # data may grow between the dry run and the job

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "CostPolicy":
        budgets = {str(k): parse_bytes(v) for k, v in (cfg.get("query_budget") or {}).items()}
        if "default" not in budgets:
            raise ConfigError(
                "config/warehouse.yaml bigquery.cost.query_budget needs a `default` entry"
            )
        return cls(budgets, float(cfg.get("growth_headroom", 0.1)))

    def budget_for(self, dag_id: str) -> int:
        """The DAG's budget; a branch variant's DAG (`<base>__<variant>`) has its own entry,
        else `variants`, else its base DAG's: each variant is guarded query by query as main is."""
        if dag_id in self.budgets:
            return self.budgets[dag_id]
        base, _, variant = dag_id.partition("__")
        if variant:
            return self.budgets.get("variants", self.budgets.get(base, self.budgets["default"]))
        return self.budgets["default"]

    def max_bytes_billed(self, processed: int, tables: int, dag_id: str, source: str) -> int:
        """`maximumBytesBilled` for a job whose dry run processed `processed` bytes over `tables`
        tables; raises QueryOverBudget (before anything runs) when even that exceeds the budget."""
        bound = billed_upper_bound(processed, tables)
        budget = self.budget_for(dag_id)
        if bound > budget:
            raise QueryOverBudget(
                f"{source} would bill up to {human(bound)} (dry run: {human(processed)} processed "
                f"over {tables} table(s)), over the {dag_id!r} budget of {human(budget)} per query "
                f"(config/warehouse.yaml bigquery.cost.query_budget); narrow its partition filter "
                f"or raise the budget"
            )
        return min(budget, _round_up_mb(math.ceil(bound * (1 + self.growth_headroom))))


# --- offline estimate over the embedded DuckDB -------------------------------------------


class NativeWarehouse(Protocol):
    def execute_native(self, sql: str, params: Any = None) -> list[tuple]: ...


@dataclass
class TableScan:
    """What one query reads of one table: columns, and the filter that prunes partitions."""

    table_id: str
    columns: set[str] = field(default_factory=set)
    partition_filters: list[str] = field(
        default_factory=list
    )  # DuckDB SQL; "true" = all partitions


@dataclass(frozen=True)
class OfflineEstimate:
    per_table: dict[str, int]

    @property
    def processed(self) -> int:
        return sum(self.per_table.values())

    @property
    def billed(self) -> int:
        return billed_bytes(self.per_table)


def _schema_mapping(schemas: Any) -> dict[str, dict[str, dict[str, str]]]:
    """sqlglot's schema mapping (dataset -> table -> column -> type) of TableSchemas."""
    mapping: dict[str, dict[str, dict[str, str]]] = {}
    for schema in schemas:
        mapping.setdefault(schema.dataset, {})[schema.table] = {
            c.name: c.type for c in schema.columns
        }
    return mapping


def table_scans(sql: str) -> dict[str, TableScan]:
    """Per project table: the columns the query uses and its partition filters (BigQuery SQL in,
    DuckDB predicates out). Unused CTE/subquery projections are pruned first, as BigQuery does."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.pushdown_projections import pushdown_projections
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import traverse_scope

    from adctr.core import table_schemas

    known = dict(table_schemas.all_schemas())
    parsed = sqlglot.parse_one(sql, read="bigquery")
    for table in parsed.find_all(exp.Table):  # a branch variant's scoped tables: their table's schema
        if "__" in table.db and f"{table.db}.{table.name}" not in known:
            scoped = table_schemas.get_schema(f"{table.db}.{table.name}")
            known[scoped.table_id] = scoped
    tree = qualify(parsed, schema=_schema_mapping(known.values()), dialect="bigquery", validate_qualify_columns=False)
    tree = pushdown_projections(tree)
    scans: dict[str, TableScan] = {}
    for scope in traverse_scope(tree):
        for alias, source in scope.sources.items():
            if not isinstance(source, exp.Table) or f"{source.db}.{source.name}" not in known:
                continue
            schema = known[f"{source.db}.{source.name}"]
            scan = scans.setdefault(schema.table_id, TableScan(schema.table_id))
            scan.columns |= {c.name for c in scope.columns if c.table == alias}
            where = scope.expression.args.get("where")
            conjuncts = (
                list(where.this.flatten())
                if where and isinstance(where.this, exp.And)
                else ([where.this] if where else [])
            )
            pruning = [
                c
                for c in conjuncts
                if (cols := list(c.find_all(exp.Column)))
                and all(col.table == alias and col.name == schema.partition_field for col in cols)
            ]
            predicate = (
                " and ".join(f"({_unqualified(c).sql('duckdb')})" for c in pruning)
                if pruning
                else "true"
            )
            scan.partition_filters.append(predicate)
    return scans


def _unqualified(node: Any) -> Any:
    from sqlglot import exp

    node = node.copy()
    for col in node.find_all(exp.Column):
        col.set("table", None)
    return node


def _size_sql(name: str, bq_type: str) -> str:
    quoted = f'"{name}"'
    if bq_type == "STRING":
        return f"2 * count({quoted}) + coalesce(sum(strlen({quoted})), 0)"
    if bq_type not in LOGICAL_BYTES:
        raise WarehouseError(f"no logical size for BigQuery type {bq_type}")
    return f"{LOGICAL_BYTES[bq_type]} * count({quoted})"


def estimate_on_duckdb(
    sql: str, query_params: dict[str, Any], warehouse: NativeWarehouse
) -> OfflineEstimate:
    """Bytes BigQuery would process for `sql` if its tables held the DuckDB warehouse's rows."""
    from adctr.core import table_schemas

    per_table: dict[str, int] = {}
    for table_id, scan in sorted(table_scans(sql).items()):
        schema = table_schemas.get_schema(table_id)  # a variant's scoped copy too
        columns = [c for c in schema.columns if c.name in scan.columns]
        if not columns:
            per_table[table_id] = 0
            continue
        sizes = " + ".join(_size_sql(c.name, c.type) for c in columns)
        where = " or ".join(f"({p})" for p in scan.partition_filters)
        params = {k: v for k, v in query_params.items() if f"${k}" in where}
        rows = warehouse.execute_native(
            f'select {sizes} from "{schema.dataset}"."{schema.table}" where {where}', params or None
        )
        per_table[table_id] = int(rows[0][0] or 0) if rows else 0
    return OfflineEstimate(per_table)


def sql_file_of(schema_path: Path | None, table_id: str) -> str:
    """The SQL file that builds a table, as messages name it (relative to the project)."""
    from adctr.core import settings

    path = (
        schema_path.with_suffix(".sql")
        if schema_path
        else settings.sql_dir() / f"{table_id.replace('.', '/')}.sql"
    )
    try:
        return str(path.relative_to(settings.project_root()))
    except ValueError:
        return str(path)
