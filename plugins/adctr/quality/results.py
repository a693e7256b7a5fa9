"""Validation outcomes: what passed, what failed (with observed values), where the docs are."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adctr import settings

BLOCKING = "critical"


class QualityGateError(RuntimeError):
    """A blocking expectation failed, or the validation itself could not run."""


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    severity: str
    success: bool
    observed: Any = None
    unexpected_count: int | None = None
    examples: list[Any] = field(default_factory=list)
    error: str | None = None  # GX could not compute the metric: never read as "data bad"

    def describe(self) -> str:
        where = f" on {self.column}" if self.column else ""
        if self.error:
            return f"{self.expectation}{where}: could not be evaluated ({self.error})"
        parts = []
        if self.unexpected_count is not None:
            parts.append(f"{self.unexpected_count} unexpected rows")
        if self.examples:
            parts.append(f"e.g. {self.examples[:5]}")
        if self.observed is not None:
            parts.append(f"observed {self.observed}")
        return f"{self.expectation}{where}: " + (", ".join(parts) or "failed")


@dataclass(frozen=True)
class ValidationSummary:
    suite: str
    table_id: str
    partition: str
    run_id: str
    outcomes: list[ExpectationOutcome]
    docs: str | None

    @property
    def blocking_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == BLOCKING]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != BLOCKING]

    @property
    def errors(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.error]

    @property
    def success(self) -> bool:
        return not self.blocking_failures and not self.errors

    def summary(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "table": self.table_id,
            "partition": self.partition,
            "run_id": self.run_id,
            "success": self.success,
            "evaluated": len(self.outcomes),
            "passed": sum(o.success for o in self.outcomes),
            "warnings": len(self.warnings),
            "failed": [o.describe() for o in self.blocking_failures],
            "warned": [o.describe() for o in self.warnings],
            "docs": self.docs,
        }

    def to_json(self) -> str:
        return json.dumps(
            {**self.summary(), "outcomes": [asdict(o) for o in self.outcomes]},
            indent=2, ensure_ascii=False, default=str,
        )  # fmt: skip


def results_dir() -> Path:
    return settings.var_dir() / "dq" / "results"


def result_path(table_id: str, partition: str) -> Path:
    """Latest result for a table partition (each validation also keeps its own Data Docs)."""
    return results_dir() / table_id / f"{partition}.json"


def save(summary: ValidationSummary) -> Path:
    path = result_path(summary.table_id, summary.partition)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(summary.to_json(), "utf-8")
    tmp.replace(path)
    return path


def latest_results() -> list[dict[str, Any]]:
    """The latest saved result per (table, partition), sorted."""
    out = []
    for path in sorted(results_dir().glob("*/*.json")):
        out.append(json.loads(path.read_text("utf-8")))
    return out


def raise_if_blocking(summary: ValidationSummary) -> None:
    if summary.errors:
        raise QualityGateError(
            f"data-quality suite {summary.suite} could not evaluate {len(summary.errors)} "
            f"expectation(s) on {summary.table_id} partition {summary.partition}; this is a "
            f"validation failure, not a verdict on the data: "
            + "; ".join(o.describe() for o in summary.errors)
            + (f" (Data Docs: {summary.docs})" if summary.docs else "")
        )
    if summary.blocking_failures:
        raise QualityGateError(
            f"data-quality gate failed: suite {summary.suite} on {summary.table_id} partition "
            f"{summary.partition}: "
            + "; ".join(o.describe() for o in summary.blocking_failures)
            + (f" (Data Docs: {summary.docs})" if summary.docs else "")
        )
