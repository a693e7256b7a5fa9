"""Task bodies of `batch_scoring`: score every candidate with each slot's version inside the
warehouse, and judge the chosen combinations against the simulator's truth."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from adctr.orchestration.run_summary import scoring_report_key
from adctr.orchestration.tasks.common import job_labels, permanent_errors, skip

log = logging.getLogger(__name__)


def _merge_report(run_id: str, part: dict[str, Any]) -> None:
    """Add this task's facts to the run's scoring report (the run summary shows it)."""
    from adctr.core.storage import ObjectNotFoundError, get_store

    store = get_store("artifact")
    key = scoring_report_key(run_id)
    try:
        report = json.loads(store.read_bytes(key))
    except ObjectNotFoundError:
        report = {}
    store.write_bytes(key, json.dumps(report | part, indent=2, sort_keys=True).encode())


def score_combinations(scoring_date: str, context: dict[str, Any]) -> dict[str, Any]:
    """Replace the date's partition of scoring.combination_scores (all configured slots)."""
    from adctr.core.storage import get_store
    from adctr.scoring import batch
    from adctr.warehouse import get_warehouse

    day = date.fromisoformat(scoring_date)
    with permanent_errors(), get_warehouse() as wh:
        cfg = batch.ScoringConfig.load(wh.name)
        result = batch.score_date(wh, get_store("artifact"), day, cfg, job_labels(context, day))
    _merge_report(str(context.get("run_id") or "manual"), {"scoring": result})
    return result


def evaluate_against_truth(scoring_date: str, context: dict[str, Any]) -> dict[str, Any]:
    """The chosen top-1 combinations against the simulator's truth (skipped without one)."""
    from adctr.ingestion.connections import api_endpoint
    from adctr.scoring import batch, truth
    from adctr.warehouse import get_warehouse

    with permanent_errors():
        cfg = batch.ScoringConfig.load()
    if not cfg.truth_connection_id:
        skip("no truth source: truth_connection_id is not set in config/scoring.yaml (real media have none)")
    endpoint = api_endpoint(cfg.truth_connection_id)
    client = truth.TruthClient(endpoint.base_url, endpoint.token)
    with get_warehouse() as wh:
        rows = truth.evaluate(wh, client, date.fromisoformat(scoring_date))
    for r in rows:
        log.info(
            "%s (%s, %s/%s): model top-1 reaches %.1f%% of the best combination's true rate; random %.1f%%, served %s",
            r["slot"], r["model"], r["medium"], r["device"], 100 * r["model_top1_share_of_best"],
            100 * r["random_share_of_best"],
            "n/a" if r["served_share_of_best"] is None else f"{100 * r['served_share_of_best']:.1f}%",
        )  # fmt: skip
    _merge_report(str(context.get("run_id") or "manual"), {"truth": rows})
    return {"truth": rows}
