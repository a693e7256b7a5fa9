"""Validate one table partition by hand: `make dq TABLE=raw.ad_performance DATE=2026-11-20`.

Prints every failed or warned expectation with its observed value and the Data Docs path;
exits 1 if a blocking expectation failed.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from adctr import quality
from adctr.warehouse import get_warehouse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adctr.quality", description=__doc__)
    parser.add_argument("table", help="dataset.table, e.g. raw.ad_performance")
    parser.add_argument("date", type=date.fromisoformat, help="partition (report date)")
    args = parser.parse_args(argv)
    with get_warehouse() as wh:
        result = quality.validate_partition(wh, args.table, args.date, run_id="manual")
    s = result.summary()
    print(f"{'PASS' if s['success'] else 'FAIL'}  {s['suite']} on {args.table} {args.date}: "
          f"{s['passed']}/{s['evaluated']} expectations passed, {s['warnings']} warnings")  # fmt: skip
    for line in s["failed"]:
        print(f"  FAILED  {line}")
    for line in s["warned"]:
        print(f"  WARNING {line}")
    for o in result.errors:
        print(f"  ERROR   {o.describe()}")
    print(f"Data Docs: {s['docs']}")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
