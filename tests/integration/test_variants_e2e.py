"""Branch variants end to end, in one Airflow: main plus two branches deployed at once, one
changing a feature model's SQL (a new trailing statistic) and excluding a feature, the other
changing the training code (a new feature transform). Each builds only what it changed into
its own scoped tables, trains from its own code, publishes to its own variant and is synced
to its own slot; production's tables and models are byte-identical before and after."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
import yaml
from adctr.core import settings
from adctr.core.storage import get_store
from adctr.release import artifacts, slots
from adctr.variants import deployment, ledger
from adctr.variants.__main__ import main as variants_cli
from adctr.warehouse import get_warehouse

from tests.helpers import branch_checkout, commit, load_bench
from tests.integration.conftest import HISTORY_DAYS as DAYS

PROMOTE = {"attribution_window_days": 1, "promote_reason": "e2e: operator promotes this run"}
SQL_BRANCH, SQL_VARIANT = "exp/creative-ctr-14d", "exp-creative-ctr-14d"
CODE_BRANCH, CODE_VARIANT = "exp/impute-zero-ctr", "exp-impute-zero-ctr"
NEW_COLUMN = "creative_ctr_14d"


BENCH = load_bench("variant_cost")
_edit = BENCH.edit_once


def sql_branch(checkout: Path) -> Path:
    """A new trailing statistic in features.creative_daily (its SQL, schema files, suites and
    the model contract's feature list) and headline_length excluded (config)."""
    BENCH.add_trailing_ctr(checkout)
    _edit(checkout / "plugins/adctr/model/contract.py", '    "day_of_week",\n)', f'    "day_of_week",\n    "{NEW_COLUMN}",\n)')
    models = yaml.safe_load((checkout / "config/models.yaml").read_text())
    models["defaults"]["exclude_features"] = ["headline_length"]
    (checkout / "config/models.yaml").write_text(yaml.safe_dump(models))
    commit(checkout, "creative CTR over 14 days; no headline length")
    return checkout


def code_branch(checkout: Path) -> Path:
    """Training code only: a missing trailing CTR (no impressions yet) becomes 0 instead of
    LightGBM's missing, written into the feature spec as each feature's default."""
    _edit(checkout / "training/features.py",
          "            defs.append(FeatureDef(name, \"numeric\", name in REQUIRED, None, [], DERIVED.get(name)))",
          "            default = 0.0 if \"_ctr_\" in name else None  # the branch's transform\n"
          "            defs.append(FeatureDef(name, \"numeric\", name in REQUIRED, default, [], DERIVED.get(name)))")  # fmt: skip
    commit(checkout, "impute a missing trailing CTR as 0")
    return checkout


def table_checksums() -> dict[str, str]:
    """Every production table's content hash (rows in any order) in the embedded warehouse."""
    out = {}
    with get_warehouse() as wh:
        names = wh.execute_native(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema not like '%\\_\\_%' escape '\\' and table_schema not in ('information_schema', 'main')"
        )
        for schema, table in sorted(names):
            rows = wh.execute_native(
                f'select count(*), coalesce(string_agg(h, \'\' order by h), \'\') from '
                f'(select md5(cast(t as varchar)) as h from "{schema}"."{table}" t)'
            )[0]
            out[f"{schema}.{table}"] = f"{rows[0]}:{hashlib.sha256(rows[1].encode()).hexdigest()}"
    return out


def scoped_tables() -> set[str]:
    with get_warehouse() as wh:
        return {f"{s}.{t}" for s, t in wh.execute_native(
            "select table_schema, table_name from information_schema.tables where table_schema like '%\\_\\_%' escape '\\'")}  # fmt: skip


def model_files(var: Path) -> dict[str, str]:
    root = var / "artifacts" / "models"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.glob("*/main/**/*")) if p.is_file()}  # fmt: skip


def spec_of(model: str, variant: str, version: int) -> dict:
    return {f["name"]: f for f in artifacts.read_json(get_store("artifact"), model, variant, version, "feature_spec.json")["features"]}


@pytest.fixture
def deployed(tmp_path: Path):  # noqa: ANN201
    dags = settings.dags_folder()
    yield dags
    for name in (SQL_VARIANT, CODE_VARIANT, "exp-third"):
        shutil.rmtree(deployment.variant_folder(dags, name), ignore_errors=True)


