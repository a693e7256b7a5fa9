"""A short, readable account of what the pipeline produced (printed by the demo)."""

from __future__ import annotations

import json
from typing import Any

from adctr.core.storage import ObjectStore
from adctr.core.table_schemas import all_schemas


def warehouse_rows(warehouse: Any) -> dict[str, dict[str, int]]:
    """Rows per table and partition date, for every table that exists."""
    out: dict[str, dict[str, int]] = {}
    for table_id, schema in all_schemas().items():
        try:
            counts = warehouse.partition_counts(schema)
        except Exception:  # table not created yet
            continue
        out[table_id] = {d.isoformat(): n for d, n in counts.items()}
    return out


def render(rows: dict[str, dict[str, int]], dq: list[dict[str, Any]], models: list[dict[str, Any]]) -> str:
    lines = ["", "=== Warehouse: rows per table and partition ==="]
    dates = sorted({d for counts in rows.values() for d in counts})
    layers = ["raw", "staging", "features", "training"]
    tables = sorted(
        (t for t in rows if rows[t]),
        key=lambda t: (layers.index(t.split(".")[0]) if t.split(".")[0] in layers else 9, t),
    )
    if dates:
        width = max(len(t) for t in tables)
        lines.append(f"{'date':<12}" + "".join(f"{t:>{width + 2}}" for t in tables))
        for d in dates:
            lines.append(f"{d:<12}" + "".join(f"{rows[t].get(d, 0):>{width + 2}}" for t in tables))
    lines.append("")
    lines.append("=== Data quality (latest validation per suite and partition) ===")
    by_suite: dict[str, list[dict[str, Any]]] = {}
    for r in dq:
        by_suite.setdefault(r["suite"], []).append(r)
    for suite, results in sorted(by_suite.items()):
        results.sort(key=lambda r: r["partition"])
        passed = sum(r["success"] for r in results)
        warnings = sum(r["warnings"] for r in results)
        status = "PASS" if passed == len(results) else "FAIL"
        lines.append(
            f"{status}  {suite:<34} {passed}/{len(results)} partitions passed "
            f"({results[0]['evaluated']} checks each), {warnings} warnings"
        )
        for r in results:
            if not r["success"]:
                lines.append(f"      {r['partition']}: " + "; ".join(r["failed"])[:300])
        lines.append(f"      Data Docs ({results[-1]['partition']}): {results[-1]['docs']}")
    lines.append("")
    lines.append("=== Models published ===")
    for m in models:
        h = m["holdout"]
        lines.append(
            f"{m['model']}/{m['variant']} v{m['version']}  blessed={m['blessed']}  "
            f"holdout: log_loss={h['log_loss']:.5f} (base rate {m['base_rate_log_loss']:.5f}) "
            f"NE={h['normalized_entropy']:.4f} AUC={h['auc']:.4f} calibration={h['calibration']:.3f}"
        )
        lines.append(f"    {m['uri']}")
        lines.append(f"    decision: {json.dumps(m['decision'], ensure_ascii=False)}")
    return "\n".join(lines)


def render_slots(store: ObjectStore) -> str:
    """What each configured serving slot serves now, and how to start the scoring service."""
    from adctr.release import slots

    lines = ["", "=== Serving slots (config/slots.yaml -> serving/<slot>/<version>/) ==="]
    for spec in slots.load_slots():
        state = slots.current(store, spec.slot)
        served = f"{state['model']}/{state['variant']} v{state['version']}" if state else "nothing yet"
        lines.append(f"  {spec.slot:6s} {served:24s} {store.uri(slots.slot_prefix(spec.slot))}")
    lines.append("  score them: make serve, then POST http://127.0.0.1:8501/v1/models/<slot>:predict")
    return "\n".join(lines)


def render_scoring(warehouse: Any, run: dict[str, Any] | None, scoring_date: Any) -> str:
    """Batch scoring's facts, the best combinations of a few ad groups, and the truth table."""
    from adctr.orchestration.run_summary import TRUTH_CAPTION, TRUTH_HEADER, scoring_parts

    lines = ["", "=== Batch scoring (scoring.combination_scores -> scoring.best_combinations) ==="]
    facts, table = scoring_parts((run or {}).get("scoring"))
    lines += [f"  {f}" for f in facts] or ["  no scoring facts: see the batch_scoring run's log"]
    best = warehouse.query_arrow(
        "select slot, ad_group_id, score_rank, headline_asset_id, description_asset_id, image_asset_id, served, score "
        "from scoring.best_combinations where scoring_date = @d and score_rank = 1 order by slot, ad_group_id limit 6",
        {"d": scoring_date},
    ).to_pylist()
    if best:
        lines.append("  top-1 combination (first ad groups):")
        for b in best:
            lines.append(f"    {b['slot']:5s} {b['ad_group_id']:18s} {b['headline_asset_id'].rsplit('-', 1)[1]} x "
                         f"{b['description_asset_id'].rsplit('-', 1)[1]} x {b['image_asset_id'].rsplit('-', 1)[1]}  "
                         f"score {b['score']:.4f}{'  (serving)' if b['served'] else ''}")  # fmt: skip
    if table:
        lines.append(f"  {TRUTH_CAPTION}:")
        widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(TRUTH_HEADER)]
        for row in [list(TRUTH_HEADER), *table]:
            lines.append("    " + "  ".join(c.ljust(w) for c, w in zip(row, widths)))
    return "\n".join(lines)


def render_experiment(warehouse: Any, run: dict[str, Any] | None) -> str:
    """The ABn loop's output: tracking ids issued, delivery joined back, and the read-out."""
    from adctr.orchestration.experiment_summary import HEADER, latest_rows

    lines = ["", "=== ABn experiment (experiments.tracking_ids -> delivery -> experiments.results) ==="]
    ids = warehouse.query_arrow(
        "select serve_date, arm, count(*) as n, min(tracking_id) as example from experiments.tracking_ids "
        "group by serve_date, arm order by serve_date, arm"
    ).to_pylist()
    for r in ids:
        lines.append(f"  {r['serve_date']} {r['arm']:11s} {r['n']:4d} creatives submitted, e.g. {r['example']}")
    joined = warehouse.query_arrow(
        "select arm, sum(impressions) as imps, sum(clicks) as clicks, sum(conversions) as conv "
        "from experiments.unit_daily group by arm order by arm"
    ).to_pylist()
    for r in joined:
        lines.append(f"  delivered, joined back by tracking id: {r['arm']:11s} {r['imps']:>9,} impressions "
                     f"{r['clicks']:>7,} clicks {r['conv']:>5,} conversions")  # fmt: skip
    for exp in ((run or {}).get("experiments") or {}).get("experiments", []):
        lines.append(f"  {exp['id']}: {exp['looks']} look(s), primary {exp['primary_metric']}, control {exp['control']}")
        for d in exp["decisions"]:
            lines.append(f"    {d['arm']} ({d['slot']}): {d['decision']} - {d['reason']}")
        rows = latest_rows(exp)
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)] if rows else []
        for row in [list(HEADER), *rows] if rows else []:
            lines.append("    " + "  ".join(c.ljust(w) for c, w in zip(row, widths)))
        lines.append("    the lift plot is in the run's Run summary tab (make airflow-ui)")
    return "\n".join(lines)
