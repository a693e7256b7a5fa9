"""Task bodies of `abn_experiment`: the ABn loop for one scoring day D.

load the table -> assign units for D + 1 -> choose each unit's creative (tracking ids) ->
submit them to the medium; rebuild the delivery facts of the days that may have been restated
-> read out every running experiment (results, decisions, the simulator's truth where there
is one, a plot) for the run summary.
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from typing import Any

from adctr.orchestration.experiment_summary import experiment_plot_key, experiment_report_key
from adctr.orchestration.tasks.common import job_labels, permanent_errors

log = logging.getLogger(__name__)


def _table() -> Any:
    from adctr.experiments import config

    with permanent_errors():
        return config.load()


def load_table(day: str) -> dict[str, Any]:
    """Validate config/experiments.yaml (a bad table fails here, naming the field)."""
    table = _table()
    d = date.fromisoformat(day)
    serving = [e.id for e in table.active(d + timedelta(days=1))]
    log.info("experiments: %d in the table; serving on %s: %s", len(table.experiments), d + timedelta(days=1), serving or "none")
    return {"experiments": [e.id for e in table.experiments], "serving_tomorrow": serving}


def assign_units(day: str, context: dict[str, Any]) -> dict[str, Any]:
    from adctr.experiments import assignment_table
    from adctr.warehouse import get_warehouse

    d = date.fromisoformat(day)
    with permanent_errors(), get_warehouse() as wh:
        return assignment_table.assign(wh, _table(), d, job_labels(context, d))


def choose_creatives(day: str, context: dict[str, Any]) -> dict[str, Any]:
    from adctr.experiments import submission_table
    from adctr.warehouse import get_warehouse

    d = date.fromisoformat(day)
    with permanent_errors(), get_warehouse() as wh:
        return submission_table.choose(wh, _table(), d, job_labels(context, d))


def submit_creatives(day: str) -> dict[str, Any]:
    """Submit the serving day's creatives with their tracking ids as labels (idempotent)."""
    from adctr.experiments import submission_table
    from adctr.ingestion.submission import build_submitter
    from adctr.warehouse import get_warehouse

    serve = date.fromisoformat(day) + timedelta(days=1)
    with get_warehouse() as wh:
        by_medium = submission_table.to_submit(wh, serve)
    out: dict[str, Any] = {"serve_date": serve.isoformat(), "media": {}}
    with permanent_errors():
        for medium, creatives in sorted(by_medium.items()):
            answers = build_submitter(medium).submit(creatives)
            created = sum(1 for a in answers if a.status == "CREATED")
            out["media"][medium] = {"submitted": len(answers), "created": created, "existed": len(answers) - created}
            log.info("%s: %d creatives for %s (%d new, %d already there)", medium, len(answers), serve, created, len(answers) - created)
    return out


def _attribution_days(table: Any) -> dict[str, int]:
    """Experiment id -> its medium's attribution window (`restatement_window_days`)."""
    from adctr.ingestion.landing import configured_media

    media = configured_media()
    return {e.id: int(media.get(e.context.medium, {}).get("restatement_window_days", 7)) for e in table.experiments}


def delivery_dates(day: str) -> list[str]:
    """Report dates whose delivery facts this run (re)builds: the serving days of running
    experiments within the daily DAG's lookback (their conversions may have been restated)."""
    from adctr.core import settings
    from adctr.experiments import readout

    d = date.fromisoformat(day)
    lookback = int(settings.load_config("pipeline").get("lookback_days", 7))
    table = _table()
    dates: set[date] = set()
    for e in readout.analysed_on(table, d, _attribution_days(table)):
        dates |= {x for x in readout.look_dates(e, d) if x >= d - timedelta(days=lookback)}
    return sorted(x.isoformat() for x in dates)


def read_out(day: str, context: dict[str, Any]) -> dict[str, Any]:
    """Analyse every running experiment; store the report and plots for the run summary."""
    from adctr.core.storage import get_store
    from adctr.experiments import plot, readout
    from adctr.warehouse import get_warehouse

    d = date.fromisoformat(day)
    table = _table()
    with permanent_errors(), get_warehouse() as wh:
        report = readout.read_out(wh, table, d, _attribution_days(table), job_labels(context, d))
        for exp in report["experiments"]:
            exp["truth"] = _truth(wh, table.get(exp["id"]), d)
    store = get_store("artifact")
    run_id = str(context.get("run_id") or "manual")
    for exp in report["experiments"]:
        key = experiment_plot_key(run_id, exp["id"])
        store.write_bytes(key, plot.lift_plot(exp, (exp["truth"] or {}).get("lift")))
        exp["plot"] = key
        for dec in exp["decisions"]:
            log.info("%s / %s (%s): %s - %s", exp["id"], dec["arm"], dec["slot"], dec["decision"], dec["reason"])
    store.write_bytes(experiment_report_key(run_id), json.dumps(report, indent=2, sort_keys=True, default=str).encode())
    return {"experiments": [{"id": e["id"], "decisions": [(x["arm"], x["decision"]) for x in e["decisions"]]} for e in report["experiments"]]}


def _truth(wh: Any, experiment: Any, day: date) -> dict[str, Any] | None:
    """The arms' true rates and lifts over the served days so far, where the source is the
    simulator (config/scoring.yaml `truth_connection_id`); None for real media."""
    from adctr.experiments import readout, truth
    from adctr.ingestion.connections import api_endpoint
    from adctr.scoring import batch
    from adctr.scoring.truth import TruthClient

    cfg = batch.ScoringConfig.load()
    if not cfg.truth_connection_id:
        return None
    endpoint = api_endpoint(cfg.truth_connection_id)
    client = TruthClient(endpoint.base_url, endpoint.token)
    dates = readout.look_dates(experiment, day)
    labels = wh.query_arrow(
        "select tracking_id, arm from experiments.tracking_ids where experiment_id = @e and serve_date between @a and @b",
        {"e": experiment.id, "a": dates[0], "b": dates[-1]},
    ).to_pylist()
    arm_of = {r["tracking_id"]: r["arm"] for r in labels}
    rows = [r for x in dates for r in client.submitted(x, experiment.context.medium)]
    rates = truth.arm_rates(rows, arm_of)
    return {"rates": rates, "lift": truth.true_lifts(rates, experiment.control_arm)}
