"""What each unit's arm submits for the next serving day, and its tracking id.

An arm on a serving slot submits the combination batch scoring ranked first for the unit in
the experiment's scoring context by that slot's version (`scoring.best_combinations`,
score_rank 1); the `random` control submits a uniformly random combination of the unit's
candidates, drawn in the warehouse by a salted FARM_FINGERPRINT order (deterministic per
experiment, unit and day, so a re-run draws the same). The choices, with their tracking ids
(`tracking.Choice`), replace the serving day's partition of `experiments.tracking_ids`
before anything is submitted: every label the medium can report back has its row.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from adctr.core.errors import PermanentError
from adctr.core.table_schemas import get_schema
from adctr.experiments.config import RANDOM, ExperimentsFile
from adctr.experiments.tracking import Choice
from adctr.warehouse.base import JobLabels, Warehouse

TRACKING_IDS = "experiments.tracking_ids"

CHOICES_SQL = """
with assigned as (
    select unit_id, arm, slot
    from experiments.assignments
    where assignment_date = @d and experiment_id = @experiment
),

best as (
    select ad_group_id, slot, model, variant, version, headline_asset_id, description_asset_id, image_asset_id, score
    from scoring.best_combinations
    where scoring_date = @d and medium = @medium and device = @device and score_rank = 1
),

random_pick as (
    select ad_group_id, headline_asset_id, description_asset_id, image_asset_id
    from scoring.candidates
    where scoring_date = @d and medium = @medium and device = @device
    qualify row_number() over (
        partition by ad_group_id
        order by farm_fingerprint(concat(@salt, '|', headline_asset_id, '|', description_asset_id, '|', image_asset_id))
    ) = 1
)

select
    assigned.unit_id,
    assigned.arm,
    assigned.slot,
    best.model,
    best.variant,
    best.version,
    best.score,
    coalesce(best.headline_asset_id, random_pick.headline_asset_id) as headline_asset_id,
    coalesce(best.description_asset_id, random_pick.description_asset_id) as description_asset_id,
    coalesce(best.image_asset_id, random_pick.image_asset_id) as image_asset_id
from assigned
left join best on assigned.slot = best.slot and assigned.unit_id = best.ad_group_id
left join random_pick on assigned.slot = 'random' and assigned.unit_id = random_pick.ad_group_id
order by assigned.unit_id
"""


class NoChoice(PermanentError, RuntimeError):
    """A unit's arm has nothing to submit (its slot scored no combination of the unit)."""


def choose(wh: Warehouse, table: ExperimentsFile, scoring_date: date, labels: JobLabels) -> dict[str, Any]:
    """Write the serving day's tracking ids for every experiment serving then."""
    serve = scoring_date + timedelta(days=1)
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for e in table.active(serve):
        params = {
            "d": scoring_date, "experiment": e.id, "medium": e.context.medium, "device": e.context.device,
            "salt": f"{e.hash_salt}|{scoring_date.isoformat()}",
        }  # fmt: skip
        picked = wh.query_arrow(CHOICES_SQL, params).to_pylist()
        missing = [r for r in picked if r["headline_asset_id"] is None]
        if missing:
            r = missing[0]
            raise NoChoice(
                f"{e.id}: {len(missing)} units have no combination to submit, e.g. {r['unit_id']} in arm {r['arm']} "
                f"(slot {r['slot']}): batch_scoring has no {r['slot']} scores for {scoring_date} in "
                f"{e.context.medium}/{e.context.device}; run batch_scoring for that date"
            )
        for r in picked:
            choice = Choice(
                experiment_id=e.id, arm=r["arm"], slot=r["slot"], model=r["model"], variant=r["variant"],
                version=r["version"], scoring_date=scoring_date, serve_date=serve, unit_id=r["unit_id"],
                headline_asset_id=r["headline_asset_id"], description_asset_id=r["description_asset_id"],
                image_asset_id=r["image_asset_id"],
            )  # fmt: skip
            rows.append({
                "serve_date": serve, "tracking_id": choice.tracking_id, "experiment_id": e.id, "arm": r["arm"],
                "slot": r["slot"], "model": r["model"], "variant": r["variant"], "version": r["version"],
                "scoring_date": scoring_date, "unit_id": r["unit_id"], "medium": e.context.medium,
                "device": e.context.device, "headline_asset_id": r["headline_asset_id"],
                "description_asset_id": r["description_asset_id"], "image_asset_id": r["image_asset_id"],
                "score": r["score"] if r["slot"] != RANDOM else None,
            })  # fmt: skip
        summary[e.id] = {"creatives": len(picked)}
    ids = [r["tracking_id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise PermanentError(f"tracking ids for {serve} are not unique ({len(ids) - len(set(ids))} repeated)")
    schema = get_schema(TRACKING_IDS)
    wh.ensure_table(schema)
    wh.replace_partition_from_arrow(schema, serve, pa.Table.from_pylist(rows, schema=schema.arrow_schema()), labels)
    return {"serve_date": serve.isoformat(), "experiments": summary}


def to_submit(wh: Warehouse, serve: date) -> dict[str, list[dict[str, Any]]]:
    """The serving day's creatives to submit, per medium (from experiments.tracking_ids)."""
    wh.ensure_table(get_schema(TRACKING_IDS))
    rows = wh.query_arrow(
        f"select medium, unit_id, headline_asset_id, description_asset_id, image_asset_id, tracking_id "
        f"from {TRACKING_IDS} where serve_date = @d order by tracking_id",
        {"d": serve},
    ).to_pylist()
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["medium"], []).append({
            "ad_group_id": r["unit_id"], "headline_asset_id": r["headline_asset_id"],
            "description_asset_id": r["description_asset_id"], "image_asset_id": r["image_asset_id"],
            "label": r["tracking_id"], "start_date": serve.isoformat(), "end_date": serve.isoformat(),
        })  # fmt: skip
    return out
