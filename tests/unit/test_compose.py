"""docker-compose.airflow.yml is consistent with the pinned requirements (checked offline:
no Docker engine runs on the project's machines)."""

from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.airflow.yml").read_text())


def test_stack_has_the_production_topology() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "airflow-init", "airflow-apiserver", "airflow-scheduler",
            "airflow-dag-processor", "airflow-triggerer"} <= set(services)  # fmt: skip
    workers = [s for s, spec in services.items() if spec.get("command") == "celery worker"]
    assert len(workers) == 2
    for name, spec in services.items():
        if name.startswith("airflow-"):
            env = spec["environment"]
            assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
            assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
            mounts = {v.split(":")[1] for v in spec["volumes"]}
            for folder in ("dags", "plugins", "sql", "expectations", "config", "training"):
                assert f"/opt/airflow/{folder}" in mounts, (name, folder)


def test_image_and_python_match_requirements() -> None:
    reqs = (ROOT / "requirements.txt").read_text()
    airflow_version = re.search(r"^apache-airflow==([\d.]+)$", reqs, re.M).group(1)
    build = _compose()["services"]["airflow-scheduler"]["build"]["dockerfile_inline"]
    assert f"FROM apache/airflow:{airflow_version}-python3.11" in build
    assert "requirements.txt" in build
