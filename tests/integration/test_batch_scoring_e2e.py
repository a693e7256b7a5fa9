"""Batch scoring end to end on the embedded default: six days ingested and built, CTR and CVR
trained, both slots pinned to the new versions, then `batch_scoring` scores every combination
of every ad group's assets in DuckDB, keeps the top-k, judges the top-1 against the simulator's
truth (run summary), and a re-run replaces the partition."""

from __future__ import annotations

import numpy as np
import pytest
from adctr.core.storage import get_store
from adctr.model import contract
from adctr.orchestration import run_summary
from adctr.quality.results import dq_store
from adctr.release import artifacts, slots
from adctr.warehouse import get_warehouse

from tests.helpers import table_checksums
from tests.integration.conftest import HISTORY_DAYS as DAYS

RETRAIN_CONF = {"attribution_window_days": 1}


@pytest.fixture(scope="module")
def scored(runner, simulator, daily_history, tmp_path_factory):  # noqa: ANN001, ANN201
    var = tmp_path_factory.mktemp("scoring") / "var"
    daily_history.copy_into(var)  # the daily DAG's runs for DAYS
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADCTR_VAR_DIR", str(var))
        runner.run("ctr_cvr_retrain", DAYS[-1], conf=RETRAIN_CONF)
        for slot in ("ctr0", "cvr0"):
            runner.run("serving_slot_sync", None, conf={"action": "pin", "slot": slot, "version": 1,
                                                        "reason": "integration test of batch scoring"})  # fmt: skip
        run = runner.run("batch_scoring", DAYS[-1])
        yield run, simulator.state.world


def test_every_combination_is_scored_with_each_slot_version_like_booster_predict(scored) -> None:  # noqa: ANN001
    run, world = scored
    day = DAYS[-1]
    assets = world.asset_table(day).to_pandas()
    per_group = assets.groupby(["ad_group_id", "asset_type"]).size().unstack(fill_value=0)
    combinations = int((per_group["HEADLINE"] * per_group["DESCRIPTION"] * per_group["IMAGE"]).sum())
    store = get_store("artifact")
    with get_warehouse() as wh:
        candidates = wh.query_arrow("select * from scoring.candidates where scoring_date = @d", {"d": day}).to_pandas()
        scores = wh.query_arrow("select * from scoring.combination_scores where scoring_date = @d", {"d": day}).to_pandas()
        best = wh.query_arrow("select * from scoring.best_combinations where scoring_date = @d", {"d": day}).to_pandas()
    assert len(candidates) == combinations  # one scoring context in config/scoring.yaml
    assert len(scores) == 2 * combinations and set(scores["slot"]) == {"ctr0", "cvr0"}
    keys = ["medium", "device", "ad_group_id", "headline_asset_id", "description_asset_id", "image_asset_id"]
    for slot, model in (("ctr0", "ctr"), ("cvr0", "cvr")):
        manifest, files = artifacts.verify_files(store, slots.slot_prefix(slot), 1)
        fitted = contract.load_model(files["model.txt"].decode(), files["feature_spec.json"].decode())
        mine = scores[scores["slot"] == slot].merge(candidates, on=keys, suffixes=("", "_c"))
        assert len(mine) == combinations and set(mine["model"]) == {model} and set(mine["version"]) == {1}
        np.testing.assert_allclose(mine["score"].to_numpy(), fitted.predict(mine), rtol=0, atol=1e-9)
    top_k = 3  # config/scoring.yaml
    sizes = per_group["HEADLINE"] * per_group["DESCRIPTION"] * per_group["IMAGE"]
    assert len(best) == 2 * int(np.minimum(sizes, top_k).sum())
    assert (best.groupby(["slot", "ad_group_id"])["score_rank"].min() == 1).all()


def test_run_summary_reports_the_truth_and_a_rerun_replaces_the_partition(scored, runner) -> None:  # noqa: ANN001
    run, _ = scored
    summary = run_summary.read(dq_store(), "batch_scoring", run.run_id)
    assert summary["tasks"]["failed"] == []
    truth = {r["slot"]: r for r in summary["scoring"]["truth"]}
    assert set(truth) == {"ctr0", "cvr0"}
    for r in truth.values():
        assert 0 < r["random_share_of_best"] < 1 and 0 < r["model_top1_share_of_best"] <= 1
    text = run_summary.render_markdown(summary)
    assert "Batch scoring" in text and "model top-1" in text
    with get_warehouse() as wh:
        before = {t: c for t, c in table_checksums(wh).items() if t.startswith("scoring.")}
    runner.run("batch_scoring", DAYS[-1])
    with get_warehouse() as wh:
        after = {t: c for t, c in table_checksums(wh).items() if t.startswith("scoring.")}
    assert after == before and all(dupes == 0 for (_, _, dupes) in after.values())
