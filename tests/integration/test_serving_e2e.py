"""Serving end to end: main and a branch variant retrain side by side, the slot sync feeds
cvr0/cvr1, a running scoring service hot-loads them, a pin rolls a slot back, and serving
predictions equal training's."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml
from adctr.core import settings
from adctr.core.storage import get_store
from adctr.local.airflow_runner import DagRunFailed
from adctr.model.contract import load_model
from adctr.release import artifacts, slots
from adctr.variants import deployment as variants
from adctr.serving.instances import arrow_request_body, json_instances
from adctr.warehouse import get_warehouse

from tests.conftest import ROOT
from tests.helpers import branch_checkout, commit, scoring_service
from tests.integration.conftest import HISTORY_DAYS as DAYS
from training.config import model_config
from training.dataset import plan_examples

RETRAIN = {"attribution_window_days": 1}
PROMOTE = {**RETRAIN, "promote_reason": "e2e: operator promotes this run"}
BRANCH = "Exp/CVR-fewer-leaves"
VARIANT = "exp-cvr-fewer-leaves"
POLL_SECONDS = 1.0


@pytest.fixture
def variant_deployment(tmp_path: Path) -> Iterator[Path]:
    """A clone of this repo (under tmp_path) on a branch whose model config differs, deployed as
    a variant into the session's temporary dags folder: nothing is written into the repository."""
    checkout = branch_checkout(tmp_path / "branch-checkout", BRANCH)
    models = yaml.safe_load((checkout / "config/models.yaml").read_text())
    models["defaults"]["lightgbm"]["num_leaves"] = 4
    models["defaults"]["exclude_features"] = ["headline_length"]
    (checkout / "config/models.yaml").write_text(yaml.safe_dump(models))
    commit(checkout, "fewer leaves, no headline length")
    dags = settings.dags_folder()
    assert ROOT not in dags.resolve().parents, f"tests must not deploy into the repository's {dags}"
    folder = variants.deploy(checkout, dags, slot="cvr1")
    assert folder.name == VARIANT
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def service(isolated_var: Path, config_copy: Path, tmp_path: Path) -> Iterator[str]:
    with scoring_service(isolated_var / "artifacts", "ctr0,cvr0,cvr1", tmp_path / "service.log", POLL_SECONDS) as url:
        yield url


def _served(url: str, slot: str) -> tuple[str, str, int] | None:
    status = requests.get(f"{url}/v1/models/{slot}", timeout=5).json()
    if not status["versions"]:
        return None
    top = status["versions"][0]
    return top["model"], top["variant"], top["version"]


def _wait_served(url: str, slot: str, expected: tuple[str, str, int]) -> float:
    """Seconds until the running service serves `expected` in `slot`: within one poll interval
    of the sync run's end (plus a load allowance)."""
    started = time.monotonic()
    while _served(url, slot) != expected:
        assert time.monotonic() - started < POLL_SECONDS + 0.75, (slot, _served(url, slot), expected)
        time.sleep(0.05)
    return time.monotonic() - started


