"""Branch variants' pure parts: which models a branch's files make modified and rebuilt (dbt's
state:modified+), how its SQL is redirected to its scoped tables, slot claims, deploy refusals,
the config diff, and retention of a retired variant's versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from adctr.core import settings
from adctr.core.storage import LocalStore
from adctr.release import artifacts, retention, slots
from adctr.variants import deployment, diff, plan
from adctr.warehouse import elt

from tests.helpers import branch_checkout, commit

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ["training.ctr_examples", "training.cvr_examples"]


@pytest.fixture
def variant(tmp_path: Path) -> Path:
    """A deployment folder holding copies of this repository's sql/, expectations/, config/."""
    folder = tmp_path / "dags" / "variants" / "exp"
    for part in ("sql", "expectations", "config"):
        shutil.copytree(ROOT / part, folder / part)
    (folder / settings.VARIANT_FILE).write_text("exp\n")
    (folder / settings.GIT_COMMIT_FILE).write_text("0" * 40 + "\n")
    return folder


def _plan(folder: Path) -> plan.VariantPlan:
    plan._plan.cache_clear()
    return plan.plan_for(folder)


def test_an_unchanged_branch_rebuilds_nothing_and_reads_production(variant: Path) -> None:
    p = _plan(variant)
    assert p.modified == {} and p.rebuild == ()
    assert p.physical("features.creative_daily") == "features.creative_daily"


def test_a_changed_feature_model_rebuilds_itself_and_the_training_sets_only(variant: Path) -> None:
    sql = variant / "sql/features/creative_daily.sql"
    sql.write_text(sql.read_text() + "\n-- a branch's change\n")
    p = _plan(variant)
    assert p.modified == {"features.creative_daily": "SQL changed"}
    # scoring.candidates reads it too but is not what the retrain DAG needs
    assert p.rebuild == ("features.creative_daily", *TRAINING)
    assert p.physical("features.creative_daily") == "features__exp.creative_daily"
    assert p.physical("features.asset_daily") == "features.asset_daily"  # unchanged upstream: production's
    assert p.physical_schema("training.ctr_examples").table_id == "training__exp.ctr_examples"


def test_a_macro_a_schema_file_and_config_values_count_as_changes(variant: Path) -> None:
    macro = variant / "sql/macros/features.jinja"
    macro.write_text(macro.read_text() + "\n{# changed #}\n")
    importers = {t for t, m in elt.all_sql_models().items() if "macros/features.jinja" in m.sql_path.read_text()}
    assert set(_plan(variant).modified) == importers and "features.creative_daily" in importers
    shutil.copy(ROOT / "sql/macros/features.jinja", macro)

    yml = variant / "sql/staging/ad_performance.yml"
    yml.write_text(yml.read_text() + "# the branch documents a column\n")
    p = _plan(variant)
    assert p.modified == {"staging.ad_performance": "schema file changed"}
    assert p.rebuild[0] == "staging.ad_performance" and set(TRAINING) <= set(p.rebuild)
    shutil.copy(ROOT / "sql/staging/ad_performance.yml", yml)

    scoring = yaml.safe_load((variant / "config/scoring.yaml").read_text())
    scoring["top_k"] = int(scoring["top_k"]) + 1  # read by scoring.best_combinations ({from_config})
    (variant / "config/scoring.yaml").write_text(yaml.safe_dump(scoring))
    p = _plan(variant)
    assert p.modified == {"scoring.best_combinations": "a macro or config value it reads changed"}
    assert p.rebuild == ()  # not upstream of training: the retrain DAG does not build it

    models = yaml.safe_load((variant / "config/models.yaml").read_text())
    models["defaults"]["exclude_features"] = ["headline_length"]
    (variant / "config/models.yaml").write_text(yaml.safe_dump(models))
    shutil.copy(ROOT / "config/scoring.yaml", variant / "config/scoring.yaml")
    assert _plan(variant).modified == {}  # model config is not SQL


def test_fingerprints_carry_the_rebuilt_upstream(variant: Path) -> None:
    sql = variant / "sql/features/creative_daily.sql"
    sql.write_text(sql.read_text() + "\n-- one\n")
    first = _plan(variant).fingerprints
    sql.write_text(sql.read_text() + "\n-- two\n")
    second = _plan(variant).fingerprints
    assert all(first[t] != second[t] for t in ("features.creative_daily", *TRAINING))


