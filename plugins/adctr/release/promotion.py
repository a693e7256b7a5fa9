"""Who may move a serving slot: the promotion decision recorded in every manifest.

A version carries two separate facts: `blessed` (the champion gate's verdict on quality) and
`promotion.eligible` (whether the run that made it may feed serving by itself). Only a
scheduled run on the newest data, or an operator's run with a written `promote_reason`, is
eligible. Backfills and manual re-runs of past dates train and evaluate, and their versions
are kept, but `serving_slot_sync` serves them only through an explicit pin with a reason.
"""

from __future__ import annotations

from datetime import date
from typing import Any

SCHEDULED = "scheduled"
BACKFILL = "backfill"


def decide(
    run_type: str,
    snapshot_date: date,
    newest_report_date: date | None,
    snapshot_overridden: bool,
    promote_reason: str | None,
) -> dict[str, Any]:
    """{"eligible": bool, "why": str} for a version trained as of `snapshot_date`."""
    run_type = run_type.split(".")[-1].lower()  # DagRunType.SCHEDULED -> scheduled
    reason = (promote_reason or "").strip()
    if run_type == BACKFILL:
        why = "backfill run: trains and evaluates, never promotes (pin it in serving_slot_sync with a reason)"
        return {"eligible": False, "why": why, "run_type": run_type}
    if reason:
        return {"eligible": True, "why": f"operator: {reason}", "run_type": run_type}
    if run_type != SCHEDULED:
        why = f"{run_type} run without promote_reason: trains and evaluates only"
        return {"eligible": False, "why": why, "run_type": run_type}
    if snapshot_overridden:
        why = "scheduled run with a snapshot_date override: not the run's own (newest) data"
        return {"eligible": False, "why": why, "run_type": run_type}
    if newest_report_date is None or snapshot_date < newest_report_date:
        why = f"snapshot {snapshot_date} is older than the newest loaded report date {newest_report_date}"
        return {"eligible": False, "why": why, "run_type": run_type}
    return {"eligible": True, "why": f"scheduled run on the newest data ({snapshot_date})", "run_type": run_type}
