"""The day's bucket maps and assignments, read from and written to the warehouse.

For a scoring day D the loop assigns the units of every experiment serving on D + 1: the
population is the ad groups with candidates on D in the experiment's scoring context (of its
advertisers, if it names them); the bucket map is the newest one before D, changed only
where the shares changed (`assignment.bucket_map`). Both tables are replaced per day, so a
re-run or a backfill writes the same rows.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from adctr.core.table_schemas import get_schema
from adctr.experiments import assignment
from adctr.experiments.config import Experiment, ExperimentsFile
from adctr.warehouse.base import JobLabels, Warehouse

BUCKET_MAPS = "experiments.bucket_maps"
ASSIGNMENTS = "experiments.assignments"
CANDIDATES = "scoring.candidates"


def population(wh: Warehouse, experiment: Experiment, scoring_date: date) -> list[str]:
    """The ad groups that can be served a choice on the day after `scoring_date`."""
    rows = wh.query_arrow(
        f"select distinct ad_group_id, advertiser_id from {CANDIDATES} "
        "where scoring_date = @d and medium = @medium and device = @device",
        {"d": scoring_date, "medium": experiment.context.medium, "device": experiment.context.device},
    ).to_pylist()
    allowed = set(experiment.advertisers) if experiment.advertisers is not None else None
    return sorted(r["ad_group_id"] for r in rows if allowed is None or r["advertiser_id"] in allowed)


def previous_map(wh: Warehouse, experiment: Experiment, day: date, buckets: int) -> list[str] | None:
    """The experiment's newest bucket map before `day` with the same salt and size, if any."""
    wh.ensure_table(get_schema(BUCKET_MAPS))
    rows = wh.query_arrow(
        f"select map_date, bucket, arm from {BUCKET_MAPS} where experiment_id = @e and salt = @salt "
        f"and map_date = (select max(map_date) from {BUCKET_MAPS} where experiment_id = @e and salt = @salt "
        "and map_date < @d) order by bucket",
        {"e": experiment.id, "salt": experiment.hash_salt, "d": day},
    ).to_pylist()
    if len(rows) != buckets or [r["bucket"] for r in rows] != list(range(buckets)):
        return None
    return [r["arm"] for r in rows]


def assign(wh: Warehouse, table: ExperimentsFile, scoring_date: date, labels: JobLabels) -> dict[str, Any]:
    """Write the day's bucket maps and assignments for the experiments serving tomorrow."""
    serve = scoring_date + timedelta(days=1)
    maps: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for e in table.active(serve):
        before = previous_map(wh, e, scoring_date, table.buckets)
        mapping = assignment.bucket_map({a.name: a.share for a in e.arms}, table.buckets, before)
        maps += [
            {"map_date": scoring_date, "experiment_id": e.id, "salt": e.hash_salt, "bucket": b, "arm": arm}
            for b, arm in enumerate(mapping)
        ]
        units = assignment.assign(population(wh, e, scoring_date), e.hash_salt, mapping)
        rows += [
            {"assignment_date": scoring_date, "serve_date": serve, "experiment_id": e.id, "unit_id": u,
             "bucket": b, "arm": arm, "slot": e.arm(arm).slot}
            for u, b, arm in units
        ]  # fmt: skip
        counts = {a.name: sum(1 for _, _, arm in units if arm == a.name) for a in e.arms}
        summary[e.id] = {
            "units": len(units),
            "per_arm": counts,
            "moved_buckets": assignment.moved_buckets(before, mapping) if before else 0,
        }
    for table_id, data in ((BUCKET_MAPS, maps), (ASSIGNMENTS, rows)):
        schema = get_schema(table_id)
        wh.ensure_table(schema)
        arrow = pa.Table.from_pylist(data, schema=schema.arrow_schema())
        wh.replace_partition_from_arrow(schema, scoring_date, arrow, labels)
    return {"serve_date": serve.isoformat(), "experiments": summary}
