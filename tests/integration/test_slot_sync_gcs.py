"""serving_slot_sync through Airflow on the production storage path: the Google provider's
GCSHook against a real GCS API emulator (fake-gcs-server)."""

from __future__ import annotations

import pytest
import yaml
from adctr.core.storage import get_store, open_store
from adctr.local.airflow_runner import DagRunFailed
from adctr.release import artifacts, slots
from adctr.serving.reader import VersionReader

from tests.helpers import tiny_model_files

ELIGIBLE = {"blessed": True, "promotion": {"eligible": True, "why": "scheduled run on the newest data"}}


def test_slot_sync_dag_on_gcs(runner, gcs_airflow_backend, config_copy, isolated_var) -> None:  # noqa: ANN001
    store = get_store("artifact")
    files = tiny_model_files()
    for model in ("ctr", "cvr"):
        artifacts.publish(store, model, "main", files, ELIGIBLE)
        artifacts.publish(store, model, "main", files, {**ELIGIBLE, "blessed": False})
    reader = VersionReader(open_store(gcs_airflow_backend), "serving/cvr0")
    assert reader.poll() == {}

    outcome = runner.run("serving_slot_sync", None, conf={"retention_dry_run": True})
    assert outcome.state == "success"
    assert slots.current(store, "cvr0") == {"model": "cvr", "variant": "main", "version": 1}
    assert sorted(reader.poll()) == [1]
    assert [r["to"]["version"] for r in slots.audit_log(store)] == [1, 1]

    # A slot naming a variant nothing was published for fails the run and moves no slot.
    cfg = yaml.safe_load((config_copy / "slots.yaml").read_text())
    cfg["slots"]["cvr1"] = {"model": "cvr", "variant": "exp-missing", "policy": "newest_blessed"}
    (config_copy / "slots.yaml").write_text(yaml.safe_dump(cfg))
    before = store.list("serving/")
    with pytest.raises(DagRunFailed, match="sync_slots"):
        runner.run("serving_slot_sync", None)
    assert store.list("serving/") == before
