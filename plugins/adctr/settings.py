"""Project paths and configuration files, resolved one way for DAGs, CLIs and tests."""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml


class ConfigError(RuntimeError):
    """A configuration file or setting is missing or invalid."""


def project_root() -> Path:
    """Repository root: ADCTR_PROJECT_ROOT, else two levels above this package."""
    env = os.environ.get("ADCTR_PROJECT_ROOT")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2]


def sql_dir() -> Path:
    return Path(os.environ.get("ADCTR_SQL_DIR", project_root() / "sql"))


def expectations_dir() -> Path:
    return Path(os.environ.get("ADCTR_EXPECTATIONS_DIR", project_root() / "expectations"))


def config_dir() -> Path:
    return Path(os.environ.get("ADCTR_CONFIG_DIR", project_root() / "config"))


def var_dir() -> Path:
    """Local state (embedded warehouse, landing files, artifacts, Airflow home)."""
    return Path(os.environ.get("ADCTR_VAR_DIR", project_root() / "var"))


def resolve_var_path(value: str | os.PathLike[str]) -> Path:
    path = Path(value)
    return path if path.is_absolute() else var_dir() / path


@lru_cache(maxsize=None)
def _load_yaml(path: str, mtime: float) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
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
    """The serving variant (git branch) this deployment trains for."""
    return os.environ.get("ADCTR_VARIANT") or str(load_config("pipeline").get("variant", "main"))


def git_commit() -> str:
    """The deployed code's commit (ADCTR_GIT_COMMIT, else `git rev-parse HEAD`), for lineage."""
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
