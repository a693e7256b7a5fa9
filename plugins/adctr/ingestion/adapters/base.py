"""The adapter interface every ad-media source implements.

An adapter pulls one medium's report for one date and returns it in the *canonical report
fields* (REPORT_FIELDS, the report-job API's names) as an Arrow table of strings, plus the
totals the source itself reports for that pull. Everything after that (typing, row checks,
quarantine, reconciliation) is shared, so a new medium only writes the pull.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import pyarrow as pa

from adctr.core.errors import PermanentError

# Canonical report fields -> raw.ad_performance columns.
REPORT_FIELDS = {
    "DAY": "report_date",
    "ACCOUNT_ID": "account_id",
    "ADVERTISER_ID": "advertiser_id",
    "INDUSTRY": "industry",
    "CAMPAIGN_ID": "campaign_id",
    "CAMPAIGN_OBJECTIVE": "campaign_objective",
    "ADGROUP_ID": "ad_group_id",
    "PLACEMENT": "placement",
    "AD_ID": "creative_id",
    "AD_TITLE": "headline",
    "AD_DESCRIPTION": "description",
    "AD_TYPE": "ad_format",
    "AD_LABEL": "label",  # the creative's label on the medium (the experiment loop's tracking id)
    "DEVICE": "device",
    "IMPS": "impressions",
    "CLICKS": "clicks",
    "CONVERSIONS": "conversions",
    "COST": "cost_micros",
    "CURRENCY": "currency",
}
# Totals a source reports per pull, in raw column names (cost in micros).
TOTAL_COLUMNS = ("impressions", "clicks", "conversions", "cost_micros")


class SourceError(PermanentError, RuntimeError):
    """The source API refused or failed a request in a way retrying will not fix."""


class SourceUnavailableError(RuntimeError):
    """The source kept failing transiently past the client's retries; Airflow may retry later."""


@dataclass(frozen=True)
class Report:
    """One medium's report for one date, as pulled: string columns in canonical field names."""

    medium: str
    report_date: date
    source_job_id: str
    table: pa.Table
    # What the source says the pull holds: {"rows": n, "impressions": n, ..., "cost_micros": n}.
    source_totals: dict[str, int] = field(default_factory=dict)
    # Whether the source says this date will not be restated again (None = it does not say).
    final: bool | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.table.column_names)

    @classmethod
    def from_rows(
        cls, medium: str, report_date: date, source_job_id: str, fields: tuple[str, ...],
        rows: list[list[object]], source_totals: dict[str, int] | None = None,
    ) -> "Report":  # fmt: skip
        """A report from row lists (tests, small sources); values are kept as text."""
        columns = {
            name: pa.array([None if r[i] is None else str(r[i]) for r in rows], pa.string())
            for i, name in enumerate(fields)
        }
        return cls(medium, report_date, source_job_id, pa.table(columns), source_totals or {})


class SourceAdapter(Protocol):
    medium: str

    def fetch(self, report_date: date) -> Report: ...