def test_variants_slots_service_pin_and_parity(  # noqa: PLR0915
    runner, simulator, daily_history, isolated_var, config_copy, variant_deployment, service  # noqa: ANN001
) -> None:
    slot_map = {
        "ctr0": {"model": "ctr", "variant": "main", "policy": "newest_blessed"},
        "cvr0": {"model": "cvr", "variant": "main", "policy": "newest_blessed"},
        "cvr1": {"model": "cvr", "variant": "main", "policy": "newest_blessed"},  # until a variant claims it
    }
    slots_yaml = {"slots": slot_map, "variant_slots": ["cvr1"], "retention": {"keep_versions": 5}}
    (config_copy / "slots.yaml").write_text(yaml.safe_dump(slots_yaml))
    daily_history.copy_into(isolated_var)  # the daily DAG's runs for DAYS
    store = get_store("artifact")
    sync = lambda **conf: runner.run("serving_slot_sync", DAYS[-1], conf=conf or None)  # noqa: E731

    # A manual run without promote_reason trains and publishes, but cannot feed a slot.
    runner.run("ctr_cvr_retrain", DAYS[-1], conf=RETRAIN)
    manifest = artifacts.verify(store, "cvr", "main", 1)
    assert manifest["promotion"]["eligible"] is False and "manual run" in manifest["promotion"]["why"]
    assert manifest["run_type"].endswith("manual") and manifest["snapshot_date"] == DAYS[-1].isoformat()
    dq = manifest["dq_results"]
    assert dq["training.cvr_examples"]["passed"] == 1 and dq["training.cvr_examples"]["validation_runs"]
    assert dq["raw.ad_performance"]["passed"] == len(DAYS) and not dq["raw.ad_performance"]["failed"]
    sync()
    assert slots.current(store, "cvr0") is None and slots.audit_log(store) == []

    # main (with a promote reason) and the branch variant retrain side by side.
    runner.run("ctr_cvr_retrain", DAYS[-1], conf=PROMOTE)
    runner.run(f"ctr_cvr_retrain__{VARIANT}", DAYS[-1], conf=PROMOTE)
    branch_manifest = artifacts.verify(store, "cvr", VARIANT, 1)
    assert branch_manifest["variant"] == VARIANT and branch_manifest["blessed"]
    assert branch_manifest["git_commit"] == (variant_deployment / "GIT_COMMIT").read_text().strip()
    branch_metrics = artifacts.read_json(store, "cvr", VARIANT, 1, "metrics.json")
    assert "headline_length" not in branch_metrics["training"]["features"]  # the branch's config

    # The branch's deployment claimed cvr1: the slot serves it once it has published.
    assert _served(service, "cvr0") is None
    sync()
    assert slots.current(store, "cvr0") == {"model": "cvr", "variant": "main", "version": 2}
    assert slots.current(store, "cvr1") == {"model": "cvr", "variant": VARIANT, "version": 1}
    _wait_served(service, "cvr0", ("cvr", "main", 2))
    _wait_served(service, "cvr1", ("cvr", VARIANT, 1))
    _wait_served(service, "ctr0", ("ctr", "main", 2))

    # Parity: the service's predictions for the holdout equal training's, also with extra
    # features and with optional features missing.
    cfg = model_config("cvr")
    with get_warehouse() as wh:
        holdout = plan_examples(wh, cfg, DAYS[-1]).frame("holdout")
    fitted = load_model(artifacts.read_file(store, "cvr", "main", 2, "model.txt").decode(),
                        artifacts.read_file(store, "cvr", "main", 2, "feature_spec.json").decode())  # fmt: skip
    instances = json_instances(holdout)
    for i, inst in enumerate(instances):
        inst["campaign_id"] = f"extra-{i}"
        if i % 3 == 0:
            inst.pop("creative_ctr_7d", None), inst.pop("industry", None)
    expected_frame = holdout.copy()
    expected_frame["creative_ctr_7d"] = expected_frame["creative_ctr_7d"].astype("float64")
    expected_frame.loc[expected_frame.index % 3 == 0, ["creative_ctr_7d", "industry"]] = None
    expected = fitted.predict(expected_frame)
    answer = requests.post(f"{service}/v1/models/cvr0:predict", json={"instances": instances}, timeout=60).json()
    assert (answer["model"], answer["variant"], answer["version"]) == ("cvr", "main", 2)
    assert len(answer["predictions"]) == len(holdout) > 50
    np.testing.assert_allclose(answer["predictions"], expected, rtol=0, atol=1e-9)
    arrow_body = arrow_request_body(expected_frame.assign(campaign_id="extra"))  # the large-batch shape
    answer = requests.post(f"{service}/v1/models/cvr0:predict", data=arrow_body, timeout=60,
                           headers={"Content-Type": "application/vnd.apache.arrow.stream"}).json()  # fmt: skip
    np.testing.assert_allclose(answer["predictions"], expected, rtol=0, atol=1e-9)
    branch = requests.post(f"{service}/v1/models/cvr1:predict", json={"instances": instances}, timeout=60).json()
    assert branch["variant"] == VARIANT and not np.allclose(branch["predictions"], expected)

    # The branch publishes again; the sync moves cvr1; a pin rolls it back on the next sync.
    runner.run(f"ctr_cvr_retrain__{VARIANT}", DAYS[-1], conf=PROMOTE)
    sync()
    _wait_served(service, "cvr1", ("cvr", VARIANT, 2))
    with pytest.raises(DagRunFailed):  # a pin to a version that does not exist changes nothing
        sync(action="pin", slot="cvr1", version=99, reason="operator typed a wrong version")
    assert slots.current(store, "cvr1")["version"] == 2
    sync(action="pin", slot="cvr1", version=1, reason="v2 over-predicts on feed placements")
    waited = _wait_served(service, "cvr1", ("cvr", VARIANT, 1))
    sync()  # the pin holds on later syncs
    assert slots.current(store, "cvr1")["version"] == 1
    log = slots.audit_log(store, "cvr1")
    assert [(r["from"] and r["from"]["version"], r["to"]["version"], r["action"]) for r in log] == [
        (None, 1, "sync"), (1, 2, "sync"), (2, 1, "pin")
    ]
    assert "over-predicts" in log[-1]["why"] and log[-1]["run_id"]
    assert requests.get(f"{service}/metrics", timeout=5).text.count('adctr_serving_loaded_version{slot="cvr1"} 1.0') == 1
    print(f"\nservice picked up the rollback {waited:.2f}s after the sync run ended (poll {POLL_SECONDS}s)")
