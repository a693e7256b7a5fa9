"""One readable summary per DAG run: rows per layer, DQ results (with their Data Docs), model
metrics and the version published, or why none was; and the slot changes of a sync.

The `summarize` teardown task at the end of every DAG (it runs whatever failed, and does not
decide the run's state) calls `write`: the summary is kept as JSON in the DQ store under
`run_summaries/<dag_id>/<run_id>.json`, logged, and returned as the task's XCom (markdown).
The Airflow UI shows it on the run's page, tab "Run summary" (`plugins/adctr_operations.py`
serves `render_html` from the stored JSON).
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Any

from adctr.core.names import safe_name
from adctr.core.storage import ObjectNotFoundError, ObjectStore
from adctr.orchestration import experiment_summary
from adctr.warehouse import elt

LAYERS = ("raw", "staging", "features", "training")
PREFIX = "run_summaries"


def summary_key(dag_id: str, run_id: str) -> str:
    return f"{PREFIX}/{dag_id}/{safe_name(run_id, keep='-.+')}.json"


def scoring_report_key(run_id: str) -> str:
    """Artifact-store key of a batch scoring run's facts (scores written, truth evaluation)."""
    return f"scoring_runs/{safe_name(run_id, keep='-.+')}.json"


def _scoring_report(store: ObjectStore, run_id: str) -> dict[str, Any] | None:
    try:
        return json.loads(store.read_bytes(scoring_report_key(run_id)))
    except ObjectNotFoundError:
        return None


def dag_tables(dag_id: str) -> list[str]:
    """The warehouse tables a DAG writes (raw for the daily DAG, then its SQL models; a branch
    variant's retrain DAG, `<base>__<variant>`, writes its scoped tables)."""
    base, _, variant = dag_id.partition("__")
    if variant:
        from adctr.core import settings
        from adctr.variants.deployment import variant_folder
        from adctr.variants.plan import plan_for

        folder = variant_folder(settings.dags_folder(), variant)
        if (folder / settings.VARIANT_FILE).is_file():
            plan = plan_for(folder)
            return [plan.physical(t) for t in plan.rebuild]
    tables = [m.table_id for m in elt.sql_models_for_dag(base)]
    if base == "ad_performance_daily":
        tables = ["raw.ad_performance", "raw.ad_performance_quarantine", *tables]
    if base == "batch_scoring":
        tables = ["scoring.combination_scores", *tables]
    if base == "abn_experiment":
        tables = ["experiments.assignments", "experiments.tracking_ids", *tables, "experiments.results",
                  "experiments.decisions"]  # fmt: skip
    return tables


def collect(
    dag_id: str,
    run_id: str,
    run_type: str,
    report_dates: list[str],
    task_states: dict[str, str],
    warehouse: Any,
    dq_results: list[dict[str, Any]],
    artifact_store: ObjectStore,
) -> dict[str, Any]:
    """Everything the summary says, as plain JSON-able data."""
    from adctr.core.table_schemas import get_schema
    from adctr.release import artifacts, slots

    rows: dict[str, dict[str, int]] = {}
    for table_id in dag_tables(dag_id) if warehouse is not None else []:
        try:
            counts = warehouse.partition_counts(get_schema(table_id))
        except Exception:  # noqa: BLE001 - table not created yet
            counts = {}
        rows[table_id] = {d: int(counts.get(_as_date(d), 0)) for d in report_dates}
    failed = sorted(t for t, s in task_states.items() if s == "failed")
    not_run = sorted(t for t, s in task_states.items() if s == "upstream_failed")
    models = artifacts.published_versions(artifact_store, run_id)
    builds_models = any(t.startswith("publish") for t in task_states)
    why_none = None
    if builds_models and not models:
        why_none = ("failed: " + ", ".join(failed)) if failed else "no publish task succeeded"
        if not_run:
            why_none += "; not run (upstream failed): " + ", ".join(not_run)
    slot_changes = [r for r in slots.audit_log(artifact_store) if r.get("run_id") == run_id]
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "run_type": run_type,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "report_dates": report_dates,
        "tasks": {"total": len(task_states), "failed": failed, "not_run": not_run,
                  "succeeded": sum(s == "success" for s in task_states.values())},  # fmt: skip
        "rows": rows,
        "dq": sorted(
            ({k: r.get(k) for k in ("table", "partition", "success", "evaluated", "failed", "warnings", "docs")}
             for r in dq_results if r.get("run_id") == run_id),
            key=lambda r: (r["table"], r["partition"]),
        ),  # fmt: skip
        "models": [
            {k: m[k] for k in ("model", "variant", "version", "uri", "blessed", "holdout", "base_rate_log_loss")}
            | {"reasons": _reasons(m.get("decision"))}
            for m in models
        ],
        "no_model_because": why_none,
        "slot_changes": slot_changes,
        "scoring": _scoring_report(artifact_store, run_id),
        "experiments": experiment_summary.collect(artifact_store, run_id),
    }


