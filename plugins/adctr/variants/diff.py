"""The diff is the experiment: what a deployed branch changes against main's deployment.

SQL and expectation files, config keys, training code files, and the tables its DAG rebuilds
into variant-scoped tables (with why). `python -m adctr.variants diff NAME` prints it; the
variant DAG's docs in the UI carry it (`markdown`); its published models record `summary`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adctr.core import settings
from adctr.variants import deployment as deployments
from adctr.variants.isolated import CODE_DIR
from adctr.variants.plan import plan_for


def _files(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def file_changes(mine: Path, theirs: Path, prefix: str) -> list[str]:
    """`added|changed|removed <prefix>/<path>` for each file that differs between two folders."""
    a, b = _files(mine), _files(theirs)
    out = [f"added {prefix}/{k}" for k in sorted(a.keys() - b.keys())]
    out += [f"changed {prefix}/{k}" for k in sorted(a.keys() & b.keys()) if a[k] != b[k]]
    out += [f"removed {prefix}/{k}" for k in sorted(b.keys() - a.keys())]
    return sorted(out, key=lambda s: s.split(" ", 1)[1])


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{path}.{k}" if path else str(k)))
        return out
    return {path: value}


def config_changes(mine: Path, theirs: Path) -> list[str]:
    """`<file>: <dotted key>: <main value> -> <branch value>` for each config key that differs."""
    out = []
    for path in sorted({p.name for p in mine.glob("*.yaml")} | {p.name for p in theirs.glob("*.yaml")}):
        a = _flatten(settings.read_yaml((mine / path).read_text("utf-8")) or {}) if (mine / path).exists() else {}
        b = _flatten(settings.read_yaml((theirs / path).read_text("utf-8")) or {}) if (theirs / path).exists() else {}
        for key in sorted(a.keys() | b.keys()):
            if a.get(key, "<absent>") != b.get(key, "<absent>"):
                out.append(f"{path}: {key}: {b.get(key, '<absent>')!r} -> {a.get(key, '<absent>')!r}")
    return out


def describe(folder: Path) -> dict[str, Any]:
    """What the variant deployed in `folder` changes against main."""
    root = settings.project_root()
    with settings.deployment(folder):
        variant, commit = settings.variant(), settings.git_commit()
    slot_file = folder / deployments.SLOT_FILE
    plan = plan_for(folder)
    code = file_changes(folder / CODE_DIR / "training", root / "training", "training")
    code += file_changes(folder / CODE_DIR / "adctr", root / "plugins" / "adctr", "plugins/adctr")
    return {
        "variant": variant,
        "git_commit": commit,
        "slot": slot_file.read_text("utf-8").strip() if slot_file.is_file() else None,
        "sql": file_changes(folder / "sql", settings.main_sql_dir(), "sql"),
        "expectations": file_changes(folder / "expectations", settings.main_expectations_dir(), "expectations"),
        "config": config_changes(folder / "config", settings.main_config_dir()),
        "training_code": code,
        "modified_models": plan.modified,
        "rebuilds": {t: plan.physical(t) for t in plan.rebuild},
    }


def summary(diff: dict[str, Any]) -> dict[str, Any]:
    """The diff as a published model's manifest records it (file lists, counts)."""
    return {k: diff[k] for k in ("git_commit", "sql", "expectations", "config", "training_code", "rebuilds")}


def _sections(diff: dict[str, Any]) -> list[tuple[str, list[str]]]:
    modified = diff["modified_models"]
    rebuilds = [f"{t} -> {p}" + (f"  ({modified[t]})" if t in modified else "  (reads a rebuilt table)")
                for t, p in diff["rebuilds"].items()]  # fmt: skip
    return [
        ("SQL files", diff["sql"]),
        ("Expectation suites", diff["expectations"]),
        ("Config keys (main -> branch)", diff["config"]),
        ("Training code", diff["training_code"]),
        ("Tables it rebuilds (everything else is read from production)", rebuilds),
    ]


def text(diff: dict[str, Any]) -> str:
    lines = [f"variant {diff['variant']} (commit {diff['git_commit'][:12]}, slot {diff['slot']}) against main:"]
    for title, items in _sections(diff):
        lines.append(f"  {title}:" + ("" if items else " none"))
        lines += [f"    {item}" for item in items]
    return "\n".join(lines)


def markdown(diff: dict[str, Any]) -> str:
    out = [f"### What branch `{diff['variant']}` changes (commit `{diff['git_commit'][:12]}`, slot `{diff['slot']}`)", ""]
    for title, items in _sections(diff):
        out.append(f"**{title}:** " + ("none" if not items else ""))
        out += [f"- `{item}`" for item in items]
        out.append("")
    return "\n".join(out)
