"""Table schemas: one `.yml` file per table under `sql/<dataset>/`, shared by both backends.

The same file creates the BigQuery table (partitioning, clustering, column modes) and the
DuckDB table, and types the Arrow batches that ingestion loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adctr.core import settings

if TYPE_CHECKING:
    import pyarrow as pa

# BigQuery type -> DuckDB type. Only the types the project uses; anything else is an error.
DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "FLOAT64": "DOUBLE",
    "BOOL": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMPTZ",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    mode: str = "NULLABLE"
    description: str = ""
    audit: bool = False  # records *when/how* a row arrived, not what it says

    @property
    def required(self) -> bool:
        return self.mode == "REQUIRED"


@dataclass(frozen=True)
class TableSchema:
    table_id: str  # "<dataset>.<table>"
    columns: tuple[Column, ...]
    partition_field: str
    cluster_by: tuple[str, ...] = ()
    description: str = ""
    owner: str = ""
    grain: str = ""
    unique_key: tuple[str, ...] = ()
    dag: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    variant: str | None = None  # set on a branch variant's scoped copy (BigQuery labels carry it)

    @property
    def dataset(self) -> str:
        return self.table_id.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.table_id.split(".", 1)[1]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def content_columns(self) -> list[str]:
        """Columns that carry the data itself (audit columns excluded): what idempotency compares."""
        return [c.name for c in self.columns if not c.audit]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.table_id} has no column {name!r}")

    def arrow_schema(self) -> "pa.Schema":
        import pyarrow as pa

        arrow_types = {
            "STRING": pa.string(),
            "INT64": pa.int64(),
            "FLOAT64": pa.float64(),
            "BOOL": pa.bool_(),
            "DATE": pa.date32(),
            "TIMESTAMP": pa.timestamp("us", tz="UTC"),
        }
        return pa.schema(
            [pa.field(c.name, arrow_types[c.type], nullable=not c.required) for c in self.columns]
        )

    def bigquery_schema(self) -> list[dict[str, str]]:
        return [
            {"name": c.name, "type": c.type, "mode": c.mode, "description": c.description}
            for c in self.columns
        ]

    def duckdb_columns_ddl(self) -> str:
        parts = []
        for c in self.columns:
            null = " not null" if c.required else ""
            parts.append(f'"{c.name}" {DUCKDB_TYPES[c.type]}{null}')
        return ", ".join(parts)


def _parse(table_id: str, data: dict[str, Any], path: Path) -> TableSchema:
    try:
        columns = tuple(
            Column(
                name=c["name"],
                type=str(c["type"]).upper(),
                mode=str(c.get("mode", "NULLABLE")).upper(),
                description=c.get("description", ""),
                audit=bool(c.get("audit", False)),
            )
            for c in data["columns"]
        )
        partition_field = data["partition_field"]
    except (KeyError, TypeError) as exc:
        raise settings.ConfigError(f"{path}: missing or malformed key {exc}") from exc
    unknown = sorted({c.type for c in columns} - DUCKDB_TYPES.keys())
    if unknown:
        raise settings.ConfigError(f"{path}: unsupported column types {unknown}")
    names = [c.name for c in columns]
    if partition_field not in names:
        raise settings.ConfigError(f"{path}: partition_field {partition_field!r} is not a column")
    return TableSchema(
        table_id=table_id,
        columns=columns,
        partition_field=partition_field,
        cluster_by=tuple(data.get("cluster_by") or ()),
        description=data.get("description", ""),
        owner=data.get("owner", ""),
        grain=data.get("grain", ""),
        unique_key=tuple(data.get("unique_key") or ()),
        dag=data.get("dag"),
        params=dict(data.get("params") or {}),
        path=path,
    )


@lru_cache(maxsize=None)
def _load_all(sql_root: str) -> dict[str, TableSchema]:
    root = Path(sql_root)
    schemas: dict[str, TableSchema] = {}
    for path in sorted(root.glob("*/*.yml")):
        table_id = f"{path.parent.name}.{path.stem}"
        with open(path, encoding="utf-8") as fh:
            schemas[table_id] = _parse(table_id, settings.read_yaml(fh) or {}, path)
    return schemas


def all_schemas() -> dict[str, TableSchema]:
    """Every table the project defines, keyed by "<dataset>.<table>"."""
    return _load_all(str(settings.sql_dir()))


def get_schema(table_id: str) -> TableSchema:
    """A table's schema; a branch variant's scoped copy (`<dataset>__<variant>.<table>`) has
    its table's schema under its own name."""
    schemas = all_schemas()
    dataset, _, table = table_id.partition(".")
    if table_id not in schemas and "__" in dataset and f"{dataset.split('__')[0]}.{table}" in schemas:
        return replace(schemas[f"{dataset.split('__')[0]}.{table}"], table_id=table_id)
    if table_id not in schemas:
        raise settings.ConfigError(
            f"no schema file for table {table_id!r} (expected sql/{table_id.replace('.', '/')}.yml)"
        )
    return schemas[table_id]
