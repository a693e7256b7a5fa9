"""The adapter interface every ad-media source implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pyarrow as pa


class SourceError(RuntimeError):
    """The source API refused or failed a request in a way retrying will not fix."""


class SourceUnavailableError(RuntimeError):
    """The source kept failing transiently past the client's retries; Airflow may retry later."""


@dataclass(frozen=True)
class Report:
    """One medium's report for one date, as pulled: rows in source field names."""

    medium: str
    report_date: date
    source_job_id: str
    fields: tuple[str, ...]
    rows: list[list[object]]


class SourceAdapter(Protocol):
    medium: str

    def fetch(self, report_date: date) -> Report: ...


@dataclass(frozen=True)
class ReportBatch:
    """A pulled report converted to the raw schema (audit columns filled)."""

    medium: str
    report_date: date
    source_job_id: str
    table: "pa.Table"
