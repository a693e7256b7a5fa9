"""The data-quality state of a model's inputs: the gate before training (every input partition
in the window validated and passed, or an explicit fall-back to the last good date) and the
lineage recorded after it (which validations fed a published model)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from adctr.quality.results import QualityGateError, load_result

log = logging.getLogger(__name__)


def input_problems(
    day: date, partitions: dict[str, set[date]], span_days: int
) -> list[str]:
    """Why the inputs of a snapshot on `day` are not sound: a missing partition of `day`, or a
    partition within `span_days` before it that was never validated or failed."""
    found = []
    for table_id, days in partitions.items():
        if day not in days:
            found.append(f"{table_id} has no partition {day}")
        for d in sorted(d for d in days if day - timedelta(days=span_days) <= d <= day):
            result = load_result(table_id, d.isoformat())
            if result is None:
                found.append(f"{table_id} {d} was never validated")
            elif not result["success"]:
                found.append(f"{table_id} {d} failed: {'; '.join(result['failed'])[:300]}")
    return found


def sound_snapshot_date(
    day: date,
    partitions: dict[str, set[date]],
    span_days: int,
    use_last_good_data: bool,
    search_days: int,
) -> date:
    """`day` if its inputs passed their gates; else, when asked, the newest of the
    `search_days` earlier dates whose inputs all passed; else QualityGateError naming why."""
    found = input_problems(day, partitions, span_days)
    if not found:
        return day
    if not use_last_good_data:
        raise QualityGateError(
            f"training inputs for {day} did not pass their data-quality gates ("
            + " | ".join(found[:5]) + "); re-run ad_performance_daily for those dates, or "
            "trigger with use_last_good_data=true to train on the newest date whose inputs passed"
        )
    for back in range(1, search_days + 1):
        candidate = day - timedelta(days=back)
        if not input_problems(candidate, partitions, span_days):
            log.warning("inputs for %s failed (%s); training on last good date %s as requested",
                        day, " | ".join(found[:3]), candidate)  # fmt: skip
            return candidate
    raise QualityGateError(f"no snapshot date in the {search_days} days before {day} has inputs that passed")


def dq_lineage(tables: list[str], first: date, last: date) -> dict[str, Any]:
    """The data-quality results that fed a model: per table, the dates in [first, last]
    validated, passed and failed, and the validation runs (data -> model lineage)."""
    out: dict[str, Any] = {}
    for table_id in tables:
        passed, failed, missing, runs = 0, [], [], set()
        day = first
        while day <= last:
            result = load_result(table_id, day.isoformat())
            if result is None:
                missing.append(day.isoformat())
            elif result["success"]:
                passed += 1
                runs.add(result["run_id"])
            else:
                failed.append(day.isoformat())
            day += timedelta(days=1)
        out[table_id] = {
            "from": first.isoformat(), "to": last.isoformat(), "passed": passed,
            "failed": failed, "not_validated": missing, "validation_runs": sorted(runs),
        }  # fmt: skip
    return out
