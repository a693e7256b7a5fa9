"""The project-local Airflow environment (embedded default): one place that defines it.

Used by the demo, the tests and `make airflow-ui`. `python -m adctr.local.airflow_env` prints it as
shell `export` lines. The local admin login is fixed (admin / admin) and written into the
SimpleAuthManager passwords file, so nobody has to dig a generated password out of a log.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from pathlib import Path

from adctr.core import settings
from adctr.orchestration import preload

LOCAL_ADMIN_USER = "admin"
LOCAL_ADMIN_PASSWORD = "admin"  # local embedded default only; production uses real auth
SIMULATOR_CONN_ID = "admedia_simulator"


def airflow_home() -> Path:
    return settings.var_dir() / "airflow"


def _jwt_secret(home: Path) -> str:
    """A stable per-checkout secret so all local Airflow components accept each other's tokens."""
    path = home / "jwt_secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(48))
        path.chmod(0o600)
    return path.read_text().strip()


def local_parallelism() -> int:
    """Task slots of the local LocalExecutor: one per CPU this process may use, at least 2.
    Airflow's default (32) starts 32 worker processes, whatever the machine."""
    return max(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2)


def write_passwords_file(home: Path) -> Path:
    path = home / "simple_auth_manager_passwords.json"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({LOCAL_ADMIN_USER: LOCAL_ADMIN_PASSWORD}))
    return path


def simulator_connection_uri(base_url: str) -> str:
    token = settings.load_config("simulator")["token"]
    host_port = base_url.split("://", 1)[1]
    host, _, port = host_port.partition(":")
    return json.dumps(
        {"conn_type": "http", "host": host, "port": int(port), "schema": "http", "password": token}
    )


def airflow_env(simulator_url: str | None = None) -> dict[str, str]:
    root = settings.project_root()
    home = airflow_home()
    env = {
        "ADCTR_PROJECT_ROOT": str(root),
        "ADCTR_VAR_DIR": str(settings.var_dir()),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder()),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{LOCAL_ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
            home / "simple_auth_manager_passwords.json"
        ),
        "AIRFLOW__API_AUTH__JWT_SECRET": _jwt_secret(home),
        "AIRFLOW__API__SECRET_KEY": _jwt_secret(home),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        # An explicit AIRFLOW__CORE__PARALLELISM in the shell wins.
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM") or str(local_parallelism()),
        # LocalExecutor workers start from a forkserver that has imported the libraries every
        # task needs (adctr.orchestration.preload): a task's DAG-file parse 1.6 s -> 0.3 s.
        "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
        "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": ",".join(("airflow.executors.local_executor", *preload.LIBRARIES)),
        "PYTHONPATH": os.pathsep.join([str(root / "plugins"), str(root)]),
    }
    if simulator_url:
        env[f"AIRFLOW_CONN_{SIMULATOR_CONN_ID.upper()}"] = simulator_connection_uri(simulator_url)
    return env


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--simulator-url", help="base URL of a running simulator")
    args = parser.parse_args()
    write_passwords_file(airflow_home())
    for key, value in airflow_env(args.simulator_url).items():
        print(f"export {key}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