def test_redirect_tables_rewrites_exactly_the_rebuilt_names() -> None:
    sql = (
        "select * from features.creative_daily a join `features.creative_daily` b using (x) "
        "join features.creative_daily_v2 c using (x) join staging.assets d using (x) "
        "where a.creative_id = 'features.creative_daily' -- from features.creative_daily\n"
    )
    out = elt.redirect_tables(sql, {"features.creative_daily": "features__exp.creative_daily"})
    assert out.count("features__exp.creative_daily") == 2  # bare and backticked
    assert "'features.creative_daily' -- from features.creative_daily" in out  # a string and a comment stay
    assert "features.creative_daily_v2" in out and "staging.assets" in out
    assert elt.redirect_tables(sql, {}) == sql


def test_claims_put_a_variant_in_its_slot_and_refuse_others() -> None:
    specs = [slots.SlotSpec("cvr0", "cvr", "main"), slots.SlotSpec("cvr1", "cvr", "main")]
    claimed = slots.with_claims(specs, {"cvr1": "exp"}, ["cvr1"])
    assert claimed[0] == specs[0]
    assert (claimed[1].variant, claimed[1].fallback) == ("exp", specs[1])
    with pytest.raises(slots.SlotSyncError, match="not variant_slots"):
        slots.with_claims(specs, {"cvr0": "exp"}, ["cvr1"])


def _slots_config(config: Path, variant_slots: list[str]) -> None:
    cfg = yaml.safe_load((config / "slots.yaml").read_text())
    cfg["variant_slots"] = variant_slots
    (config / "slots.yaml").write_text(yaml.safe_dump(cfg))


def test_deploy_claims_free_slots_keeps_them_on_redeploy_and_refuses_when_full(
    tmp_path: Path, config_copy: Path
) -> None:
    _slots_config(config_copy, ["cvr1", "cvr2"])
    dags = tmp_path / "dags"
    checkout = branch_checkout(tmp_path / "checkout", "exp/one")
    first = deployment.deploy(checkout, dags)
    assert first.name == "exp-one" and (first / "SLOT").read_text().strip() == "cvr1"
    assert (first / "code/training/__init__.py").is_file() and (first / "code/adctr/model/contract.py").is_file()
    assert not list(first.rglob("__pycache__"))
    second = deployment.deploy(checkout, dags, name="exp/two")
    assert (second / "SLOT").read_text().strip() == "cvr2"
    assert (deployment.deploy(checkout, dags) / "SLOT").read_text().strip() == "cvr1"  # a redeploy keeps it
    with pytest.raises(deployment.VariantError, match="every variant slot is claimed .*cvr1: exp-one"):
        deployment.deploy(checkout, dags, name="exp/three")
    with pytest.raises(deployment.VariantError, match="claimed by variant exp-one"):
        deployment.deploy(checkout, dags, name="exp/two", slot="cvr1")
    assert deployment.slot_claims(dags) == {"cvr1": "exp-one", "cvr2": "exp-two"}
    with pytest.raises(deployment.VariantError, match="main is the production deployment"):
        deployment.deploy(checkout, dags, name="main")

    (checkout / "requirements.txt").write_text((checkout / "requirements.txt").read_text() + "left-pad==1.0\n")
    commit(checkout, "a new package")
    with pytest.raises(deployment.VariantError, match="its own Airflow environment"):
        deployment.deploy(checkout, dags)
    assert (first / "SLOT").read_text().strip() == "cvr1"  # the refused redeploy changed nothing


def test_config_changes_name_file_key_and_both_values(tmp_path: Path) -> None:
    mine, theirs = tmp_path / "branch", tmp_path / "main"
    mine.mkdir(), theirs.mkdir()
    (theirs / "models.yaml").write_text(yaml.safe_dump({"defaults": {"lightgbm": {"num_leaves": 31}, "x": 1}}))
    (mine / "models.yaml").write_text(yaml.safe_dump({"defaults": {"lightgbm": {"num_leaves": 8}, "x": 1, "y": [1]}}))
    assert diff.config_changes(mine, theirs) == [
        "models.yaml: defaults.lightgbm.num_leaves: 31 -> 8",
        "models.yaml: defaults.y: '<absent>' -> [1]",
    ]


def test_retention_deletes_a_retired_variants_versions_nothing_serves(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    files = {"model.txt": b"m", "feature_spec.json": b"{}", "metrics.json": b"{}"}
    for variant in ("main", "exp", "exp", "exp"):
        artifacts.publish(store, "cvr", variant, files, {"blessed": True})
    specs = [slots.SlotSpec("cvr1", "cvr", "exp", pinned=2, reason="the experiment's pin")]
    doomed = retention.plan(store, specs, keep=5, retired={"exp"})
    assert sorted((d["variant"], d["version"]) for d in doomed) == [("exp", 1), ("exp", 3)]
    assert {d["why"] for d in doomed} == {"its branch variant was retired"}
    assert retention.plan(store, specs, keep=5) == []
