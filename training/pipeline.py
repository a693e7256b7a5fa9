"""Train -> evaluate -> gate -> publish, as two steps with an explicit hand-off directory.

`train_candidate` writes model.txt, feature_spec.json and metrics.json (with the gate's
decision) into a candidate directory; `publish_candidate` turns that directory into an
immutable artifact version. XCom carries only the directory path and a few numbers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from adctr.core.storage import ObjectStore
from adctr.core.table_schemas import get_schema
from adctr.model import contract
from adctr.model.contract import load_model
from adctr.release import artifacts

from training import champion as gate
from training import plots
from training.config import model_config
from training.dataset import plan_examples
from training.evaluate import base_rate_log_loss, evaluate
from training.trainer import fit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    model: str
    directory: str
    blessed: bool
    holdout_log_loss: float
    holdout_auc: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def train_candidate(
    model: str,
    snapshot_date: date,
    out_dir: Path,
    warehouse: Any,
    store: ObjectStore,
    variant: str,
    examples_source: str | None = None,
) -> Candidate:
    """`examples_source`: the table to read the examples from when it is not the configured
    `examples_table` (a branch variant that rebuilds its training sets reads its own)."""
    cfg = {**model_config(model), **({"examples_source": examples_source} if examples_source else {})}
    num, den = cfg["label_numerator"], cfg["label_denominator"]
    table_id = cfg["examples_table"]
    examples = plan_examples(warehouse, cfg, snapshot_date)
    not_null = {c.name for c in get_schema(table_id).columns if c.required}
    fitted, train_info = fit(examples, cfg, not_null)
    holdout = examples.frame("holdout")
    candidate_eval = evaluate(fitted.predict(holdout), holdout, num, den)
    baseline = base_rate_log_loss(examples.base_rate("train"), holdout, num, den)

    champion_version = artifacts.latest_blessed(store, model, variant)
    champion_eval = None
    if champion_version is not None:
        champ = load_model(
            artifacts.read_file(store, model, variant, champion_version, contract.MODEL_FILE).decode(),
            artifacts.read_file(store, model, variant, champion_version, contract.FEATURE_SPEC_FILE).decode(),
        )
        champion_eval = evaluate(champ.predict(holdout), holdout, num, den)
    decision = gate.decide(
        candidate_eval["overall"],
        champion_eval["overall"] if champion_eval else None,
        baseline,
        cfg["gate"],
    )
    metrics_doc = {
        "model": model,
        "snapshot_date": snapshot_date.isoformat(),
        "examples_table": cfg["examples_table"],
        "examples_source": cfg.get("examples_source") or cfg["examples_table"],
        "split_dates": examples.dates,
        "training": train_info,
        "holdout": candidate_eval,
        "baseline": {"base_rate_log_loss": baseline},
        "champion": (
            {"version": champion_version, "holdout": champion_eval} if champion_eval else None
        ),
        "decision": decision,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / contract.MODEL_FILE).write_bytes(fitted.model_bytes())
    (out_dir / contract.FEATURE_SPEC_FILE).write_text(fitted.spec.to_json(), "utf-8")
    (out_dir / artifacts.METRICS_FILE).write_text(_dump(metrics_doc), "utf-8")
    plots.calibration_curve(candidate_eval["reliability"], f"{model} holdout {examples.dates['holdout'][0]}..",
                            out_dir / plots.CALIBRATION_PNG)  # fmt: skip
    plots.feature_importance(list(train_info["feature_gain"]), list(train_info["feature_gain"].values()),
                             f"{model} feature importance", out_dir / plots.IMPORTANCE_PNG)  # fmt: skip
    overall = candidate_eval["overall"]
    log.info(
        "%s: holdout log loss %.5f (base rate %.5f), AUC %.4f, calibration %.3f, blessed=%s",
        model, overall["log_loss"], baseline, overall["auc"], overall["calibration"],
        decision["blessed"],
    )  # fmt: skip
    return Candidate(model, str(out_dir), decision["blessed"], overall["log_loss"], overall["auc"])


def publish_candidate(
    files: dict[str, bytes], store: ObjectStore, variant: str, lineage: dict[str, Any],
    force_reason: str | None = None,
) -> artifacts.PublishedVersion:  # fmt: skip
    """Publish a candidate's files as the next version; the gate's decision travels with it.

    `force_reason` publishes a candidate the gate did not bless as blessed; the reason, and
    the gate's own decision, are recorded in metrics.json and the manifest.
    """
    metrics_doc = json.loads(files[artifacts.METRICS_FILE])
    blessed = bool(metrics_doc["decision"]["blessed"])
    forced = None
    if force_reason is not None:
        if not force_reason.strip():
            raise gate.GateError("a forced publish needs a written reason")
        forced = {"reason": force_reason.strip(), "gate_blessed": blessed, "run_id": lineage.get("run_id")}
        metrics_doc["decision"]["forced"] = forced
        files = {**files, artifacts.METRICS_FILE: _dump(metrics_doc).encode("utf-8")}
        blessed = True
        log.warning("%s: forced publish (gate blessed=%s): %s", metrics_doc["model"], forced["gate_blessed"],
                    forced["reason"])  # fmt: skip
    manifest_fields = {
        "blessed": blessed,
        "forced": forced,
        "decision": metrics_doc["decision"]["reasons"],
        "data_window": metrics_doc["split_dates"],
        "row_counts": {
            "train": metrics_doc["training"]["train_rows"],
            "valid": metrics_doc["training"]["valid_rows"],
            "holdout": metrics_doc["holdout"]["overall"]["rows"],
        },
        **lineage,
    }
    return artifacts.publish(store, metrics_doc["model"], variant, files, manifest_fields)
