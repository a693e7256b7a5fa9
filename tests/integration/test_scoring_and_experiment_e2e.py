"""Batch scoring and the ABn loop end to end on the embedded default, through Airflow.

Six days ingested and built, CTR and CVR trained, the slots pinned; `batch_scoring` scores
every combination of every ad group's assets in DuckDB with each slot's version, keeps the
top-k, judges the top-1 against the simulator's truth, and a re-run replaces the partition.
On top of it, a three-arm experiment
(random control, champion cvr0, challenger cvr1: main's version until a branch variant
claims the slot)
over two serving days. Batch scoring -> assignment -> tracking ids -> submission to the
simulator with the ids as labels -> delivery in the medium's reports -> ingestion through the
daily DAG -> delivery joined back by tracking id -> the read-out, its decisions and its plot,
next to the simulator's truth. A re-run changes nothing, and a bad table fails naming the
field."""

from __future__ import annotations

import copy
import shutil
from datetime import timedelta

import numpy as np
import pytest
import yaml
from adctr.core import settings
from adctr.core.storage import get_store
from adctr.experiments import config, tracking
from adctr.local.experiment_loop import experiment_entry, run_loop, set_clock
from adctr.model import contract
from adctr.orchestration import run_summary
from adctr.quality.results import dq_store
from adctr.release import artifacts, slots
from adctr.simulator.submissions import SubmissionStore
from adctr.warehouse import get_warehouse

from tests.helpers import table_checksums
from tests.integration.conftest import HISTORY_DAYS as DAYS

# One serving day, read out the next (several days and looks: tests/unit/test_experiments.py,
# tests/integration/test_experiment_statistics.py and the demo).
START = END = DAYS[-1] + timedelta(days=1)
RETRAIN = {"attribution_window_days": 1}
SLOTS = ("ctr0", "cvr0", "cvr1")  # config/scoring.yaml


