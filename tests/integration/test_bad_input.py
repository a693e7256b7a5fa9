"""Bad input fails the right task with one clear sentence, and nothing downstream runs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import yaml
from adctr.core import dates

DAY = date(2026, 11, 10)


def _failed(outcome, task_prefix: str) -> None:  # noqa: ANN001
    assert outcome.state == "failed"
    failed = [t for t, s in outcome.task_states.items() if s == "failed"]
    assert failed and all(t.startswith(task_prefix) for t in failed), outcome.task_states
    assert all(s != "success" for t, s in outcome.task_states.items() if t.startswith("build__"))


def test_medium_the_api_does_not_know(runner, isolated_var, config_copy, capfd) -> None:  # noqa: ANN001
    path = config_copy / "media.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["media"].append({**cfg["media"][0], "name": "tiktok_ads"})
    path.write_text(yaml.safe_dump(cfg))
    outcome = runner.run("ad_performance_daily", DAY, conf={"media": ["tiktok_ads"]}, check=False)
    _failed(outcome, "extract")
    assert "unknown medium 'tiktok_ads'; this API serves" in capfd.readouterr().out


def test_medium_not_in_config(runner, isolated_var) -> None:  # noqa: ANN001
    from adctr.orchestration.tasks import daily as tasks
    from airflow.sdk.exceptions import AirflowFailException, ParamValidationError

    # The Param's schema lists the configured media: no run starts with another one ...
    with pytest.raises(ParamValidationError, match="param media: 'nope_ads' is not one of"):
        runner.run("ad_performance_daily", DAY, conf={"media": ["nope_ads"]}, check=False)
    # ... and the task refuses it too, for runs created around the schema (an edited config).
    with pytest.raises(AirflowFailException, match="medium 'nope_ads' is not configured in config/media.yaml"):
        tasks.resolve_media({"media": ["nope_ads"]})


def test_report_date_in_the_future(runner, isolated_var, capfd) -> None:  # noqa: ANN001
    tomorrow = (dates.today_local() + timedelta(days=1)).isoformat()
    outcome = runner.run("ad_performance_daily", DAY, conf={"report_date": tomorrow}, check=False)
    _failed(outcome, "report_date")
    assert f"report date {tomorrow} is not a complete day yet" in capfd.readouterr().out


def test_missing_warehouse_connection(runner, isolated_var, monkeypatch, capfd) -> None:  # noqa: ANN001
    monkeypatch.setenv("ADCTR_WAREHOUSE", "bigquery")
    monkeypatch.delenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", raising=False)
    outcome = runner.run("ad_performance_daily", DAY, check=False)
    _failed(outcome, "load_raw")
    assert (
        "the BigQuery warehouse is selected but Airflow connection 'google_cloud_default' is not "
        "defined" in capfd.readouterr().out
    )


def test_training_without_enough_history_fails_clearly(runner, isolated_var, capfd) -> None:  # noqa: ANN001
    runner.run("ad_performance_daily", DAY)
    outcome = runner.run("ctr_cvr_retrain", DAY, check=False)
    assert outcome.state == "failed"
    assert outcome.task_states["validate__training__cvr_examples"] == "failed"
    assert all(s != "success" for t, s in outcome.task_states.items() if t.startswith(("train", "publish")))
    out = capfd.readouterr().out
    assert "suite training.cvr_examples on training.cvr_examples partition 2026-11-10" in out
    assert "expect_table_row_count_to_be_between [an empty partition]: observed 0" in out
    # The run's summary says why no version was published.
    from adctr.orchestration import run_summary
    from adctr.quality.results import dq_store

    summary = run_summary.read(dq_store(), "ctr_cvr_retrain", outcome.run_id)
    assert summary["models"] == [] and "validate__training__cvr_examples" in summary["tasks"]["failed"]
    assert "publish__cvr" in summary["tasks"]["not_run"]
    assert summary["no_model_because"].startswith("failed: ") and "not run (upstream failed): " in summary["no_model_because"]
    assert any(r["table"] == "training.cvr_examples" and not r["success"] for r in summary["dq"])


def test_forced_publish_without_a_reason_is_refused_before_training(runner, isolated_var, capfd, alert_webhook) -> None:  # noqa: ANN001
    # (Through the api-server, adctr.orchestration.conf_guard refuses this conf before a run exists; dag.test
    # and the CLI bypass it, so the task checks again.)
    outcome = runner.run("ctr_cvr_retrain", DAY, conf={"force_publish": True}, check=False)
    assert outcome.task_states["check_inputs"] == "failed"
    assert all(s != "success" for t, s in outcome.task_states.items() if t.startswith(("build__", "train")))
    assert "force_publish is set but force_reason is empty" in capfd.readouterr().out
    # The final failure fired the notifier: one alert, to the Connection's webhook, saying what and why.
    assert [a["path"] for a in alert_webhook] == ["/hooks/T000/secret-token"]
    text = alert_webhook[0]["body"]["text"]
    assert text.startswith("[adctr] task failed\nDAG ctr_cvr_retrain, run manual__")
    assert "task check_inputs, try 1" in text and "force_reason is empty" in text
