"""Report building: the rows the simulator's report API serves and a job's paging, CSV, totals.

`report_table` turns the world's draws for a date range into report rows as of a given day
(conversions restate until the attribution window closes); a `ReportJob` holds those rows
fixed from creation and serves them in CSV pages with the totals reconciliation checks.
Given the submitted creatives (submissions.py), each day's organic rows are followed by theirs
(AD_LABEL = the label; organic rows carry a null label).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from adctr.simulator.faults import FaultRule
from adctr.simulator.submissions import Submission, SubmissionStore, draw_submitted, serving
from adctr.simulator.world import (
    DEVICES,
    FORMATS,
    INDUSTRIES,
    OBJECTIVES,
    PLACEMENTS,
    World,
    cost_text,
)

REPORT_FIELDS = (
    "DAY", "ACCOUNT_ID", "ADVERTISER_ID", "INDUSTRY", "CAMPAIGN_ID", "CAMPAIGN_OBJECTIVE",
    "ADGROUP_ID", "PLACEMENT", "AD_ID", "AD_TITLE", "AD_DESCRIPTION", "AD_TYPE", "AD_LABEL",
    "DEVICE", "IMPS", "CLICKS", "CONVERSIONS", "COST", "CURRENCY",
)  # fmt: skip
TOTAL_FIELDS = ("IMPS", "CLICKS", "CONVERSIONS", "COST")


@dataclass
class ReportJob:
    job_id: str
    medium: str
    start: date
    end: date
    table: pa.Table
    page_size: int
    polls_left: int
    as_of: date
    final: bool
    error: str | None = None

    @property
    def page_count(self) -> int:
        return max(1, -(-self.table.num_rows // self.page_size))

    def totals(self) -> dict[str, str]:
        """Sums the API reports for the job (what reconciliation compares against)."""
        out: dict[str, str] = {}
        for name in TOTAL_FIELDS:
            if name not in self.table.column_names:
                continue
            col = self.table[name]
            if name == "COST":
                col = pc.cast(col, pa.decimal128(18, 2))
            total = pc.sum(col).as_py()
            out[name] = str(total if total is not None else 0)
        return out

    def page_csv(self, page: int) -> tuple[bytes, int]:
        lo = (page - 1) * self.page_size
        chunk = self.table.slice(lo, self.page_size)
        buf = io.BytesIO()
        pacsv.write_csv(chunk, buf)
        return buf.getvalue(), chunk.num_rows


def _delivery_columns(d: Any, today: date) -> dict[str, pa.Array]:
    """The device and the measures of a day's draw (organic or submitted), as reported on
    `today` (conversions restate until the attribution window closes)."""
    return {
        "DEVICE": pa.array(DEVICES).take(pa.array(d.device_index)),
        "IMPS": pa.array(d.impressions, pa.int64()),
        "CLICKS": pa.array(d.clicks, pa.int64()),
        "CONVERSIONS": pa.array(d.conversions_as_of(today), pa.int64()),
        "COST": cost_text(d.cost_sen),
        "CURRENCY": pa.array(["JPY"] * len(d.impressions), pa.string()),
    }


def report_table(
    world: World,
    medium: str,
    start: date,
    end: date,
    today: date,
    submissions: SubmissionStore | Iterable[Submission] | None = None,
    delivery_faults: Sequence[FaultRule] = (),
) -> pa.Table:
    """The report rows for a date range as the API serves them on `today` (vectorised); each
    day's organic rows, then those of the `submissions` serving that day (their delivery less
    what `delivery_faults` drop)."""
    if submissions is not None and not isinstance(submissions, SubmissionStore):
        submissions = tuple(submissions)
    tables = []
    day = start
    while day <= end:
        d = world.draw(medium, day)
        n = len(d.impressions)
        idx = pa.array(d.creative_index)
        tables.append(
            pa.table(
                {
                    "DAY": pa.array([day.isoformat()] * n, pa.string()),
                    "ACCOUNT_ID": pa.array([world.account_id] * n, pa.string()),
                    "ADVERTISER_ID": world.advertiser_ids.take(idx),
                    "INDUSTRY": pa.array(INDUSTRIES).take(
                        pa.array(world.industry[d.creative_index])
                    ),
                    "CAMPAIGN_ID": world.campaign_ids.take(idx),
                    "CAMPAIGN_OBJECTIVE": pa.array(OBJECTIVES).take(
                        pa.array(world.objective[d.creative_index])
                    ),
                    "ADGROUP_ID": world.ad_group_ids.take(idx),
                    "PLACEMENT": pa.array(PLACEMENTS).take(
                        pa.array(world.placement[d.creative_index])
                    ),
                    "AD_ID": world.creative_ids.take(idx),
                    "AD_TITLE": world.headlines.take(idx),
                    "AD_DESCRIPTION": world.descriptions.take(idx),
                    "AD_TYPE": pa.array(FORMATS).take(pa.array(world.format[d.creative_index])),
                    "AD_LABEL": pa.nulls(n, pa.string()),  # organic creatives carry no label
                    **_delivery_columns(d, today),
                }
            )
        )
        if submissions is not None and serving(submissions, medium, day):
            rows = _submitted_rows(world, medium, day, today, submissions, delivery_faults)
            if rows.num_rows:
                tables.append(rows.select(tables[0].column_names).cast(tables[0].schema))
        day += timedelta(days=1)
    return pa.concat_tables(tables)


def _submitted_rows(
    world: World,
    medium: str,
    day: date,
    today: date,
    submissions: SubmissionStore | Iterable[Submission],
    delivery_faults: Sequence[FaultRule],
) -> pa.Table:
    """The report rows of the submitted creatives delivering on (medium, day)."""
    d = draw_submitted(world, submissions, medium, day, faults=delivery_faults)
    n = len(d.impressions)
    unit = d.submission_index
    g = d.ad_group_index[unit]
    group = pa.array(g)
    h, desc, img = (d.assets[unit, k] for k in range(3))
    return pa.table(
        {
            "DAY": pa.array([day.isoformat()] * n, pa.string()),
            "ACCOUNT_ID": pa.array([world.account_id] * n, pa.string()),
            "ADVERTISER_ID": world.group_advertiser_ids.take(group),
            "INDUSTRY": pa.array(INDUSTRIES).take(pa.array(world.group_industry[g])),
            "CAMPAIGN_ID": world.group_campaign_ids.take(group),
            "CAMPAIGN_OBJECTIVE": pa.array(OBJECTIVES).take(pa.array(world.group_objective[g])),
            "ADGROUP_ID": world.group_ids.take(group),
            "PLACEMENT": pa.array(PLACEMENTS).take(pa.array(world.group_placement[g])),
            "AD_ID": pa.array(d.creative_ids, pa.string()),
            "AD_TITLE": world.asset_texts.take(pa.array(h)),
            "AD_DESCRIPTION": world.asset_texts.take(pa.array(desc)),
            "AD_TYPE": pa.array(FORMATS).take(pa.array(world.assets.format[img])),
            "AD_LABEL": pa.array(d.labels, pa.string()),
            **_delivery_columns(d, today),
        }
    )
