"""Deploy, redeploy and retire a git branch as a variant beside main, in the same Airflow.

A variant deployment is `<dags folder>/variants/<variant>/`, copied from a checkout (a git
worktree) of the branch:

    ctr_cvr_retrain.py     the branch's retrain DAG file (parsed as ctr_cvr_retrain__<variant>)
    config/ sql/ expectations/
    code/training/ code/adctr/   the branch's training code and the package it imports
    VARIANT GIT_COMMIT SLOT      the sanitised branch name, its commit, the serving slot it claims

Copying into a staging folder and renaming it means the DAG processor never parses a
half-copied variant; a redeploy replaces the folder the same way, and the variant's ledger
decides which partitions its next run rebuilds (only those whose SQL changed).

At most one variant per slot: a variant claims one of `variant_slots` of config/slots.yaml
(the first free one unless it names one) and keeps it across redeploys; with every slot
claimed, a deploy is refused. Retiring removes the folder (so the claim ends and the next
`serving_slot_sync` moves the slot back to its slots.yaml policy, audited), drops the
variant's scoped tables, and leaves a record that lets retention delete its versions nothing
serves.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from adctr.core import settings
from adctr.core.storage import ObjectStore
from adctr.release import slots as slot_config
from adctr.variants import ledger

RETRAIN_DAG_FILE = "ctr_cvr_retrain.py"
SLOT_FILE = "SLOT"
COPIED = ("config", "sql", "expectations")
CODE = {"training": "training", "adctr": "plugins/adctr"}  # code/<name> <- <checkout>/<path>
RETIRED_PREFIX = "variants/_retired"


class VariantError(settings.ConfigError):
    """A deploy or retire that cannot be done as asked; nothing was changed."""


def _git(worktree: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=worktree, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise VariantError(f"git {' '.join(args)} failed in {worktree}: {out.stderr.strip()}")
    return out.stdout.strip()


def variant_folder(dags_folder: Path, name: str) -> Path:
    return dags_folder / "variants" / settings.sanitize_variant(name)


def deployed(dags_folder: Path) -> dict[str, Path]:
    """Deployed variants: name -> folder (a folder with a VARIANT file)."""
    root = dags_folder / "variants"
    if not root.is_dir():
        return {}
    return {
        p.name: p for p in sorted(root.iterdir())
        if not p.name.startswith(".") and (p / settings.VARIANT_FILE).is_file()  # .<name>.tmp: being copied
    }  # fmt: skip


def slot_claims(dags_folder: Path) -> dict[str, str]:
    """slot -> the deployed variant that claims it."""
    claims = {}
    for name, folder in deployed(dags_folder).items():
        if (folder / SLOT_FILE).is_file():
            claims[(folder / SLOT_FILE).read_text("utf-8").strip()] = name
    return claims


def variant_slots() -> list[str]:
    """Slots a variant may claim (`variant_slots` of main's config/slots.yaml)."""
    with settings.deployment(None):
        return slot_config.variant_slots(settings.load_config("slots"))


def choose_slot(dags_folder: Path, variant: str, wanted: str | None) -> str:
    """The slot `variant` serves from: the one it holds, else `wanted`, else the first free one."""
    claims = slot_claims(dags_folder)
    held = [s for s, v in claims.items() if v == variant]
    if held and (wanted is None or wanted == held[0]):
        return held[0]
    slots = variant_slots()
    if wanted is not None:
        if wanted not in slots:
            raise VariantError(f"slot {wanted!r} is not one of the variant slots of config/slots.yaml: {slots}")
        if claims.get(wanted) not in (None, variant):
            raise VariantError(f"slot {wanted} is claimed by variant {claims[wanted]}: retire it first")
        return wanted
    free = [s for s in slots if s not in claims]
    if not free:
        raise VariantError(
            f"every variant slot is claimed ({', '.join(f'{s}: {claims[s]}' for s in slots)}); "
            f"retire a variant (python -m adctr.variants retire NAME) before deploying {variant}"
        )
    return free[0]


def _check_requirements(worktree: Path) -> None:
    """A branch that pins other packages cannot run in this deployment's interpreter."""
    mine, theirs = settings.project_root() / "requirements.txt", worktree / "requirements.txt"
    if mine.exists() and theirs.exists() and mine.read_bytes() != theirs.read_bytes():
        raise VariantError(
            f"{theirs} differs from the deployment's requirements.txt: a branch with other packages needs "
            "its own Airflow environment (variants share the deployment's interpreter)"
        )


def deploy(worktree: Path, dags_folder: Path, name: str | None = None, slot: str | None = None) -> Path:
    """Copy a checkout's DAG file, config, SQL, suites and training code into
    `dags_folder/variants/<variant>/`, claiming a serving slot."""
    branch = name or _git(worktree, "rev-parse", "--abbrev-ref", "HEAD")
    if branch == "HEAD":
        raise VariantError(f"{worktree} is on a detached HEAD: pass a variant name")
    variant = settings.sanitize_variant(branch)
    if variant == "main":
        raise VariantError("main is the production deployment itself, not a variant")
    _check_requirements(worktree)
    claimed = choose_slot(dags_folder, variant, slot)
    target = variant_folder(dags_folder, variant)
    staging = target.with_name(f".{variant}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copy2(worktree / "dags" / RETRAIN_DAG_FILE, staging / RETRAIN_DAG_FILE)
    for folder in COPIED:
        shutil.copytree(worktree / folder, staging / folder, ignore=ignore)
    for name_, path in CODE.items():
        shutil.copytree(worktree / path, staging / "code" / name_, ignore=ignore)
    (staging / settings.VARIANT_FILE).write_text(variant + "\n", "utf-8")
    (staging / settings.GIT_COMMIT_FILE).write_text(_git(worktree, "rev-parse", "HEAD") + "\n", "utf-8")
    (staging / SLOT_FILE).write_text(claimed + "\n", "utf-8")
    old = target.with_name(f".{variant}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)  # the DAG processor never sees a half-copied variant
    shutil.rmtree(old, ignore_errors=True)
    return target


def retire(dags_folder: Path, name: str, warehouse: Any, store: ObjectStore, who: str = "cli") -> dict[str, Any]:
    """Remove a variant: its folder (ending its slot claim), its scoped tables and its build
    ledger; a retirement record lets retention delete its versions that nothing serves."""
    variant = settings.sanitize_variant(name)
    folder = variant_folder(dags_folder, variant)
    if not (folder / settings.VARIANT_FILE).is_file():
        raise VariantError(f"no variant {variant!r} is deployed in {dags_folder / 'variants'}")
    slot = (folder / SLOT_FILE).read_text("utf-8").strip() if (folder / SLOT_FILE).is_file() else None
    commit = (folder / settings.GIT_COMMIT_FILE).read_text("utf-8").strip()
    shutil.rmtree(folder)
    dropped = []
    for table in ledger.tables(store, variant):
        warehouse.drop_table(table)
        dropped.append(table)
    ledger.forget(store, variant)
    record = {
        "variant": variant, "slot": slot, "git_commit": commit, "dropped_tables": dropped, "by": who,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }  # fmt: skip
    store.write_bytes(f"{RETIRED_PREFIX}/{variant}.json", json.dumps(record, sort_keys=True).encode())
    return record


def retired(store: ObjectStore, dags_folder: Path) -> set[str]:
    """Variants retired and not deployed again since (retention may delete their unused versions)."""
    names = {k.rsplit("/", 1)[-1][: -len(".json")] for k in store.list(RETIRED_PREFIX + "/") if k.endswith(".json")}
    return names - set(deployed(dags_folder))
