"""Report dates come from the account time zone, never from UTC by accident."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from adctr.core import dates


def test_interval_start_maps_to_the_local_calendar_day() -> None:
    # 06:00 JST on 2026-11-20 is 21:00 UTC on 2026-11-19.
    start = datetime(2026, 11, 19, 21, 0, tzinfo=timezone.utc)
    assert dates.report_date_for_interval(start) == date(2026, 11, 20)


def test_manual_logical_date_sits_at_the_end_of_the_reports_interval() -> None:
    logical = dates.manual_logical_date(date(2026, 11, 20), "0 6 * * *")
    assert logical.astimezone(timezone.utc) == datetime(2026, 11, 20, 21, 0, tzinfo=timezone.utc)


def test_incomplete_days_are_refused_in_one_sentence() -> None:
    now = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)  # 2026-11-21 01:00 in Tokyo
    assert dates.check_complete(date(2026, 11, 20), now) == date(2026, 11, 20)
    with pytest.raises(dates.ReportDateError, match="not a complete day yet: today is 2026-11-21"):
        dates.check_complete(date(2026, 11, 21), now)
