"""The code's shape is checked, not just described: the import-linter contracts in
pyproject.toml hold, breaking one fails with the contract's name, and plugins/adctr/ keeps
its packages-by-stage layout (every package says what it owns and what it may import)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{root / 'plugins'}{os.pathsep}{root}"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_import_contracts_are_kept() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("plugins/adctr/serving/instances.py", "import airflow",
         "The serving library does not reach airflow even indirectly BROKEN"),
        ("plugins/adctr/serving/instances.py", "import airflow",
         "Training, scoring, the serving library, release, the model contract and core never import airflow BROKEN"),
        ("dags/serving_slot_sync.py", "from adctr.core import settings",
         "DAG files import only the orchestration layer BROKEN"),
        ("plugins/adctr/core/dates.py", "from adctr.orchestration import pools",
         "model contract > core BROKEN"),
        ("plugins/adctr/release/slots.py", "from adctr.local import demo",
         "Nothing imports DAG files or the local tooling BROKEN"),
        ("plugins/adctr/ingestion/landing.py", "from adctr.serving import reader",
         "Ingestion, quality, scoring, serving and the simulator know nothing of each other BROKEN"),
        ("plugins/adctr/scoring/truth.py", "from adctr.simulator import world",
         "Ingestion, quality, scoring, serving and the simulator know nothing of each other BROKEN"),
        ("plugins/adctr/experiments/readout.py", "from adctr.scoring import truth",
         "Ingestion, quality, scoring, serving and the simulator know nothing of each other BROKEN"),
        ("plugins/adctr/experiments/analysis.py", "import airflow",
         "Training, scoring, the serving library, release, the model contract and core never import airflow BROKEN"),
    ],
)  # fmt: skip
def test_breaking_a_contract_fails_with_its_name(tmp_path: Path, module: str, line: str, contract: str) -> None:
    for part in ("plugins", "training", "dags"):
        skip = ("__pycache__", "variants") if part == "dags" else ("__pycache__",)  # dags/variants: deployments
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns(*skip))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert _lint_imports(tmp_path).returncode == 0  # the copy is as clean as the tree
    target = tmp_path / module
    target.write_text(target.read_text("utf-8") + f"\n{line}  # a boundary broken on purpose\n", "utf-8")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert contract in " ".join(result.stdout.split()), result.stdout  # lint-imports wraps long names


def test_no_module_at_the_package_root() -> None:
    """Every module lives in the package of its stage; the root holds only __init__.py."""
    assert sorted(p.name for p in (ROOT / "plugins" / "adctr").glob("*.py")) == ["__init__.py"]


def test_every_stage_package_says_what_it_owns_and_may_import() -> None:
    packages = sorted(p.parent for p in (ROOT / "plugins" / "adctr").glob("*/__init__.py"))
    assert len(packages) >= 9
    for package in packages:
        text = (package / "__init__.py").read_text("utf-8")
        assert text.startswith('"""'), f"{package.name} has no docstring"
        assert "May import" in text, f"{package.name}'s docstring does not say what it may import"
