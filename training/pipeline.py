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

from adctr import artifacts
from adctr.storage import ObjectStore
from training import champion as gate
from training.config import model_config
from training.dataset import load_examples, split_by_date
from training.evaluate import base_rate_log_loss, evaluate
from training.trainer import fit, load_model

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
) -> Candidate:
    cfg = model_config(model)
    num, den = cfg["label_numerator"], cfg["label_denominator"]
    frame = load_examples(warehouse, cfg["examples_table"], snapshot_date)
    frame = frame[frame[den] > 0]
    splits = split_by_date(frame, int(cfg["holdout_days"]), int(cfg["validation_days"]))
    fitted, train_info = fit(splits.train, splits.valid, num, den, cfg)
    candidate_eval = evaluate(fitted.predict(splits.holdout), splits.holdout, num, den)
    baseline = base_rate_log_loss(splits.train, splits.holdout, num, den)

    champion_version = artifacts.latest_blessed(store, model, variant)
    champion_eval = None
    if champion_version is not None:
        champ = load_model(
            artifacts.read_file(store, model, variant, champion_version, artifacts.MODEL_FILE).decode(),
            artifacts.read_file(store, model, variant, champion_version, artifacts.FEATURE_SPEC_FILE).decode(),
        )
        champion_eval = evaluate(champ.predict(splits.holdout), splits.holdout, num, den)
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
        "split_dates": splits.dates,
        "training": train_info,
        "holdout": candidate_eval,
        "baseline": {"base_rate_log_loss": baseline},
        "champion": (
            {"version": champion_version, "holdout": champion_eval} if champion_eval else None
        ),
        "decision": decision,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / artifacts.MODEL_FILE).write_bytes(fitted.model_bytes())
    (out_dir / artifacts.FEATURE_SPEC_FILE).write_text(fitted.spec.to_json(), "utf-8")
    (out_dir / artifacts.METRICS_FILE).write_text(_dump(metrics_doc), "utf-8")
    overall = candidate_eval["overall"]
    log.info(
        "%s: holdout log loss %.5f (base rate %.5f), AUC %.4f, calibration %.3f, blessed=%s",
        model, overall["log_loss"], baseline, overall["auc"], overall["calibration"],
        decision["blessed"],
    )  # fmt: skip
    return Candidate(model, str(out_dir), decision["blessed"], overall["log_loss"], overall["auc"])


def publish_candidate(
    files: dict[str, bytes], store: ObjectStore, variant: str, lineage: dict[str, Any]
) -> artifacts.PublishedVersion:
    """Publish a candidate's files as the next version; the gate's decision travels with it."""
    metrics_doc = json.loads(files[artifacts.METRICS_FILE])
    manifest_fields = {
        "blessed": bool(metrics_doc["decision"]["blessed"]),
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