def test_main_and_two_branch_variants(  # noqa: PLR0915
    runner, daily_history, isolated_var, config_copy, deployed, tmp_path, capsys  # noqa: ANN001
) -> None:
    daily_history.copy_into(isolated_var)
    slots_yaml = yaml.safe_load((config_copy / "slots.yaml").read_text())
    slots_yaml["variant_slots"] = ["cvr1", "cvr2"]  # two A/B slots: a third variant is refused
    (config_copy / "slots.yaml").write_text(yaml.safe_dump(slots_yaml))
    store = get_store("artifact")
    day = DAYS[-1]

    runner.run("ctr_cvr_retrain", day, conf=PROMOTE)
    before, main_models = table_checksums(), model_files(isolated_var)
    assert "features.creative_daily" in before and "training.cvr_examples" in before and len(main_models) > 10

    sql_folder = deployment.deploy(sql_branch(branch_checkout(tmp_path / "sql", SQL_BRANCH)), deployed)
    code_folder = deployment.deploy(code_branch(branch_checkout(tmp_path / "code", CODE_BRANCH)), deployed)
    assert [(deployment.variant_folder(deployed, v) / "SLOT").read_text().strip() for v in (SQL_VARIANT, CODE_VARIANT)] == ["cvr1", "cvr2"]
    with pytest.raises(settings.ConfigError, match="every variant slot is claimed"):
        deployment.deploy(branch_checkout(tmp_path / "third", "exp/third"), deployed)
    assert not deployment.variant_folder(deployed, "exp-third").exists()

    # The diff is the experiment.
    capsys.readouterr()
    variants_cli(["diff", SQL_VARIANT, "--dags-folder", str(deployed)])
    sql_diff = capsys.readouterr().out
    scoped = "features__exp_creative_ctr_14d.creative_daily"
    for line in ("changed sql/features/creative_daily.sql", "changed sql/training/ctr_examples.yml",
                 "changed expectations/features.creative_daily.json", "models.yaml: defaults.exclude_features",
                 "changed plugins/adctr/model/contract.py", f"features.creative_daily -> {scoped}  (SQL changed",
                 "training.cvr_examples -> training__exp_creative_ctr_14d.cvr_examples"):  # fmt: skip
        assert line in sql_diff, (line, sql_diff)
    assert "features.asset_daily ->" not in sql_diff  # unchanged upstream is read from production
    variants_cli(["diff", CODE_VARIANT, "--dags-folder", str(deployed)])
    code_diff = capsys.readouterr().out
    assert "changed training/features.py" in code_diff and "SQL files: none" in code_diff
    assert "Tables it rebuilds (everything else is read from production): none" in code_diff

    doc = runner._parse().get_dag(f"ctr_cvr_retrain__{SQL_VARIANT}").doc_md  # the DAG's docs in the UI
    assert "### What branch `exp-creative-ctr-14d` changes" in doc and f"`features.creative_daily -> {scoped}" in doc

    # Both variants run beside main: their own tables, their own code, their own versions.
    sql_run = runner.run(f"ctr_cvr_retrain__{SQL_VARIANT}", day, conf=PROMOTE)
    code_run = runner.run(f"ctr_cvr_retrain__{CODE_VARIANT}", day, conf=PROMOTE)
    assert table_checksums() == before, "a variant wrote a production table"
    assert model_files(isolated_var) == main_models, "a variant changed main's models"
    assert not any(t.startswith("build__") for t in code_run.task_states)  # config and code only
    assert {"build__features__creative_daily", "build__training__ctr_examples"} <= set(sql_run.task_states)
    assert "build__features__asset_daily" not in sql_run.task_states
    from adctr.orchestration import run_summary
    from adctr.quality.results import dq_store

    summary = run_summary.read(dq_store(), f"ctr_cvr_retrain__{SQL_VARIANT}", sql_run.run_id)
    assert summary["rows"][scoped][day.isoformat()] > 0 and "features.creative_daily" not in summary["rows"]

    assert scoped_tables() == {scoped, "training__exp_creative_ctr_14d.ctr_examples", "training__exp_creative_ctr_14d.cvr_examples"}
    with get_warehouse() as wh:
        built = wh.execute_native(f"select count(distinct report_date), count({NEW_COLUMN}) from {scoped}")[0]
        production_days = wh.execute_native("select count(distinct report_date) from features.creative_daily")[0][0]
    assert built[0] == production_days == len(DAYS) and built[1] > 0  # backfilled its window itself

    sql_spec, code_spec, main_spec = spec_of("cvr", SQL_VARIANT, 1), spec_of("cvr", CODE_VARIANT, 1), spec_of("cvr", "main", 1)
    assert NEW_COLUMN in sql_spec and "headline_length" not in sql_spec  # SQL + contract + config of its branch
    assert NEW_COLUMN not in main_spec and "headline_length" in main_spec and NEW_COLUMN not in code_spec
    assert code_spec["creative_ctr_7d"]["default"] == 0.0 and main_spec["creative_ctr_7d"]["default"] is None
    assert sql_spec["creative_ctr_7d"]["default"] is None
    metrics = artifacts.read_json(store, "cvr", SQL_VARIANT, 1, "metrics.json")
    assert metrics["examples_source"] == "training__exp_creative_ctr_14d.cvr_examples"
    manifest = artifacts.verify(store, "cvr", SQL_VARIANT, 1)
    assert manifest["git_commit"] == (sql_folder / "GIT_COMMIT").read_text().strip()
    assert "changed sql/features/creative_daily.sql" in manifest["variant_diff"]["sql"]
    assert manifest["dq_results"]["training__exp_creative_ctr_14d.cvr_examples"]["passed"] == 1
    assert "changed training/features.py" in artifacts.verify(store, "cvr", CODE_VARIANT, 1)["variant_diff"]["training_code"]

    runner.run("serving_slot_sync", day)
    assert slots.current(store, "cvr1") == {"model": "cvr", "variant": SQL_VARIANT, "version": 1}
    assert slots.current(store, "cvr2") == {"model": "cvr", "variant": CODE_VARIANT, "version": 1}
    assert slots.current(store, "cvr0") == {"model": "cvr", "variant": "main", "version": 1}

    # A redeploy after a commit that changes only config rebuilds no table.
    ledger_before = {t: ledger.read(store, SQL_VARIANT, t) for t in ledger.tables(store, SQL_VARIANT)}
    checkout = tmp_path / "sql"
    models = yaml.safe_load((checkout / "config/models.yaml").read_text())
    models["defaults"]["lightgbm"]["num_leaves"] = 8
    (checkout / "config/models.yaml").write_text(yaml.safe_dump(models))
    new_commit = commit(checkout, "fewer leaves")
    deployment.deploy(checkout, deployed)
    assert (sql_folder / "SLOT").read_text().strip() == "cvr1"  # it keeps its slot
    tables_before = {t: c for t, c in _scoped_checksums().items()}
    again = runner.run(f"ctr_cvr_retrain__{SQL_VARIANT}", day, conf=PROMOTE)
    assert again.state == "success"
    assert {t: ledger.read(store, SQL_VARIANT, t) for t in ledger.tables(store, SQL_VARIANT)} == ledger_before
    assert _scoped_checksums() == tables_before
    assert artifacts.verify(store, "cvr", SQL_VARIANT, 2)["git_commit"] == new_commit

    # Retiring frees the slot (back to slots.yaml's policy, audited), drops the scoped tables,
    # and retention deletes the versions nothing serves.
    with get_warehouse() as wh:
        deployment.retire(deployed, CODE_VARIANT, wh, store)
    assert not code_folder.exists()
    runner.run("serving_slot_sync", day)
    assert slots.current(store, "cvr2") == {"model": "cvr", "variant": "main", "version": 1}
    record = slots.audit_log(store, "cvr2")[-1]
    assert record["from"]["variant"] == CODE_VARIANT and "no longer claims the slot" in record["why"]
    assert artifacts.complete_versions(store, "cvr", CODE_VARIANT) == []
    assert artifacts.complete_versions(store, "ctr", CODE_VARIANT) == []
    with get_warehouse() as wh:
        record = deployment.retire(deployed, SQL_VARIANT, wh, store)
    assert sorted(record["dropped_tables"]) == sorted(ledger_before)
    assert scoped_tables() == set() and table_checksums() == before