def _reasons(decision: Any) -> list[str]:
    """The gate's reasons (a manifest's `decision` holds the list; metrics.json a dict)."""
    if isinstance(decision, dict):
        return list(decision.get("reasons") or [])
    return list(decision or [])


def _as_date(value: str) -> Any:
    from datetime import date

    return date.fromisoformat(value)


def _layer_order(table_id: str) -> tuple[int, str]:
    """Tables in pipeline order: raw, staging, features, training, then the rest."""
    layer = table_id.split(".")[0]
    return (LAYERS.index(layer) if layer in LAYERS else len(LAYERS), table_id)


def _model_facts(m: dict[str, Any]) -> str:
    h = m["holdout"]
    return (f"blessed={m['blessed']}: log loss {h['log_loss']:.5f} (base rate {m['base_rate_log_loss']:.5f}), "
            f"AUC {h['auc']:.4f}, calibration {h['calibration']:.3f}")  # fmt: skip


def render_markdown(s: dict[str, Any]) -> str:
    lines = [f"## {s['dag_id']} · {s['run_id']} ({s['run_type']})"]
    tasks = s["tasks"]
    state = "all tasks succeeded" if not tasks["failed"] else "failed: " + ", ".join(tasks["failed"])
    lines.append(f"{tasks['succeeded']}/{tasks['total']} tasks succeeded; {state}")
    if s.get("warehouse_error"):
        lines.append(f"warehouse not readable: {s['warehouse_error']}")
    if s["rows"] and s["report_dates"]:
        lines += ["", "### Rows per layer", "| table | " + " | ".join(s["report_dates"]) + " |",
                  "|---|" + "---:|" * len(s["report_dates"])]  # fmt: skip
        for table in sorted(s["rows"], key=_layer_order):
            lines.append(f"| {table} | " + " | ".join(str(s["rows"][table].get(d, 0)) for d in s["report_dates"]) + " |")
    if s["dq"]:
        lines += ["", "### Data quality", "| table | partition | result | checks | warnings | Data Docs |",
                  "|---|---|---|---:|---:|---|"]  # fmt: skip
        for r in s["dq"]:
            result = "PASS" if r["success"] else "FAIL: " + "; ".join(r["failed"] or [])[:200]
            lines.append(f"| {r['table']} | {r['partition']} | {result} | {r['evaluated']} | {r['warnings']} | {r['docs'] or ''} |")
    if s["models"] or s["no_model_because"]:
        lines += ["", "### Models"]
        for m in s["models"]:
            lines.append(f"- {m['model']}/{m['variant']} **v{m['version']}** {_model_facts(m)}; {m['uri']}")
            if m["reasons"]:
                lines.append(f"  - gate: {'; '.join(m['reasons'])}")
        if s["no_model_because"]:
            lines.append(f"- no version published: {s['no_model_because']}")
    if s["slot_changes"]:
        lines += ["", "### Slot changes"]
        for r in s["slot_changes"]:
            lines.append(f"- {r['slot']}: {json.dumps(r.get('from'))} → {json.dumps(r.get('to'))} ({r.get('action')}: {r.get('why')})")
    lines += _scoring_lines(s.get("scoring"))
    lines += experiment_summary.markdown(s.get("experiments"))
    return "\n".join(lines)


