"""Validation outcomes: what passed, what failed (with observed values), where the docs are."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from adctr.core.errors import PermanentError

BLOCKING = "critical"


class QualityGateError(PermanentError, RuntimeError):
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
    why: str | None = None  # the suite's reason for the check (meta.why)

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
        reason = f" [{self.why}]" if self.why else ""
        return f"{self.expectation}{where}{reason}: " + (", ".join(parts) or "failed")


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


def dq_store():  # noqa: ANN201 - ObjectStore
    from adctr.core.storage import get_store

    return get_store("dq")


def result_key(table_id: str, partition: str) -> str:
    """Latest result for a table partition (each validation also keeps its own Data Docs)."""
    return f"results/{table_id}/{partition}.json"


def save(summary: ValidationSummary) -> str:
    store = dq_store()
    key = result_key(summary.table_id, summary.partition)
    store.write_bytes(key, summary.to_json().encode("utf-8"))
    return store.uri(key)


def load_result(table_id: str, partition: str) -> dict[str, Any] | None:
    store = dq_store()
    key = result_key(table_id, partition)
    return json.loads(store.read_bytes(key)) if store.exists(key) else None


def latest_results() -> list[dict[str, Any]]:
    """The latest saved result per (table, partition), sorted."""
    store = dq_store()
    return [json.loads(store.read_bytes(key)) for key in store.list("results/") if key.endswith(".json")]


def raise_if_blocking(summary: ValidationSummary) -> None:
    """Fail with every blocking problem named: failed checks, and checks that could not run."""
    problems = [o.describe() for o in summary.blocking_failures if not o.error]
    problems += [o.describe() for o in summary.errors]
    if not problems:
        return
    kind = "failed" if summary.blocking_failures else "could not be evaluated"
    raise QualityGateError(
        f"data-quality gate {kind}: suite {summary.suite} on {summary.table_id} partition "
        f"{summary.partition}: " + "; ".join(problems)
        + (f" (Data Docs: {summary.docs})" if summary.docs else "")
    )
