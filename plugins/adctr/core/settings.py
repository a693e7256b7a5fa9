"""Project paths and configuration files, resolved one way for DAGs, CLIs and tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from adctr.core.errors import ConfigError  # also raised as settings.ConfigError by config readers
from adctr.core.names import safe_name

# A variant deployment (see adctr.variants): the branch's own config/, sql/, expectations/ and
# training code, and VARIANT/GIT_COMMIT files, sharing state (var/, warehouse, stores) with main.
VARIANT_FILE = "VARIANT"
GIT_COMMIT_FILE = "GIT_COMMIT"
_deployment: ContextVar[Path | None] = ContextVar("adctr_deployment", default=None)


@contextlib.contextmanager
def deployment(root: str | os.PathLike[str] | None) -> Iterator[None]:
    """Read config, variant and commit from a variant deployment's folder (None = main)."""
    token = _deployment.set(Path(root) if root else None)
    try:
        yield
    finally:
        _deployment.reset(token)


def sanitize_variant(name: str) -> str:
    """A git branch name as a safe variant/path segment: `feat/Deeper trees` -> `feat-deeper-trees`."""
    safe = safe_name(name.strip().lower(), keep=".-", replacement="-", ascii_only=True, collapse=True)
    safe = safe.strip("-._")
    if not safe:
        raise ConfigError(f"variant {name!r} has no usable characters")
    return safe[:63]


def project_root() -> Path:
    """Repository root: ADCTR_PROJECT_ROOT, else the folder holding plugins/."""
    env = os.environ.get("ADCTR_PROJECT_ROOT")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[3]


def dags_folder() -> Path:
    """The Airflow dags folder of this deployment: ADCTR_DAGS_FOLDER (tests point it at a
    temporary copy so variant deployments never land in the repository), else dags/."""
    return Path(os.environ.get("ADCTR_DAGS_FOLDER", project_root() / "dags"))


def deployment_root() -> Path | None:
    """The variant deployment folder being read (None = main)."""
    return _deployment.get()


def _deployment_copy(folder: str) -> Path | None:
    """A variant deployment's own copy of `folder` (sql, expectations, config), if it has one."""
    root = _deployment.get()
    return root / folder if root is not None and (root / folder).is_dir() else None


def sql_dir() -> Path:
    return _deployment_copy("sql") or main_sql_dir()


def main_sql_dir() -> Path:
    """Production's SQL (what a variant's models are compared with), whatever is being read."""
    return Path(os.environ.get("ADCTR_SQL_DIR", project_root() / "sql"))


def expectations_dir() -> Path:
    return _deployment_copy("expectations") or main_expectations_dir()


def main_expectations_dir() -> Path:
    """Production's expectation suites, whatever is being read."""
    return Path(os.environ.get("ADCTR_EXPECTATIONS_DIR", project_root() / "expectations"))


def config_dir() -> Path:
    if (root := _deployment.get()) is not None:
        return root / "config"
    return main_config_dir()


def main_config_dir() -> Path:
    """Production's config (what a variant's config is compared with), whatever is being read."""
    return Path(os.environ.get("ADCTR_CONFIG_DIR", project_root() / "config"))


def var_dir() -> Path:
    """Local state (embedded warehouse, landing files, artifacts, Airflow home)."""
    return Path(os.environ.get("ADCTR_VAR_DIR", project_root() / "var"))


def resolve_var_path(value: str | os.PathLike[str]) -> Path:
    path = Path(value)
    return path if path.is_absolute() else var_dir() / path


# libyaml's loader when PyYAML was built with it (the wheels are): the same safe subset of YAML,
# about ten times faster than the pure-Python one. Every task process parses its DAG file, and
# a parse reads every table schema, so this is paid once per task.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(stream: Any) -> Any:
    """yaml.safe_load, with libyaml's C loader when it is available."""
    return yaml.load(stream, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader


@lru_cache(maxsize=None)
def _load_yaml(path: str, mtime: float) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = read_yaml(fh) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at top level")
    return data


def load_config(name: str) -> dict[str, Any]:
    """Load config/<name>.yaml (cached until the file changes)."""
    path = config_dir() / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"configuration file {path} does not exist")
    return _load_yaml(str(path), path.stat().st_mtime)


def variant() -> str:
    """The serving variant (git branch) this deployment trains for.

    A variant deployment's VARIANT file, else ADCTR_VARIANT, else `variant` in
    config/pipeline.yaml (`main` = production).
    """
    if (root := _deployment.get()) is not None:
        return sanitize_variant((root / VARIANT_FILE).read_text("utf-8"))
    return sanitize_variant(os.environ.get("ADCTR_VARIANT") or str(load_config("pipeline").get("variant", "main")))


def git_commit() -> str:
    """The deployed code's commit (ADCTR_GIT_COMMIT, else `git rev-parse HEAD`), for lineage."""
    if (root := _deployment.get()) is not None and (root / GIT_COMMIT_FILE).exists():
        return (root / GIT_COMMIT_FILE).read_text("utf-8").strip()
    if os.environ.get("ADCTR_GIT_COMMIT"):
        return os.environ["ADCTR_GIT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=project_root(), capture_output=True, text=True, check=True, timeout=10,
        )  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# Which engine each pluggable part runs on: environment variable, config file, choices (the
# first is the embedded default, chosen when nothing is configured).
BACKENDS = {
    "warehouse": ("ADCTR_WAREHOUSE", ("duckdb", "bigquery")),
    "storage": ("ADCTR_STORAGE", ("local", "gcs")),
}


def selected_backend(kind: str) -> str:
    """The backend of `kind` ('warehouse' or 'storage'): its ADCTR_* environment variable,
    else `backend` in config/<kind>.yaml, else the embedded default."""
    env, choices = BACKENDS[kind]
    backend = os.environ.get(env) or load_config(kind).get("backend") or choices[0]
    if backend not in choices:
        raise ConfigError(
            f"unknown {kind} backend {backend!r} ({env} or config/{kind}.yaml); "
            f"use {' or '.join(repr(c) for c in choices)}"
        )
    return backend