TRUTH_HEADER = ("slot", "context", "ad groups", "model top-1", "random choice", "served today", "top-1 is the best")


def scoring_parts(report: dict[str, Any] | None) -> tuple[list[str], list[list[str]]]:
    """A scoring run's facts (lines) and its truth table (rows under TRUTH_HEADER)."""
    facts: list[str] = []
    scoring = (report or {}).get("scoring")
    if scoring:
        facts.append(f"{scoring['candidates']} candidates x {len(scoring['slots'])} slot(s) = {scoring['rows']} "
                     f"scores for {scoring['scoring_date']} in {scoring['seconds']:.1f} s")  # fmt: skip
        for m in scoring["slots"]:
            facts.append(f"{m['slot']}: {m['model']}/{m['variant']} v{m['version']} ({m['trees']} trees, "
                         f"{m['statements']} statement(s), sha256 {m['model_sha256'][:12]})")  # fmt: skip
    table = []
    for r in (report or {}).get("truth") or []:
        served = "n/a" if r["served_share_of_best"] is None else f"{r['served_share_of_best']:.1%}"
        table.append([f"{r['slot']} ({r['model']})", f"{r['medium']}/{r['device']}", str(r["ad_groups"]),
                      f"{r['model_top1_share_of_best']:.1%}", f"{r['random_share_of_best']:.1%}", served,
                      f"{r['top1_is_best']:.0%}"])  # fmt: skip
    return facts, table


TRUTH_CAPTION = ("Top-1 combination per ad group against the simulator's truth: share of the best "
                 "combination's true rate, mean over ad groups")  # fmt: skip


def _scoring_lines(report: dict[str, Any] | None) -> list[str]:
    facts, table = scoring_parts(report)
    if not facts and not table:
        return []
    lines = ["", "### Batch scoring", *(f"- {f}" for f in facts)]
    if table:
        lines += ["", TRUTH_CAPTION + ":", "", "| " + " | ".join(TRUTH_HEADER) + " |",
                  "|---|---|" + "---:|" * (len(TRUTH_HEADER) - 2)]  # fmt: skip
        lines += ["| " + " | ".join(row) + " |" for row in table]
    return lines


def _scoring_html(report: dict[str, Any] | None) -> str:
    e = html.escape
    facts, table = scoring_parts(report)
    if not facts and not table:
        return ""
    out = "<h3>Batch scoring</h3><ul>" + "".join(f"<li>{e(f)}</li>" for f in facts) + "</ul>"
    if table:
        head = "".join(f"<th>{e(h)}</th>" for h in TRUTH_HEADER)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in table)
        out += f"<p>{e(TRUTH_CAPTION)}</p><table><tr>{head}</tr>{body}</table>"
    return out


def write(store: ObjectStore, summary: dict[str, Any]) -> str:
    key = summary_key(summary["dag_id"], summary["run_id"])
    store.write_bytes(key, json.dumps(summary, indent=2, default=str).encode())
    return store.uri(key)


def read(store: ObjectStore, dag_id: str, run_id: str) -> dict[str, Any] | None:
    try:
        return json.loads(store.read_bytes(summary_key(dag_id, run_id)))
    except ObjectNotFoundError:
        return None


def docs_href(docs: str | None, dq_store: ObjectStore, docs_route: str) -> str | None:
    """A browser link to a Data Docs page: the plugin's route for a local store, the
    authenticated Cloud Console address for GCS."""
    if not docs:
        return None
    if docs.startswith("gs://"):
        return "https://storage.cloud.google.com/" + docs[len("gs://"):]
    root = dq_store.uri("")
    if docs.startswith(root):
        return f"{docs_route.rstrip('/')}/{docs[len(root):].lstrip('/')}"
    return None


