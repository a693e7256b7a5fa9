"""Report dates: calendar days in the ad account's time zone, mapped from runs on purpose.

The daily DAG uses a data-interval timetable in the account zone: the run whose interval
starts on day D (local) processes report date D and starts when D has closed (at the
configured local hour on D+1). Nothing here depends on the machine's or UTC's date.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from adctr.core import settings
from adctr.core.errors import PermanentError


class ReportDateError(PermanentError, ValueError):
    """A requested report date cannot be processed."""


def account_timezone() -> ZoneInfo:
    return ZoneInfo(settings.load_config("pipeline")["account_timezone"])


def report_date_for_interval(data_interval_start: datetime) -> date:
    """The report date a run processes: its interval start, as a local calendar day."""
    if data_interval_start.tzinfo is None:
        raise ReportDateError("data_interval_start must be timezone-aware")
    return data_interval_start.astimezone(account_timezone()).date()


def today_local(now: datetime | None = None) -> date:
    return (now or datetime.now(account_timezone())).astimezone(account_timezone()).date()


def check_complete(report_date: date, now: datetime | None = None) -> date:
    """Reject report dates that have not closed yet in the account time zone."""
    today = today_local(now)
    if report_date >= today:
        raise ReportDateError(
            f"report date {report_date} is not a complete day yet: today is {today} in "
            f"{account_timezone().key}, so the newest date that can be processed is "
            f"{today - timedelta(days=1)}"
        )
    return report_date


def parse_report_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ReportDateError(f"report date {value!r} is not an ISO date (YYYY-MM-DD)") from None


def manual_logical_date(report_date: date, cron: str) -> datetime:
    """Logical date for a manual run (e.g. `dag.test`) that covers `report_date`.

    A manual run's data interval is the last complete one *before* its logical date, so
    it must be placed at the end of the report date's interval: D+1 at the cron's time.
    """
    minute, hour = (int(x) for x in cron.split()[:2])
    start = datetime(report_date.year, report_date.month, report_date.day, hour, minute,
                     tzinfo=account_timezone())  # fmt: skip
    return start + timedelta(days=1)
