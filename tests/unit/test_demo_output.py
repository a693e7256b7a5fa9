"""The demo's output carries its own lines, not third-party deprecation noise (Airflow warns
about its own pathspec use once per DAG-folder parse); the test tier still sees the warnings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PARSE = """
import sys
from adctr.local import airflow_env
import os
os.environ.update(airflow_env.airflow_env())
if sys.argv[1] == "quiet":
    from adctr.local.demo import quiet_third_party_deprecations
    quiet_third_party_deprecations()
from adctr.local.airflow_runner import DagRunner
DagRunner()  # parses the dags folder, as every demo run does
print("parsed")
"""


def _parse_dags(mode: str, var: Path) -> str:
    env = {**os.environ, "ADCTR_VAR_DIR": str(var), "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}"}
    env.pop("PYTHONWARNINGS", None)
    out = subprocess.run([sys.executable, "-c", PARSE, mode], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "parsed" in out.stdout, out.stderr[-3000:]
    return out.stdout + out.stderr


def test_the_demo_hides_deprecation_noise_the_tests_keep(tmp_path: Path) -> None:
    assert "GitWildMatchPattern" in _parse_dags("loud", tmp_path / "loud")  # the noise exists
    assert "DeprecationWarning" not in _parse_dags("quiet", tmp_path / "quiet")