@pytest.fixture(scope="module")
def loop(runner, simulator, daily_history, tmp_path_factory):  # noqa: ANN001, ANN201
    root = tmp_path_factory.mktemp("experiment")
    var, cfg = root / "var", root / "config"
    daily_history.copy_into(var)
    shutil.copytree(settings.project_root() / "config", cfg)
    table = yaml.safe_load((cfg / "experiments.yaml").read_text())
    table["experiments"] = [experiment_entry("three-arm", START, END, pre_period_days=5)]
    (cfg / "experiments.yaml").write_text(yaml.safe_dump(table, sort_keys=False))
    # small models: what this module checks does not depend on their size (long models in
    # several statements: tests/unit/test_batch_scoring.py), and every scoring run is faster
    models = yaml.safe_load((cfg / "models.yaml").read_text())
    models["defaults"]["num_boost_round"] = 60
    (cfg / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    state = simulator.state
    token = state.token
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADCTR_VAR_DIR", str(var))
        mp.setenv("ADCTR_CONFIG_DIR", str(cfg))
        try:
            retrain = runner.run("ctr_cvr_retrain", DAYS[-1], conf=RETRAIN)
            versions = {m["model"]: m["version"] for m in artifacts.published_versions(get_store("artifact"), retrain.run_id)}
            # the slots pinned in config/slots.yaml, one sync; the challenger slot serves main's
            # version until a branch variant claims it
            slots_cfg = yaml.safe_load((cfg / "slots.yaml").read_text())
            for slot in SLOTS:
                slots_cfg["slots"][slot]["policy"] = {"pinned": versions[slot[:3]], "reason": "e2e: the scored slots"}
            (cfg / "slots.yaml").write_text(yaml.safe_dump(slots_cfg, sort_keys=False))
            runner.run("serving_slot_sync", None)
            days = run_loop(runner, simulator.url, token, START, END, DAYS[-1])
            yield {"days": days, "world": state.world, "versions": versions, "cfg": cfg, "state": state}
        finally:
            set_clock(simulator.url, token, None)
            state.submissions = SubmissionStore(state.submissions.config)  # later tests see no submissions


def query(sql: str, **params) -> list[dict]:  # noqa: ANN003
    with get_warehouse() as wh:
        return wh.query_arrow(sql, params).to_pylist()


def test_every_combination_is_scored_with_each_slot_version_like_booster_predict(loop) -> None:  # noqa: ANN001
    day, world = DAYS[-1], loop["world"]
    assets = world.asset_table(day).to_pandas()
    per_group = assets.groupby(["ad_group_id", "asset_type"]).size().unstack(fill_value=0)
    combinations = int((per_group["HEADLINE"] * per_group["DESCRIPTION"] * per_group["IMAGE"]).sum())
    store = get_store("artifact")
    with get_warehouse() as wh:
        candidates = wh.query_arrow("select * from scoring.candidates where scoring_date = @d", {"d": day}).to_pandas()
        scores = wh.query_arrow("select * from scoring.combination_scores where scoring_date = @d", {"d": day}).to_pandas()
        best = wh.query_arrow("select * from scoring.best_combinations where scoring_date = @d", {"d": day}).to_pandas()
    assert len(candidates) == combinations  # one scoring context in config/scoring.yaml
    assert len(scores) == len(SLOTS) * combinations and set(scores["slot"]) == set(SLOTS)
    keys = ["medium", "device", "ad_group_id", "headline_asset_id", "description_asset_id", "image_asset_id"]
    for slot in SLOTS:
        model, version = slot[:3], loop["versions"][slot[:3]]
        manifest, files = artifacts.verify_files(store, slots.slot_prefix(slot), version)
        fitted = contract.load_model(files["model.txt"].decode(), files["feature_spec.json"].decode())
        mine = scores[scores["slot"] == slot].merge(candidates, on=keys, suffixes=("", "_c"))
        assert len(mine) == combinations and set(mine["model"]) == {model} and set(mine["version"]) == {version}
        np.testing.assert_allclose(mine["score"].to_numpy(), fitted.predict(mine), rtol=0, atol=1e-9)
    top_k = 3  # config/scoring.yaml
    sizes = per_group["HEADLINE"] * per_group["DESCRIPTION"] * per_group["IMAGE"]
    assert len(best) == len(SLOTS) * int(np.minimum(sizes, top_k).sum())
    assert (best.groupby(["slot", "ad_group_id"])["score_rank"].min() == 1).all()


def test_scoring_run_summary_reports_the_truth_and_a_rerun_replaces_the_partition(loop, runner) -> None:  # noqa: ANN001
    run = loop["days"][0].runs["batch_scoring"]
    summary = run_summary.read(dq_store(), "batch_scoring", run.run_id)
    assert summary["tasks"]["failed"] == []
    truth = {r["slot"]: r for r in summary["scoring"]["truth"]}
    assert set(truth) == set(SLOTS)
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


def test_every_unit_gets_its_arms_choice_with_a_unique_tracking_id_each_day(loop) -> None:  # noqa: ANN001
    assert all(r.state == "success" for day in loop["days"] for r in day.runs.values())
    ids = query("select * from experiments.tracking_ids order by serve_date, unit_id")
    units = sorted({r["ad_group_id"] for r in loop["world"].asset_table(START).to_pylist()})
    assert sorted({r["serve_date"] for r in ids}) == [START]
    assert sorted(r["unit_id"] for r in ids) == units  # every unit, once
    assert len({r["tracking_id"] for r in ids}) == len(ids)
    assert all(tracking.parse(r["tracking_id"])["arm"] == r["arm"] for r in ids)
    assert {r["arm"] for r in ids} == {"control", "champion", "challenger"}
    assigned = {(r["unit_id"], r["arm"]) for r in query("select * from experiments.assignments")}
    assert assigned == {(r["unit_id"], r["arm"]) for r in ids}
    best = query("select scoring_date, slot, ad_group_id, version, headline_asset_id, description_asset_id, image_asset_id "
                 "from scoring.best_combinations where score_rank = 1 and device = 'mobile'")  # fmt: skip
    top = {(b["scoring_date"], b["slot"], b["ad_group_id"]): b for b in best}
    for r in ids:
        combo = (r["headline_asset_id"], r["description_asset_id"], r["image_asset_id"])
        if r["slot"] == "random":
            assert r["version"] is None and r["score"] is None
            continue
        b = top[(r["scoring_date"], r["slot"], r["unit_id"])]
        assert combo == (b["headline_asset_id"], b["description_asset_id"], b["image_asset_id"])
        assert r["version"] == loop["versions"]["cvr"] and r["model"] == "cvr"


def test_delivery_carries_the_labels_back_and_joins_every_one(loop) -> None:  # noqa: ANN001
    labelled = query("select report_date, label, ad_group_id, sum(impressions) as imps, sum(clicks) as clicks "
                     "from staging.ad_performance where label is not null group by 1, 2, 3")  # fmt: skip
    ids = {r["tracking_id"]: r for r in query("select * from experiments.tracking_ids")}
    assert labelled and {r["label"] for r in labelled} == set(ids)  # every submission delivered, nothing else
    for r in labelled:
        assert ids[r["label"]]["serve_date"] == r["report_date"] and ids[r["label"]]["unit_id"] == r["ad_group_id"]
    daily = query("select * from experiments.unit_daily")
    assert all(r["experiment_id"] == "three-arm" and r["unit_mismatches"] == 0 for r in daily)
    assert sum(r["impressions"] for r in daily) == sum(r["imps"] for r in labelled)
    assert sum(r["clicks"] for r in daily) == sum(r["clicks"] for r in labelled)
    # the creatives are creatives of the medium too: its ads listing knows them
    creatives = query("select creative_id from staging.creative_assets where creative_id like '%-s%'")
    assert creatives


def test_the_read_out_decides_per_arm_with_intervals_truth_and_a_plot(loop) -> None:  # noqa: ANN001
    results = query("select * from experiments.results order by look_date, arm, metric")
    assert sorted({r["look_date"] for r in results}) == [START]
    assert {(r["arm"], r["metric"]) for r in results} == {(a, m) for a in ("champion", "challenger") for m in ("cvr", "ctr")}
    for r in results:
        assert r["ci_lower"] < r["lift"] < r["ci_upper"] and r["cuped"] is True and 0 <= r["srm_pvalue"] <= 1
    decisions = query("select * from experiments.decisions where decision_date = @d", d=END)
    assert {d["arm"] for d in decisions} == {"champion", "challenger"}
    assert all(d["decision"] in ("keep running", "ship", "stop", "invalid") and not d["final"] for d in decisions)
    last = loop["days"][-1].runs["abn_experiment"]
    summary = run_summary.read(dq_store(), "abn_experiment", last.run_id)
    exp = summary["experiments"]["experiments"][0]
    assert exp["id"] == "three-arm" and exp["plot_png_base64"] and len(exp["decisions"]) == 2
    truth = exp["truth"]
    assert set(truth["rates"]) == {"control", "champion", "challenger"} and set(truth["lift"]) == {"champion", "challenger"}
    assert all(0 < rate["ctr"] < 0.2 and 0 < rate["cvr"] < 0.3 for rate in truth["rates"].values())
    text = run_summary.render_markdown(summary)
    assert "### Experiments" in text and "challenger (cvr1)" in text and "true lift" in text
    assert "data:image/png;base64," in run_summary.render_html(summary, dq_store(), "/adctr/data-docs")


def test_a_rerun_changes_nothing_and_a_bad_table_fails_naming_the_field(loop, runner, simulator) -> None:  # noqa: ANN001
    state = loop["state"]
    submitted = len(state.submissions)
    submission_side = ("experiments.bucket_maps", "experiments.assignments", "experiments.tracking_ids")

    def checksums() -> dict:
        with get_warehouse() as wh:
            return {t: c for t, c in table_checksums(wh).items() if t.startswith("experiments.")}

    before = checksums()
    # the scoring day before the last, on its own day: the same choices and ids, submitted again (EXISTS)
    set_clock(simulator.url, state.token, END)
    try:
        assert runner.run("abn_experiment", END - timedelta(days=1)).state == "success"
    finally:
        set_clock(simulator.url, state.token, END + timedelta(days=1))
    after = checksums()
    assert {t: after[t] for t in submission_side} == {t: before[t] for t in submission_side}
    assert len(state.submissions) == submitted
    # the last day again: every table as it was (its read-out reads the same restated delivery)
    assert runner.run("abn_experiment", END).state == "success" and checksums() == after
    assert all(dupes == 0 for (_, _, dupes) in after.values())
    cfg = loop["cfg"]
    good = (cfg / "experiments.yaml").read_text()
    bad = copy.deepcopy(yaml.safe_load(good))
    bad["experiments"][0]["arms"][2]["slot"] = "cvr9"
    (cfg / "experiments.yaml").write_text(yaml.safe_dump(bad))
    try:  # what load_experiments raises (a PermanentError: the task fails at once with it)
        with pytest.raises(config.ExperimentConfigError, match=r"experiments\[0\]\.arms\[2\]\.slot: slot cvr9 is not scored"):
            config.load()
    finally:
        (cfg / "experiments.yaml").write_text(good)
