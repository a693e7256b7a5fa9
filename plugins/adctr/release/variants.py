"""Deploy a git branch's retraining pipeline beside main's, as a serving variant.

    python -m adctr.release.variants deploy --from ../worktree-of-branch [--dags-folder dags]
    python -m adctr.release.variants remove NAME [--dags-folder dags]

A variant deployment is `<dags folder>/variants/<variant>/`: the branch's
`dags/ctr_cvr_retrain.py` and `config/`, plus `VARIANT` (the sanitised branch name) and
`GIT_COMMIT`. Airflow parses it as `ctr_cvr_retrain__<variant>`; its tasks read the
branch's config and publish under `models/<model>/<variant>/`, while code, SQL, the
warehouse and the stores are the deployment's own (shared with main). So a variant changes
model configuration (features left out, LightGBM parameters, sampling, gates); a branch that
changes Python or SQL is deployed as its own Airflow environment with `variant` set in its
config/pipeline.yaml.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from adctr.core import settings

RETRAIN_DAG_FILE = "ctr_cvr_retrain.py"


def _git(worktree: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=worktree, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise settings.ConfigError(f"git {' '.join(args)} failed in {worktree}: {out.stderr.strip()}")
    return out.stdout.strip()


def variant_folder(dags_folder: Path, name: str) -> Path:
    return dags_folder / "variants" / settings.sanitize_variant(name)


def deploy(worktree: Path, dags_folder: Path, name: str | None = None) -> Path:
    """Copy a checkout's retrain DAG and config into `dags_folder/variants/<variant>/`."""
    branch = name or _git(worktree, "rev-parse", "--abbrev-ref", "HEAD")
    if branch == "HEAD":
        raise settings.ConfigError(f"{worktree} is on a detached HEAD: pass a variant name")
    variant = settings.sanitize_variant(branch)
    if variant == "main":
        raise settings.ConfigError("main is the production deployment itself, not a variant")
    target = variant_folder(dags_folder, variant)
    staging = target.with_name(f".{variant}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy2(worktree / "dags" / RETRAIN_DAG_FILE, staging / RETRAIN_DAG_FILE)
    shutil.copytree(worktree / "config", staging / "config")
    (staging / settings.VARIANT_FILE).write_text(variant + "\n", "utf-8")
    (staging / settings.GIT_COMMIT_FILE).write_text(_git(worktree, "rev-parse", "HEAD") + "\n", "utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # the DAG processor never sees a half-copied variant
    return target


def remove(dags_folder: Path, name: str) -> None:
    shutil.rmtree(variant_folder(dags_folder, name), ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adctr.release.variants", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    dep = sub.add_parser("deploy", help="deploy a checkout (git worktree) of a branch as a variant")
    dep.add_argument("--from", dest="worktree", type=Path, required=True)
    dep.add_argument("--name", help="variant name (default: the checkout's branch)")
    rem = sub.add_parser("remove", help="remove a variant deployment")
    rem.add_argument("name")
    for p in (dep, rem):
        p.add_argument("--dags-folder", type=Path, default=settings.dags_folder())
    args = parser.parse_args(argv)
    if args.command == "deploy":
        target = deploy(args.worktree.resolve(), args.dags_folder, args.name)
        print(f"deployed {target} (DAG ctr_cvr_retrain__{target.name})")
    else:
        remove(args.dags_folder, args.name)
        print(f"removed variant {args.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
