"""Run a branch's training code from the branch's own copy, isolated from main's imports.

A variant deployment holds the branch's `training/` and `plugins/adctr/` (the model contract
and everything training imports) under `code/`. Training runs as `python -m training train`
in a child process whose import path is that copy alone, with the same interpreter and pinned
packages as the deployment, so main and several variants with different training code run in
one Airflow at once, on any worker (Cloud Composer's included: the copy travels with the DAGs
folder). The child's configuration (config/, sql/) is the branch's, its warehouse and stores
are the deployment's, and the examples table it reads is the one the variant's plan names.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

from adctr.core import settings
from adctr.core.errors import PermanentError

log = logging.getLogger(__name__)

CODE_DIR = "code"
# Settings a child must not inherit from its parent: they would point it at main's files.
_PARENT_ONLY = ("PYTHONPATH", "ADCTR_CONFIG_DIR", "ADCTR_SQL_DIR", "ADCTR_EXPECTATIONS_DIR", "ADCTR_PROJECT_ROOT")


class BranchTrainingFailed(PermanentError, RuntimeError):
    """The branch's training code failed; its own error is in the task log above this one."""


def has_own_code(deployment: Path) -> bool:
    return (deployment / CODE_DIR / "training" / "__init__.py").is_file()


def child_environment(deployment: Path, variant: str, commit: str) -> dict[str, str]:
    """The environment of a branch's training process: its code first and alone on the path."""
    env = {k: v for k, v in os.environ.items() if k not in _PARENT_ONLY}
    env.update(
        PYTHONPATH=str(deployment / CODE_DIR),
        ADCTR_PROJECT_ROOT=str(deployment),
        ADCTR_CONFIG_DIR=str(deployment / "config"),
        ADCTR_SQL_DIR=str(deployment / "sql"),
        ADCTR_EXPECTATIONS_DIR=str(deployment / "expectations"),
        ADCTR_VAR_DIR=str(settings.var_dir()),
        ADCTR_VARIANT=variant,
        ADCTR_GIT_COMMIT=commit,
        PYTHONNOUSERSITE="1",
    )
    return env


def train_candidate(
    deployment: Path, model: str, snapshot_date: date, out_dir: Path, examples_source: str, timeout_s: float
) -> dict[str, Any]:
    """Train one model with the branch's code into `out_dir`; returns its candidate summary."""
    with settings.deployment(deployment):
        variant, commit = settings.variant(), settings.git_commit()
    cmd = [
        sys.executable, "-m", "training", "train", "--model", model, "--snapshot-date", snapshot_date.isoformat(),
        "--out", str(out_dir), "--examples-source", examples_source,
    ]  # fmt: skip
    log.info("training %s with the branch's own code (%s, commit %s): %s", model, deployment / CODE_DIR, commit[:12],
             " ".join(cmd[1:]))  # fmt: skip
    try:
        done = subprocess.run(
            cmd, cwd=deployment / CODE_DIR, env=child_environment(deployment, variant, commit),
            stdout=subprocess.PIPE, text=True, timeout=timeout_s, check=False,
        )  # fmt: skip  (stderr, the child's log, goes straight to the task log)
    except subprocess.TimeoutExpired as exc:
        raise BranchTrainingFailed(f"the branch's training of {model} ran over {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        raise BranchTrainingFailed(
            f"the branch's training code ({deployment / CODE_DIR}) exited with {done.returncode} training {model}"
        )
    try:
        return json.loads(done.stdout[done.stdout.rindex("{") :])  # the summary is printed last, flat
    except ValueError as exc:
        raise BranchTrainingFailed(f"the branch's training printed no candidate summary: {done.stdout[-500:]!r}") from exc
