"""Training outside Airflow: `python -m training train|publish ...` (same code as the DAG).

    python -m training train --model ctr --snapshot-date 2026-11-20 --out var/runs/x/ctr
        [--examples-source training__exp.ctr_examples]   (a branch variant's own training set)
    python -m training publish --candidate var/runs/x/ctr
"""

from __future__ import annotations

import argparse
import json
import logging
from datetime import date
from pathlib import Path

from adctr.core import settings
from adctr.core.storage import get_store
from adctr.warehouse import get_warehouse


def main(argv: list[str] | None = None) -> None:
    from training.pipeline import publish_candidate, train_candidate

    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train, evaluate and gate one model")
    t.add_argument("--model", required=True)
    t.add_argument("--snapshot-date", required=True, type=date.fromisoformat)
    t.add_argument("--out", required=True, type=Path)
    t.add_argument("--examples-source", help="read the examples from this table (default: examples_table)")
    p = sub.add_parser("publish", help="publish a candidate directory as a new version")
    p.add_argument("--candidate", required=True, type=Path)
    p.add_argument("--force-reason", help="publish as blessed although the gate did not bless it (recorded)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    store = get_store("artifact")
    if args.command == "train":
        with get_warehouse() as wh:
            cand = train_candidate(
                args.model, args.snapshot_date, args.out, wh, store, settings.variant(), args.examples_source
            )
        print(json.dumps(cand.as_dict(), indent=2))
    else:
        from adctr.release.artifacts import CANDIDATE_FILES

        files = {name: (args.candidate / name).read_bytes() for name in CANDIDATE_FILES}
        version = publish_candidate(
            files, store, settings.variant(),
            {"git_commit": settings.git_commit(), "run_type": "cli", "run_id": None}, args.force_reason,
        )  # fmt: skip
        print(json.dumps({"uri": version.uri, "version": version.version}, indent=2))


if __name__ == "__main__":
    main()
