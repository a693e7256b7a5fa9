"""Airflow pools this project needs: one per ad medium, sized in config/media.yaml, and
`warehouse` for every task that queries the warehouse, sized per backend in
config/warehouse.yaml (`pool_slots`: 1 for the single-writer DuckDB file, more on BigQuery).

`python -m adctr.orchestration.pools FILE` writes them in the format of `airflow pools import FILE`
(used by the local environment and the system tests; on Composer run the same import).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from adctr.core import settings


def pool_name(medium: str) -> str:
    return f"admedia__{medium}"


WAREHOUSE_POOL = "warehouse"


def warehouse_pool_slots() -> int:
    """`pool_slots` of the selected backend (ADCTR_WAREHOUSE, else config/warehouse.yaml)."""
    cfg = settings.load_config("warehouse")
    return int((cfg.get(settings.selected_backend("warehouse")) or {}).get("pool_slots", 1))


def pool_spec() -> dict[str, dict[str, Any]]:
    media = settings.load_config("media").get("media") or []
    spec = {
        pool_name(m["name"]): {
            "slots": int(m.get("pool_slots", 2)),
            "description": f"concurrent report pulls against {m['name']} (config/media.yaml)",
            "include_deferred": False,
        }
        for m in media
    }
    spec[WAREHOUSE_POOL] = {
        "slots": warehouse_pool_slots(),
        "description": "tasks querying the warehouse at once (pool_slots in config/warehouse.yaml)",
        "include_deferred": False,
    }
    return spec


def write_pool_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pool_spec(), indent=2))
    return path


def import_pools(env: dict[str, str]) -> None:
    """Create/update the pools in the Airflow metadata DB of `env` (via the CLI)."""
    import subprocess

    path = write_pool_file(Path(env["AIRFLOW_HOME"]) / "pools.json")
    airflow_bin = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(airflow_bin), "pools", "import", str(path)], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"airflow pools import failed:\n{result.stdout}\n{result.stderr}")


if __name__ == "__main__":
    print(write_pool_file(Path(sys.argv[1] if len(sys.argv) > 1 else "pools.json")))
