"""The README's "Operate" section: every command in it is one this repository runs or tests.

Each shell command is checked for what it is: `make` targets exist and their `python -m`
entry points answer `--help`; Connection JSON parses with Airflow into the webhook the
notifier posts to; REST calls use real endpoints and bodies that Airflow's own request
models and the conf guard accept (or refuse, where the README says so); the compose command
names the file the compose tests validate.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest
from adctr.orchestration import conf_guard

from tests.conftest import ROOT


def _operate_commands() -> list[tuple[str, str]]:
    """(command, the comment line after it or "") for every bash block of the Operate section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Operate\n", 1)[1].split("\n## ", 1)[0]
    out: list[tuple[str, str]] = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        lines: list[str] = []
        pending = ""
        for raw in re.sub(r"\\\n\s*", " ", block).splitlines():
            pending = f"{pending} {raw.strip()}".strip()
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # a quoted argument (JSON body) goes on over the next line
                continue
            if pending:
                lines.append(pending)
            pending = ""
        for i, line in enumerate(lines):
            if line.startswith("#"):
                continue
            after = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("#") else ""
            out.append((line, after))
    return out


COMMANDS = _operate_commands()


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), flags=re.M))


def _dag_specs() -> dict[str, tuple[dict, dict]]:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    return {
        dag_id: ({k: dict(dag.params.get_param(k).schema) for k in dag.params},
                 {k: dag.params.get_param(k).value for k in dag.params})  # fmt: skip
        for dag_id, dag in bag.dags.items()
    }


def test_the_operate_section_has_commands() -> None:
    kinds = {shlex.split(c)[0] if not c.startswith("TOKEN=") else "TOKEN" for c, _ in COMMANDS}
    assert {"make", "curl", "TOKEN", ".venv/bin/airflow", "docker"} <= kinds, kinds


@pytest.mark.parametrize("command", [c for c, _ in COMMANDS if c.startswith("make ")])
def test_make_commands_are_real_targets(command: str) -> None:
    target = shlex.split(command)[1]
    assert target in _makefile_targets(), command
    recipe = (ROOT / "Makefile").read_text().split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
    module = re.search(r"-m (adctr\.[a-z_.]+)", recipe)
    if module:  # the entry point the target runs exists and parses its arguments
        result = subprocess.run([sys.executable, "-m", module.group(1), "--help"], capture_output=True, text=True,
                                timeout=120)  # fmt: skip
        assert result.returncode == 0, (command, result.stderr[-500:])


def test_the_alerts_connection_is_the_webhook_the_notifier_posts_to() -> None:
    from adctr.orchestration.alerts import webhook_url
    from airflow.models.connection import Connection

    (command,) = [c for c, _ in COMMANDS if "connections add" in c]
    args = shlex.split(command)
    assert args[1:4] == ["connections", "add", "adctr_alerts"]
    conn = Connection.from_json(args[args.index("--conn-json") + 1], conn_id="adctr_alerts")
    assert webhook_url(conn) == "https://hooks.slack.com/services/T000/B000/XXXX"


def test_rest_calls_use_real_endpoints_and_bodies() -> None:
    from airflow.api_fastapi.core_api.datamodels.backfills import BackfillPostBody
    from airflow.api_fastapi.core_api.datamodels.dag_run import TriggerDAGRunPostBody

    specs = _dag_specs()
    system_tests = "\n".join(p.read_text() for p in (ROOT / "tests" / "system").glob("*.py"))
    curls = [(c, after) for c, after in COMMANDS if "curl " in c]
    assert len(curls) == 4
    for command, after in curls:
        args = shlex.split(command.split("$(", 1)[-1].rstrip(")").split("|")[0])
        url = next(a for a in args if a.startswith("http://127.0.0.1:8080/"))
        path = url[len("http://127.0.0.1:8080"):]
        body = json.loads(args[args.index("-d") + 1])
        if path == "/auth/token":
            assert set(body) == {"username", "password"} and "/auth/token" in system_tests
            continue
        if path == "/api/v2/backfills":
            BackfillPostBody.model_validate(body)
            assert conf_guard.check_conf(*specs[body["dag_id"]], body["dag_run_conf"]) == []
            assert "/api/v2/backfills" in system_tests
            continue
        dag_id = re.fullmatch(r"/api/v2/dags/([a-z_]+)/dagRuns", path).group(1)
        TriggerDAGRunPostBody.model_validate(body)
        problems = conf_guard.check_conf(*specs[dag_id], body["conf"])
        if after.startswith("# HTTP 400"):
            detail = json.loads(after[len("# HTTP 400 "):])["detail"]
            assert detail == f"Invalid conf for {dag_id}: " + "; ".join(problems)
        else:
            assert problems == [], (command, problems)
        assert "/dagRuns" in system_tests


def test_the_compose_command_names_the_validated_file() -> None:
    (command,) = [c for c, _ in COMMANDS if c.startswith("docker ")]
    args = shlex.split(command)
    assert args[:3] == ["docker", "compose", "-f"] and (ROOT / args[3]).is_file()
    assert "compose_spec" in (ROOT / "tests" / "unit" / "test_compose.py").read_text()
