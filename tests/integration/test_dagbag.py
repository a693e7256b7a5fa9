"""Every DAG file imports cleanly and fast, and carries what operators rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
# Airflow and the providers' Asset URI handlers are loaded first, as in a running DAG
# processor: creating the first Asset makes the ProvidersManager import every provider's URI
# handlers (~0.9 s here, GCSHook included), once per process, whatever the DAG does.
PROBE = """
import json, sys
from airflow.models import DagBag
from airflow.sdk import Asset
Asset(name="warm", uri="bigquery://p/d/t")
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
    assert {p.stem for p in DAG_FILES} == {
        "ad_performance_daily", "ctr_cvr_retrain", "serving_slot_sync", "batch_scoring", "abn_experiment",
    }  # fmt: skip
    for path in DAG_FILES:
        result = _parse_alone(str(path))
        assert result["errors"] == {}, result["errors"]
        assert result["dags"] == [path.stem]  # dag_id = file stem
        assert result["seconds"] and max(result["seconds"]) < 1.0, (path.name, result["seconds"])


def test_dag_policy_docs_owners_tags_params_retries_alerts_deadlines() -> None:
    """The DAG policy every DAG must meet (Composer/MWAA-style policy test)."""
    from adctr.orchestration.alerts import OpsAlertNotifier
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert not bag.import_errors
    for dag_id, dag in bag.dags.items():
        # Runbook: what it does, how to backfill, what a failure means and what to do.
        doc = (dag.doc_md or "").lower()
        assert len(doc) > 200 and "backfill" in doc and "fail" in doc, dag_id
        assert dag.tags and any(t.startswith("owner:") for t in dag.tags), dag_id
        assert dag.catchup is False and dag.max_active_runs >= 1, dag_id
        # Trigger form: every Param typed, titled and explained.
        assert dag.params, dag_id
        for name in dag.params:
            param = dag.params.get_param(name)
            assert param.schema.get("type") and param.schema.get("title") and param.description, (dag_id, name)
        # A missed deadline alerts through the notifier, in the triggerer (async path).
        (deadline,) = dag.deadline
        assert deadline.callback.path == "adctr.orchestration.alerts.OpsAlertNotifier", dag_id
        for task in dag.tasks:
            where = (dag_id, task.task_id)
            assert task.owner in ("data-eng", "ml-eng"), where
            assert task.retries >= 1 and task.retry_exponential_backoff, where
            assert task.execution_timeout is not None, where
            assert any(isinstance(cb, OpsAlertNotifier) for cb in task.on_failure_callback or []), where
            # Warehouse writers and gates queue on the `warehouse` pool (config/warehouse.yaml).
            if task.task_id.startswith(("build__", "validate__", "load_raw")):
                assert task.pool == "warehouse", where
            # Lineage: each build produces its table's Asset; publishing produces the model's.
            if task.task_id.startswith("build__"):
                (table,) = [a.uri for a in task.outlets]
                assert table == "bigquery://adctr-local/" + task.task_id[len("build__"):].replace("__", "/"), where
                assert all(a.uri.startswith("bigquery://adctr-local/") for a in task.inlets), where
            if task.task_id.startswith("publish__"):
                (model,) = [a.uri for a in task.outlets]
                assert model.startswith("file://") and model.endswith(f"/models/{task.task_id[len('publish__'):]}/main"), where


def test_a_missed_deadline_alerts_through_airflows_callback_trigger(alert_webhook) -> None:  # noqa: ANN001
    """The deadline's callback, run by Airflow's own CallbackTrigger as the triggerer does."""
    import asyncio

    from airflow.models import DagBag
    from airflow.triggers.callback import CallbackTrigger

    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["ad_performance_daily"]
    (deadline,) = dag.deadline
    context = {"dag_run": {"dag_id": dag.dag_id, "dag_run_id": "scheduled__2026-11-20T21:00:00+00:00"}}
    trigger = CallbackTrigger(deadline.callback.path, {**deadline.callback.kwargs, "context": context})

    async def events() -> list:
        return [event.payload async for event in trigger.run()]

    states = [e["state"] for e in asyncio.run(events())]
    assert states == ["running", "success"], states
    (alert,) = alert_webhook
    assert alert["body"]["text"] == (
        "[adctr] run not finished 120 min after it was queued\nDAG ad_performance_daily, run scheduled__2026-11-20T21:00:00+00:00"
    )


def test_batch_scoring_runs_on_its_inputs_and_on_a_slot_that_moved() -> None:
    """batch_scoring is scheduled at its time, or when every table its SQL reads was rebuilt, or
    when the slot sync announces a slot it scores; the sync announces each slot separately."""
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    scoring, sync = bag.dags["batch_scoring"], bag.dags["serving_slot_sync"]
    def leaves(condition):  # noqa: ANN001, ANN202 - AssetAny / AssetAll hold `objects`
        return [a for o in condition.objects for a in leaves(o)] if hasattr(condition, "objects") else [condition]

    uris = {a.uri for a in leaves(scoring.timetable.asset_condition)}
    slot_uris = {u for u in uris if u.startswith("file://")}
    assert {u.rsplit("/", 1)[1] for u in slot_uris} == {"ctr0", "cvr0", "cvr1"}  # config/scoring.yaml slots
    assert {u.rsplit("/", 2)[1] for u in slot_uris} == {"serving"}
    tables = {u.split("/", 3)[3].replace("/", ".") for u in uris - slot_uris}
    from adctr.warehouse import elt

    assert tables == set(elt.all_sql_models()["scoring.candidates"].depends_on)
    assert {"staging.ad_performance", "staging.assets", "staging.creative_assets"} <= tables
    assert not any(t.startswith("scoring.") for t in tables)  # its own outputs never trigger it
    for slot in ("ctr0", "cvr0", "cvr1"):
        (announced,) = [a.uri for a in sync.get_task(f"announce__{slot}").outlets]
        assert announced in slot_uris and announced.endswith(f"/serving/{slot}")
    order = [t.task_id for t in scoring.topological_sort()]
    assert order.index("validate__scoring__candidates") < order.index("score_combinations") < order.index(
        "build__scoring__best_combinations"
    ) < order.index("evaluate_against_truth")


def test_the_experiment_loop_runs_after_batch_scoring_and_reads_out_after_its_gates() -> None:
    """abn_experiment runs at its time or when batch scoring rebuilt its best combinations;
    it submits after choosing (tracking ids first), and reads out after the delivery gates."""
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    loop = bag.dags["abn_experiment"]
    def leaves(condition):  # noqa: ANN001, ANN202 - AssetAny / AssetAll hold `objects`
        return [a for o in condition.objects for a in leaves(o)] if hasattr(condition, "objects") else [condition]

    assert [a.uri.split("/", 3)[3] for a in leaves(loop.timetable.asset_condition)] == ["scoring/best_combinations"]
    order = [t.task_id for t in loop.topological_sort()]
    assert order.index("load_experiments") < order.index("assign_units") < order.index("choose_creatives") < order.index(
        "submit_creatives"
    )
    assert order.index("choose_creatives") < order.index("validate__experiments__tracking_ids") < order.index(
        "submit_creatives"
    )
    assert order.index("choose_creatives") < order.index("build__experiments__unit_daily")
    assert order.index("validate__experiments__unit_totals") < order.index("read_out") < order.index("summarize")
