"""Branch variants from the command line.

    python -m adctr.variants deploy --from ../worktree-of-branch [--slot cvr1] [--name NAME]
    python -m adctr.variants diff NAME        what the branch changes, and what it rebuilds
    python -m adctr.variants list             deployed variants and their slots
    python -m adctr.variants retire NAME      remove it, drop its tables, free its slot
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from adctr.core import settings


def main(argv: list[str] | None = None) -> int:
    from adctr.variants import deployment, diff

    parser = argparse.ArgumentParser(prog="python -m adctr.variants", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    dep = sub.add_parser("deploy", help="deploy (or redeploy) a checkout of a branch as a variant")
    dep.add_argument("--from", dest="worktree", type=Path, required=True)
    dep.add_argument("--name", help="variant name (default: the checkout's branch)")
    dep.add_argument("--slot", help="serving slot to claim (default: the one it holds, else the first free)")
    dif = sub.add_parser("diff", help="what a deployed variant changes against main")
    ret = sub.add_parser("retire", help="remove a variant: its folder, scoped tables and slot claim")
    lst = sub.add_parser("list", help="deployed variants")
    for p in (dif, ret):
        p.add_argument("name")
    for p in (dep, dif, ret, lst):
        p.add_argument("--dags-folder", type=Path, default=settings.dags_folder())
    args = parser.parse_args(argv)
    if args.command == "deploy":
        target = deployment.deploy(args.worktree.resolve(), args.dags_folder, args.name, args.slot)
        print(f"deployed {target} (DAG ctr_cvr_retrain__{target.name})")
        print(diff.text(diff.describe(target)))
    elif args.command == "diff":
        print(diff.text(diff.describe(deployment.variant_folder(args.dags_folder, args.name))))
    elif args.command == "list":
        claims = {v: s for s, v in deployment.slot_claims(args.dags_folder).items()}
        for name, folder in deployment.deployed(args.dags_folder).items():
            commit = (folder / settings.GIT_COMMIT_FILE).read_text("utf-8").strip()[:12]
            print(f"{name}\tslot {claims.get(name)}\tcommit {commit}")
    else:
        from adctr.core.storage import get_store
        from adctr.warehouse import get_warehouse

        with get_warehouse() as wh:
            record = deployment.retire(args.dags_folder, args.name, wh, get_store("artifact"), getpass.getuser())
        print(f"retired {record['variant']}: dropped {len(record['dropped_tables'])} table(s) "
              f"{record['dropped_tables']}; slot {record['slot']} returns to its config/slots.yaml policy at "
              "the next serving_slot_sync run")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
