"""Batch scoring: every candidate combination of a date scored by the version each slot
serves, inside the warehouse, into one partition of `scoring.combination_scores`.

The version is the one in `serving/<slot>/` (what the scoring service serves), read only after
every file matched its manifest's sha256; the model is compiled into SQL (`tree_sql`) and run
as the warehouse's own query jobs (DuckDB locally, BigQuery in production: dry-run cost
guard, `maximumBytesBilled`, labels). Chunk steps of a large model write scratch tables that
expire and are dropped afterwards. All slots land in one partition replace, so a re-run or a
backfill of a date leaves exactly one set of scores, and a failure leaves the previous one; the
replace counts the rows before it commits them (one per candidate and slot), so a wrong count is
a failure too.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from adctr.core import settings
from adctr.core.errors import PermanentError
from adctr.core.storage import ObjectStore
from adctr.model import contract
from adctr.release import artifacts, slots
from adctr.scoring import tree_sql
from adctr.warehouse.base import JobLabels, RowCountMismatch, Warehouse

log = logging.getLogger(__name__)

CANDIDATES = "scoring.candidates"
SCORES = "scoring.combination_scores"
# Candidate columns carried from each candidate row to its score row.
KEYS = [
    "medium", "device", "ad_group_id", "headline_asset_id", "description_asset_id", "image_asset_id",
    "creative_id", "served",
]  # fmt: skip


class ScoringError(PermanentError, RuntimeError):
    """Batch scoring cannot run as configured (slot, model, candidates); nothing was written."""


@dataclass(frozen=True)
class ScoringConfig:
    """config/scoring.yaml."""

    contexts: list[dict[str, str]]
    top_k: int
    slots: list[str]
    max_query_chars: int  # for the warehouse it was loaded for
    truth_connection_id: str | None = None
    scratch_expiration_hours: float = 24.0

    @classmethod
    def load(cls, backend: str = "bigquery") -> "ScoringConfig":
        """config/scoring.yaml, with the statement length limit of `backend` (a Warehouse.name)."""
        cfg = settings.load_config("scoring")
        try:
            limits = cfg["max_query_chars"]
            contexts = [{"medium": str(c["medium"]), "device": str(c["device"])} for c in cfg["contexts"]]
            out = cls(
                contexts=contexts,
                top_k=int(cfg["top_k"]),
                slots=[str(s) for s in cfg["slots"]],
                max_query_chars=int(limits[backend] if isinstance(limits, dict) else limits),
                truth_connection_id=cfg.get("truth_connection_id"),
                scratch_expiration_hours=float(cfg.get("scratch_expiration_hours", 24)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise settings.ConfigError(
                f"config/scoring.yaml: {exc!r} (needs contexts, top_k, slots, max_query_chars per backend)"
            ) from None
        if not out.contexts or not out.slots or out.top_k < 1:
            raise settings.ConfigError("config/scoring.yaml: contexts and slots must not be empty, top_k >= 1")
        if out.max_query_chars > tree_sql.BIGQUERY_MAX_QUERY_CHARS:
            raise settings.ConfigError(
                f"config/scoring.yaml: max_query_chars {out.max_query_chars} is over BigQuery's "
                f"{tree_sql.BIGQUERY_MAX_QUERY_CHARS}"
            )
        return out


@dataclass(frozen=True)
class ServedModel:
    """The version a slot serves, verified, ready to compile."""

    slot: str
    model: str
    variant: str
    version: int
    model_sha256: str
    fitted: contract.FittedModel = field(repr=False)

    def describe(self) -> dict[str, Any]:
        return {"slot": self.slot, "model": self.model, "variant": self.variant, "version": self.version,
                "model_sha256": self.model_sha256}  # fmt: skip


def served_model(store: ObjectStore, slot: str) -> ServedModel:
    """The version `serving/<slot>/` serves now, every file checked against its manifest."""
    specs = {s.slot: s for s in slots.load_slots()}
    if slot not in specs:
        raise ScoringError(f"config/scoring.yaml scores slot {slot!r}, which config/slots.yaml does not define")
    current = slots.current(store, slot)
    if current is None:
        raise ScoringError(f"slot {slot} serves no version yet (run serving_slot_sync after a blessed publish)")
    manifest, files = artifacts.verify_files(store, slots.slot_prefix(slot), int(current["version"]))
    if manifest["model"] != specs[slot].model:
        raise ScoringError(f"slot {slot} should serve a {specs[slot].model} model, it serves {manifest['model']}")
    fitted = contract.load_model(
        files[contract.MODEL_FILE].decode("utf-8"), files[contract.FEATURE_SPEC_FILE].decode("utf-8")
    )
    return ServedModel(slot, manifest["model"], manifest["variant"], int(manifest["version"]),
                       manifest["files"][contract.MODEL_FILE], fitted)  # fmt: skip


def candidates_source() -> str:
    return f"(select * from {CANDIDATES} where scoring_date = @scoring_date)"


def compile_slot(served: ServedModel, scoring_date: date, max_query_chars: int) -> tree_sql.ScoringSql:
    """The slot's model as SQL over the date's candidates (chunked into scratch tables if large)."""
    return tree_sql.compile_model(
        served.fitted.booster,
        served.fitted.spec,
        source=candidates_source(),
        keys=KEYS,
        max_query_chars=max_query_chars,
        chunk_table_prefix=f"scoring._chunk_{served.slot}_{scoring_date:%Y%m%d}",
    )


def check_inputs(wh: Warehouse, served: list[ServedModel], scoring_date: date) -> int:
    """Candidates exist for the date and carry every column each model reads; their count."""
    from adctr.core.table_schemas import get_schema

    schema = get_schema(CANDIDATES)
    columns = set(schema.column_names)
    for s in served:
        needed = {f.derived_from or f.name for f in s.fitted.spec.features}
        missing = sorted(needed - columns)
        if missing:
            raise ScoringError(
                f"slot {s.slot} ({s.model}/{s.variant} v{s.version}) reads {missing}, which {CANDIDATES} "
                f"does not have: add them to sql/scoring/candidates.sql"
            )
    # One partition's count (a partition-pruned scan; partition_counts would scan them all).
    counted = wh.query_arrow(
        f"select count(*) as n from {CANDIDATES} where scoring_date = @scoring_date", {"scoring_date": scoring_date}
    )
    rows = int(counted.column("n")[0].as_py() or 0)
    if rows == 0:
        raise ScoringError(f"{CANDIDATES} has no rows for {scoring_date}: nothing to score")
    return rows


def _used(params: dict[str, Any], sql: str) -> dict[str, Any]:
    """The query parameters `sql` names (DuckDB refuses parameters a statement does not use)."""
    return {k: v for k, v in params.items() if re.search(rf"@{k}\b", sql)}


def _labelled_select(index: int, s: ServedModel, relation: str) -> str:
    keys = ", ".join(KEYS)
    return (
        f"select @scoring_date as scoring_date, @slot_{index} as slot, @model_{index} as model, "
        f"@variant_{index} as variant, @version_{index} as version, {keys}, score from {relation} as _s{index}"
    )


def score_date(
    wh: Warehouse, store: ObjectStore, scoring_date: date, cfg: ScoringConfig, labels: JobLabels = JobLabels()
) -> dict[str, Any]:
    """Replace `scoring.combination_scores` for `scoring_date` with every slot's scores."""
    from adctr.core.table_schemas import get_schema

    started = time.perf_counter()
    served = [served_model(store, slot) for slot in cfg.slots]
    candidates = check_inputs(wh, served, scoring_date)
    params: dict[str, Any] = {"scoring_date": scoring_date}
    for i, s in enumerate(served):
        params |= {f"slot_{i}": s.slot, f"model_{i}": s.model, f"variant_{i}": s.variant, f"version_{i}": s.version}
    plans = [compile_slot(s, scoring_date, cfg.max_query_chars) for s in served]
    scratch: list[str] = []
    try:
        for plan in plans:
            for step in plan.steps[:-1]:
                wh.materialize(step.destination, step.sql, labels, _used(params, step.sql), cfg.scratch_expiration_hours)
                scratch.append(step.destination)
        selects = [_labelled_select(i, s, f"({p.final})") for i, (s, p) in enumerate(zip(served, plans))]
        union = "\nunion all\n".join(selects)
        if len(union) > cfg.max_query_chars:  # each slot's final select alone fits: stage them
            selects = []
            for i, (s, p) in enumerate(zip(served, plans)):
                table = f"scoring._scores_{s.slot}_{scoring_date:%Y%m%d}"
                wh.materialize(table, p.final, labels, _used(params, p.final), cfg.scratch_expiration_hours)
                scratch.append(table)
                selects.append(_labelled_select(i, s, table))
            union = "\nunion all\n".join(selects)
        expected = candidates * len(served)
        try:  # counted before the commit: a wrong count leaves the previous scores
            rows = wh.replace_partition_from_query(
                get_schema(SCORES), scoring_date, union, labels, params, expected_rows=expected
            )
        except RowCountMismatch as exc:
            raise ScoringError(f"{candidates} candidates x {len(served)} slots: {exc}") from exc
    finally:
        for table in scratch:
            wh.drop_table(table)
    seconds = time.perf_counter() - started
    log.info("scored %d candidates x %d slots = %d rows for %s in %.1f s", candidates, len(served), rows,
             scoring_date, seconds)  # fmt: skip
    return {
        "scoring_date": scoring_date.isoformat(),
        "candidates": candidates,
        "rows": rows,
        "seconds": round(seconds, 3),
        "slots": [
            s.describe() | {"statements": len(p.steps), "trees": s.fitted.booster.num_trees(),
                            "longest_statement_chars": max(len(t) for t in p.statements)}
            for s, p in zip(served, plans)
        ],  # fmt: skip
    }
