"""`make airflow-ui`: the Airflow web UI on this project, embedded default, fixed local login.

Starts the ad-media simulator on a fixed loopback port and `airflow standalone` with the
project's DAGs, plugins and a project-local AIRFLOW_HOME (var/airflow). Login: admin / admin
(written into the SimpleAuthManager passwords file, never generated into a log).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from adctr.local import airflow_env as localenv
from adctr.local.demo import simulator_process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    with simulator_process() as sim_url:
        from adctr.local.airflow_runner import prepare

        prepare(sim_url, quiet=False)
        env = {
            **os.environ,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(args.port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{args.port}",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        print(
            f"Airflow UI: http://127.0.0.1:{args.port}  login {localenv.LOCAL_ADMIN_USER} / "
            f"{localenv.LOCAL_ADMIN_PASSWORD}  (Ctrl-C stops it)",
            flush=True,
        )
        try:
            return subprocess.call([str(Path(sys.executable).with_name("airflow")), "standalone"], env=env)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
