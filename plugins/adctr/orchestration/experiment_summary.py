"""The ABn read-out in a run summary: per experiment, the decision per arm, the latest look's
lifts with their intervals (and the true lift where the source knows it), and the lift plot.

`abn_experiment`'s read-out task stores its report (`experiment_report_key`) and one PNG per
experiment (`experiment_plot_key`) in the artifact store; `collect` folds them into the run
summary (the PNG inlined), and the renderers draw them in the "Run summary" tab and the log.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from adctr.core.names import safe_name
from adctr.core.storage import ObjectNotFoundError, ObjectStore

HEADER = ("arm", "slot", "metric", "control", "arm value", "lift", "interval", "sequential interval", "true lift", "units")


def experiment_report_key(run_id: str) -> str:
    return f"experiment_runs/{safe_name(run_id, keep='-.+')}.json"


def experiment_plot_key(run_id: str, experiment_id: str) -> str:
    return f"experiment_runs/{safe_name(run_id, keep='-.+')}/{safe_name(experiment_id)}.png"


def collect(store: ObjectStore, run_id: str) -> dict[str, Any] | None:
    """The run's read-out, with each plot inlined (base64), or None if it wrote none."""
    try:
        report = json.loads(store.read_bytes(experiment_report_key(run_id)))
    except ObjectNotFoundError:
        return None
    for exp in report.get("experiments", []):
        try:
            exp["plot_png_base64"] = base64.b64encode(store.read_bytes(exp["plot"])).decode()
        except (KeyError, ObjectNotFoundError):
            exp["plot_png_base64"] = None
    return report


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:+.2f}%"


def latest_rows(exp: dict[str, Any]) -> list[list[str]]:
    """The last look's rows under HEADER."""
    results = exp.get("results") or []
    if not results:
        return []
    last = max(r["look"] for r in results)
    lifts = ((exp.get("truth") or {}).get("lift")) or {}
    out = []
    for r in (r for r in results if r["look"] == last):
        rci = "not yet" if r["rci_lower"] is None else f"[{_pct(r['rci_lower'])}, {_pct(r['rci_upper'])}]"
        true = lifts.get(r["arm"], {}).get(r["metric"])
        out.append([
            r["arm"], r["slot"], r["metric"], f"{r['control_value']:.4%}", f"{r['treatment_value']:.4%}", _pct(r["lift"]),
            f"[{_pct(r['ci_lower'])}, {_pct(r['ci_upper'])}]", rci, _pct(true), f"{r['control_units']} / {r['treatment_units']}",
        ])  # fmt: skip
    return out


def _headline(exp: dict[str, Any]) -> str:
    state = "final" if exp["final"] else "running"
    return (f"{exp['id']}: {exp['start']} .. {exp['end']}, {exp['looks']} look(s), {state}; primary {exp['primary_metric']}"
            + (f", guardrails {', '.join(exp['guardrails'])}" if exp["guardrails"] else "")
            + f"; control {exp['control']}"
            + (f"; {exp['excluded_units']} unit(s) left out (seen in two arms)" if exp["excluded_units"] else ""))  # fmt: skip


def markdown(report: dict[str, Any] | None) -> list[str]:
    if not report or not report.get("experiments"):
        return []
    lines = ["", "### Experiments"]
    for exp in report["experiments"]:
        lines += ["", f"**{_headline(exp)}**", ""]
        lines += [f"- {d['arm']} ({d['slot']}): **{d['decision']}**: {d['reason']}" for d in exp["decisions"]]
        rows = latest_rows(exp)
        if rows:
            lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
            lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def html_part(report: dict[str, Any] | None) -> str:
    e = html.escape
    if not report or not report.get("experiments"):
        return ""
    out = "<h3>Experiments</h3>"
    for exp in report["experiments"]:
        out += f"<h4>{e(_headline(exp))}</h4><ul>"
        for d in exp["decisions"]:
            cls = {"ship": "ok", "invalid": "bad", "stop": "bad"}.get(d["decision"], "")
            out += f"<li><b>{e(d['arm'])}</b> ({e(d['slot'])}): <b class='{cls}'>{e(d['decision'])}</b>: {e(d['reason'])}</li>"
        out += "</ul>"
        rows = latest_rows(exp)
        if rows:
            head = "".join(f"<th>{e(h)}</th>" for h in HEADER)
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
            out += f"<table><tr>{head}</tr>{body}</table>"
        if exp.get("plot_png_base64"):
            out += f"<p><img alt='lift over the looks' src='data:image/png;base64,{exp['plot_png_base64']}'></p>"
    return out
