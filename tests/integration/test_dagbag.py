"""Every DAG file imports cleanly and fast, and carries what operators rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
PROBE = """
import json, sys
from airflow.models import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"errors": {k: v[-500:] for k, v in bag.import_errors.items()},
                  "dags": sorted(bag.dag_ids),
                  "seconds": [s.duration.total_seconds() for s in bag.dagbag_stats]}))
"""


def _parse_alone(path: str) -> dict:
    """Parse one file in a fresh interpreter (Airflow imported first, as a DAG processor has)."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, path], env=os.environ.copy(), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_each_dag_file_parses_without_errors_in_under_a_second() -> None:
    assert {p.stem for p in DAG_FILES} == {"ad_performance_daily", "ctr_cvr_retrain", "serving_slot_sync"}
    for path in DAG_FILES:
        result = _parse_alone(str(path))
        assert result["errors"] == {}, result["errors"]
        assert result["dags"] == [path.stem]  # dag_id = file stem
        assert result["seconds"] and max(result["seconds"]) < 1.0, (path.name, result["seconds"])


def test_dags_carry_docs_owners_tags_params_and_retries() -> None:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert not bag.import_errors
    for dag_id, dag in bag.dags.items():
        assert dag.doc_md and len(dag.doc_md) > 200, dag_id
        assert dag.tags and any(t.startswith("owner:") for t in dag.tags), dag_id
        assert dag.catchup is False and dag.params, dag_id
        for task in dag.tasks:
            assert task.owner in ("data-eng", "ml-eng"), (dag_id, task.task_id)
            assert task.retries >= 1, (dag_id, task.task_id)
            assert task.execution_timeout is not None, (dag_id, task.task_id)