def render_html(s: dict[str, Any] | None, dq_store: ObjectStore, docs_route: str) -> str:
    """The summary as a small standalone page (shown in the run's "Run summary" tab)."""
    e = html.escape
    if s is None:
        body = "<p>No summary for this run yet: it is written by the run's last task, <code>summarize</code>.</p>"
        return _page("Run summary", body)
    parts = [f"<h2>{e(s['dag_id'])} · {e(s['run_id'])} <small>({e(s['run_type'])})</small></h2>"]
    tasks = s["tasks"]
    status = "all tasks succeeded" if not tasks["failed"] else "failed: " + ", ".join(tasks["failed"])
    parts.append(f"<p class='{'bad' if tasks['failed'] else 'ok'}'>{tasks['succeeded']}/{tasks['total']} tasks "
                 f"succeeded; {e(status)}</p>")  # fmt: skip
    if s.get("warehouse_error"):
        parts.append(f"<p class='bad'>warehouse not readable: {e(s['warehouse_error'])}</p>")
    if s["rows"] and s["report_dates"]:
        head = "".join(f"<th>{e(d)}</th>" for d in s["report_dates"])
        body = "".join(
            f"<tr><td>{e(t)}</td>" + "".join(f"<td class='n'>{s['rows'][t].get(d, 0)}</td>" for d in s["report_dates"]) + "</tr>"
            for t in sorted(s["rows"], key=_layer_order)
        )
        parts.append(f"<h3>Rows per layer</h3><table><tr><th>table</th>{head}</tr>{body}</table>")
    if s["dq"]:
        rows = []
        for r in s["dq"]:
            href = docs_href(r["docs"], dq_store, docs_route)
            link = f"<a href='{e(href)}' target='_blank'>Data Docs</a>" if href else ""
            result = "PASS" if r["success"] else "FAIL: " + e("; ".join(r["failed"] or [])[:300])
            rows.append(f"<tr><td>{e(r['table'])}</td><td>{e(r['partition'])}</td>"
                        f"<td class='{'ok' if r['success'] else 'bad'}'>{result}</td><td class='n'>{r['evaluated']}</td>"
                        f"<td class='n'>{r['warnings']}</td><td>{link}</td></tr>")  # fmt: skip
        parts.append("<h3>Data quality</h3><table><tr><th>table</th><th>partition</th><th>result</th>"
                     "<th>checks</th><th>warnings</th><th></th></tr>" + "".join(rows) + "</table>")  # fmt: skip
    if s["models"] or s["no_model_because"]:
        items = []
        for m in s["models"]:
            items.append(
                f"<li><b>{e(m['model'])}/{e(m['variant'])} v{m['version']}</b> {e(_model_facts(m))}"
                f"<br><code>{e(m['uri'])}</code>"
                + (f"<br>gate: {e('; '.join(m['reasons']))}" if m["reasons"] else "") + "</li>"
            )
        if s["no_model_because"]:
            items.append(f"<li class='bad'>no version published: {e(s['no_model_because'])}</li>")
        parts.append("<h3>Models</h3><ul>" + "".join(items) + "</ul>")
    if s["slot_changes"]:
        items = "".join(
            f"<li>{e(r['slot'])}: {e(json.dumps(r.get('from')))} → {e(json.dumps(r.get('to')))} "
            f"({e(str(r.get('action')))}: {e(str(r.get('why')))})</li>"
            for r in s["slot_changes"]
        )
        parts.append(f"<h3>Slot changes</h3><ul>{items}</ul>")
    parts.append(_scoring_html(s.get("scoring")))
    parts.append(experiment_summary.html_part(s.get("experiments")))
    parts.append(f"<p class='meta'>written {e(s['written_at'])}</p>")
    return _page(f"Run summary · {s['dag_id']}", "".join(parts))


def _page(title: str, body: str) -> str:
    style = ("body{font-family:system-ui,sans-serif;margin:1rem;color:#222}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px}td.n{text-align:right}.ok{color:#1a7f37}"
             ".bad{color:#c62828}.meta{color:#777;font-size:small}")  # fmt: skip
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{body}</body></html>")  # fmt: skip
