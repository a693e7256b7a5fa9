"""Which tables a variant rebuilds: dbt's `state:modified+` with `--defer`, on this project's files.

A model is *modified* when its own inputs differ from production's: its `.sql`, its `.yml`,
a macro file it imports, a config value it reads (`from_config`, `config/currencies.yaml`), or
when production has no such model. Everything downstream of a modified model, within what the
variant's retrain DAG needs (its training sets and their upstream), is *rebuilt* into
variant-scoped tables, `<dataset>__<variant>.<table>`; every other table is read from
production. Production's tables are never a variant's destination.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from adctr.core import settings
from adctr.core import table_schemas as schemas
from adctr.core.table_schemas import TableSchema

TRAINING_DAG = "ctr_cvr_retrain"
_IMPORTS = re.compile(r"{%-?\s*(?:import|from|include)\s+[\"']([^\"']+)[\"']")


def scoped_table_id(table_id: str, variant: str) -> str:
    """`features.creative_daily` -> `features__<variant>.creative_daily` (variant names use
    `-`, dataset names `_`)."""
    dataset, table = table_id.split(".", 1)
    return f"{dataset}__{variant.replace('-', '_').replace('.', '_')}.{table}"


def _sha(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _config_values(params: dict[str, Any], config_dir: Path) -> str:
    """The config values a model's params read (`{from_config: file.key}`), and the FX rates
    every render sees, as text: a branch changing them changes the model's SQL."""
    values: dict[str, Any] = {}
    names = {"currencies"} | {
        str(v["from_config"]).partition(".")[0]
        for v in params.values()
        if isinstance(v, dict) and set(v) == {"from_config"}
    }
    for name in sorted(names):
        path = config_dir / f"{name}.yaml"
        values[name] = settings.read_yaml(path.read_text("utf-8")) if path.exists() else None
    picked = {"currencies": (values.get("currencies") or {}).get("jpy_per_unit")}
    for key, v in params.items():
        if isinstance(v, dict) and set(v) == {"from_config"}:
            file, _, item = str(v["from_config"]).partition(".")
            picked[key] = (values.get(file) or {}).get(item)
    return json.dumps(picked, sort_keys=True, default=str)


def own_fingerprint(sql_root: Path, config_dir: Path, table_id: str) -> str | None:
    """A hash of everything a model's SQL is made of in one checkout (None: no such model)."""
    sql = sql_root / f"{table_id.replace('.', '/')}.sql"
    yml = sql.with_suffix(".yml")
    if not sql.exists():
        return None
    text = sql.read_text("utf-8")
    macros = [
        (sql_root / name).read_text("utf-8") if (sql_root / name).exists() else f"missing {name}"
        for name in sorted(set(_IMPORTS.findall(text)))
    ]
    params = dict((settings.read_yaml(yml.read_text("utf-8")) or {}).get("params") or {}) if yml.exists() else {}
    return _sha(text, yml.read_text("utf-8") if yml.exists() else "", *macros, _config_values(params, config_dir))


@dataclass(frozen=True)
class VariantPlan:
    """What a variant deployment builds itself, and where every table it reads lives."""

    variant: str
    modified: dict[str, str]  # model -> why it counts as modified
    rebuild: tuple[str, ...]  # models the variant builds, in dependency order
    fingerprints: dict[str, str] = field(default_factory=dict)  # rebuilt model -> its SQL with its rebuilt upstream

    def physical(self, table_id: str) -> str:
        """Where the variant reads or writes `table_id`: its own scoped table if it rebuilds it."""
        return scoped_table_id(table_id, self.variant) if table_id in self.rebuild else table_id

    def physical_schema(self, table_id: str) -> TableSchema:
        schema = schemas.get_schema(table_id)
        if table_id not in self.rebuild:
            return schema
        return replace(schema, table_id=self.physical(table_id), variant=self.variant)

    def mapping(self) -> dict[str, str]:
        return {t: self.physical(t) for t in self.rebuild}


def deployment_plan(deployment: str | Path | None) -> VariantPlan | None:
    """The plan of the variant deployed in `deployment`; None for main (no deployment folder)."""
    return plan_for(Path(deployment)) if deployment is not None else None


def plan_for(deployment: Path) -> VariantPlan:
    """The plan of the variant deployed in `deployment` against production's current files."""
    return _plan(str(deployment), *_stamp(deployment))


def _stamp(deployment: Path) -> tuple[int, ...]:
    """What invalidates a cached plan: the files it is computed from, and their times (a
    hundred stat calls; the plan is asked for at every parse and task of the variant)."""
    roots = (deployment / "sql", deployment / "config", settings.main_sql_dir(), settings.main_config_dir())
    stats = [p.stat() for root in roots for p in sorted(root.rglob("*")) if p.is_file()]
    return (len(stats), *(s.st_mtime_ns for s in stats), *(s.st_size for s in stats))


@lru_cache(maxsize=16)
def _plan(deployment_dir: str, *_stamp: int) -> VariantPlan:
    from adctr.warehouse import elt

    deployment = Path(deployment_dir)
    main_sql, main_config = settings.main_sql_dir(), settings.main_config_dir()
    with settings.deployment(deployment):
        variant = settings.variant()
        models = elt.all_sql_models()
        sql_root, config_dir = settings.sql_dir(), settings.config_dir()
    modified: dict[str, str] = {}
    own: dict[str, str] = {}
    for table_id in models:
        mine = own_fingerprint(sql_root, config_dir, table_id)
        own[table_id] = mine or ""
        theirs = own_fingerprint(main_sql, main_config, table_id)
        if theirs is None:
            modified[table_id] = "new model (production has no such SQL file)"
        elif mine != theirs:
            modified[table_id] = _why(sql_root, main_sql, config_dir, main_config, table_id)
    training = [t for t, m in models.items() if m.dag == TRAINING_DAG]
    needed = set(training)
    todo = list(training)
    while todo:
        for dep in models[todo.pop()].depends_on:
            if dep in models and dep not in needed:
                needed.add(dep)
                todo.append(dep)
    downstream = set(modified)
    changed = True
    while changed:  # modified+: everything reading a modified or rebuilt model
        changed = False
        for table_id, model in models.items():
            if table_id not in downstream and downstream & set(model.depends_on):
                downstream.add(table_id)
                changed = True
    order = [m.table_id for dag in _dags(models) for m in elt.order_models(models, dag)]
    rebuild = tuple(t for t in order if t in downstream and t in needed)
    prints: dict[str, str] = {}
    for table_id in rebuild:
        ups = [prints[d] for d in models[table_id].depends_on if d in prints]
        prints[table_id] = _sha(own[table_id], *ups)
    return VariantPlan(variant, {t: modified[t] for t in sorted(modified)}, rebuild, prints)


def _dags(models: dict[str, Any]) -> list[str]:
    """DAG ids of the models, upstream DAGs first (the daily DAG feeds the retrain DAG)."""
    return sorted({m.dag for m in models.values() if m.dag}, key=lambda d: (d == TRAINING_DAG, d))


def _why(sql_root: Path, main_sql: Path, config_dir: Path, main_config: Path, table_id: str) -> str:
    rel = table_id.replace(".", "/")
    reasons = []
    for suffix, what in ((".sql", "SQL"), (".yml", "schema file")):
        a, b = sql_root / f"{rel}{suffix}", main_sql / f"{rel}{suffix}"
        if (a.read_text("utf-8") if a.exists() else None) != (b.read_text("utf-8") if b.exists() else None):
            reasons.append(f"{what} changed")
    if not reasons:
        reasons.append("a macro or config value it reads changed")
    return ", ".join(reasons)