def _scoped_checksums() -> dict[str, str]:
    with get_warehouse() as wh:
        return {t: str(wh.execute_native(f"select count(*), sum(hash(x)) from {t} x")[0]) for t in sorted(scoped_tables())}


def test_broken_branch_sql_fails_in_its_own_dag(
    runner, daily_history, isolated_var, config_copy, deployed, tmp_path, capfd  # noqa: ANN001
) -> None:
    daily_history.copy_into(isolated_var)
    checkout = branch_checkout(tmp_path / "broken", "exp/broken")
    _edit(checkout / "sql/features/creative_daily.sql", "    from today\n", "    from today today2 (\n")
    commit(checkout, "a typo")
    deployment.deploy(checkout, deployed)
    try:
        runner.run("ctr_cvr_retrain", DAYS[-1], conf=PROMOTE)
        before = table_checksums()
        capfd.readouterr()
        outcome = runner.run("ctr_cvr_retrain__exp-broken", DAYS[-1], conf=PROMOTE, check=False)
        logged = "".join(capfd.readouterr())  # the task's log (dag.test runs tasks in this process)
        assert outcome.state == "failed"
        assert outcome.task_states["build__features__creative_daily"] == "failed"
        # the branch's file, the line of the rendered SQL and the text there
        assert re.search(r"sql/features/creative_daily\.sql:\d+: syntax error: .*\(near `", logged), logged[-3000:]
        assert artifacts.complete_versions(get_store("artifact"), "cvr", "exp-broken") == []
        assert table_checksums() == before
        assert runner.run("ctr_cvr_retrain", DAYS[-1], conf=PROMOTE).state == "success"  # main is unaffected
    finally:
        shutil.rmtree(deployment.variant_folder(deployed, "exp-broken"), ignore_errors=True)
