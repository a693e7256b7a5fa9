"""The daily read-out: every look of every running experiment, analysed and written back.

For a run day D, each experiment that has started and whose data is not final yet (D is at
most its end plus the attribution window) is analysed at every look from its start through
min(D, end), from the looks' partitions of `experiments.unit_totals` (one row per unit: the
only rows that leave the warehouse). Units seen in more than one arm are left out and
counted. The rows go to `experiments.results` (each look's partition, keeping the rows of
experiments not analysed today) and the decisions to `experiments.decisions` (D's partition),
so a re-run writes the same rows.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from adctr.core.table_schemas import get_schema
from adctr.experiments import analysis
from adctr.experiments.config import Experiment, ExperimentsFile
from adctr.warehouse.base import JobLabels, Warehouse

UNIT_TOTALS = "experiments.unit_totals"
RESULTS = "experiments.results"
DECISIONS = "experiments.decisions"


def final_from(e: Experiment, attribution_days: dict[str, int]) -> date:
    """The first day the experiment's delivery is final: its end plus its medium's attribution
    window (`attribution_days`: experiment id -> days)."""
    return e.end + timedelta(days=attribution_days[e.id])


def analysed_on(table: ExperimentsFile, day: date, attribution_days: dict[str, int]) -> list[Experiment]:
    """Experiments with data to read on `day`: started, and not final before it."""
    return [e for e in table.experiments if e.start <= day <= final_from(e, attribution_days)]


def look_dates(e: Experiment, day: date) -> list[date]:
    last = min(day, e.end)
    return [e.start + timedelta(days=i) for i in range((last - e.start).days + 1)]


def looks(wh: Warehouse, e: Experiment, day: date) -> tuple[list[tuple[date, pd.DataFrame]], int]:
    """(look day, unit rows) for every look that has rows, and the units left out."""
    wh.ensure_table(get_schema(UNIT_TOTALS))
    dates = look_dates(e, day)
    frame = wh.query_arrow(
        f"select * from {UNIT_TOTALS} where experiment_id = @e and look_date between @first and @last "
        "order by look_date, arm, unit_id",  # one order, so float sums (and a re-run's rows) are the same
        {"e": e.id, "first": dates[0], "last": dates[-1]},
    ).to_pandas()
    out = []
    excluded = 0
    for d in dates:
        rows = frame[frame["look_date"] == d] if len(frame) else frame
        if not len(rows):
            continue
        excluded = int(rows.loc[rows["arms_seen"] > 1, "unit_id"].nunique())
        out.append((d, rows[rows["arms_seen"] == 1].reset_index(drop=True)))
    return out, excluded


def read_out(
    wh: Warehouse, table: ExperimentsFile, day: date, attribution_days: dict[str, int], labels: JobLabels
) -> dict[str, Any]:
    """Analyse, write results and decisions; return the report (for the run summary)."""
    report: dict[str, Any] = {"day": day.isoformat(), "experiments": []}
    results: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    analysed = analysed_on(table, day, attribution_days)
    for e in analysed:
        data, excluded = looks(wh, e, day)
        final = day >= final_from(e, attribution_days)
        rows, decided = analysis.analyse(e, data, table.alpha, table.srm_alpha, final)
        results += [{"experiment_id": e.id, **r} for r in analysis.as_records(rows)]
        decisions += [
            {"decision_date": day, "experiment_id": e.id, "arm": d.arm, "slot": d.slot, "decision": d.decision,
             "reason": d.reason, "primary_metric": e.primary_metric,
             "primary_lift": None if pd.isna(d.primary_lift) else d.primary_lift,
             "primary_pvalue": d.primary_pvalue, "srm_pvalue": d.srm_pvalue, "excluded_units": excluded,
             "final": final}
            for d in decided
        ]  # fmt: skip
        report["experiments"].append({
            "id": e.id, "description": e.description, "start": e.start.isoformat(), "end": e.end.isoformat(),
            "primary_metric": e.primary_metric, "guardrails": list(e.guardrails), "control": e.control_arm,
            "arms": [a.model_dump() for a in e.arms], "looks": len(data), "excluded_units": excluded, "final": final,
            "decisions": [dict(d) | {"decision_date": day.isoformat()} for d in decisions if d["experiment_id"] == e.id],
            "results": [
                {k: (v.isoformat() if isinstance(v, date) else v) for k, v in r.items()}
                for r in results if r["experiment_id"] == e.id
            ],
        })  # fmt: skip
    _write_results(wh, results, {e.id for e in analysed}, labels)
    schema = get_schema(DECISIONS)
    wh.ensure_table(schema)
    wh.replace_partition_from_arrow(schema, day, pa.Table.from_pylist(decisions, schema=schema.arrow_schema()), labels)
    return report


def _write_results(wh: Warehouse, rows: list[dict[str, Any]], analysed: set[str], labels: JobLabels) -> None:
    """Replace each look's partition: today's rows plus those of experiments not analysed."""
    schema = get_schema(RESULTS)
    wh.ensure_table(schema)
    by_date: dict[date, list[dict[str, Any]]] = {}
    for r in rows:
        by_date.setdefault(r["look_date"], []).append(r)
    for look_date, new in sorted(by_date.items()):
        kept = [
            r for r in wh.query_arrow(f"select * from {RESULTS} where look_date = @d", {"d": look_date}).to_pylist()
            if r["experiment_id"] not in analysed
        ]
        data = pa.Table.from_pylist(kept + new, schema=schema.arrow_schema())
        wh.replace_partition_from_arrow(schema, look_date, data, labels)
