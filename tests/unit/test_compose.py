"""docker-compose.airflow.yml is a valid Compose file, consistent with the pinned requirements
and the repository layout (checked offline: no Docker engine runs on the project's machines).

The file is read the way `docker compose config` reads it: YAML (anchors and `<<` merge keys
resolved), then `${VAR:-default}` interpolation with nothing set, then validation by a real
Compose-spec parser (compose_spec, Rust bindings).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from adctr.core import settings
from adctr.local import airflow_env as localenv
from compose_spec import PyCompose

from tests.conftest import ROOT

COMPOSE_FILE = ROOT / "docker-compose.airflow.yml"
SECRETS_DIR = "/opt/airflow/secrets"
# Airflow options holding a secret every component must share: (section__key) -> file.
SECRET_OPTIONS = {"CORE__FERNET_KEY": "fernet_key", "API_AUTH__JWT_SECRET": "jwt_secret",
                  "API__SECRET_KEY": "api_secret_key"}  # fmt: skip
PROJECT_FOLDERS = ("dags", "plugins", "sql", "expectations", "config", "training")
INIT = "airflow-init"
# Settings every component must agree on, or tasks, tokens and results get lost between them.
SHARED_SETTINGS = (
    "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__CORE__FERNET_KEY_CMD", "AIRFLOW__API_AUTH__JWT_SECRET_CMD",
    "AIRFLOW__API__SECRET_KEY_CMD", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "AIRFLOW__CORE__AUTH_MANAGER",
    "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER", "ADCTR_PROJECT_ROOT", "ADCTR_VAR_DIR",
    "PYTHONPATH",
)  # fmt: skip

_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|(?P<named>[A-Za-z_]\w*))"
)


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose-file interpolation ($$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR:+a})."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m["escaped"]:
            return "$"
        name, op, arg = m["braced"] or m["named"], m["op"], m["arg"]
        val = env.get(name)
        unset_or_empty = not val
        if op in (":-", "-"):
            return arg if (unset_or_empty if op == ":-" else val is None) else val
        if op in (":+", "+"):
            return arg if (not unset_or_empty if op == ":+" else val is not None) else ""
        if op in (":?", "?") and (unset_or_empty if op == ":?" else val is None):
            raise ValueError(f"required variable {name} is missing: {arg}")
        return val or ""

    return _VAR.sub(sub, value)


def _raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _compose(env: dict[str, str] | None = None) -> dict:
    return interpolate(_raw(), env or {})


def parse(spec: dict) -> PyCompose:
    """The Compose-spec parser's view of a resolved file; raises ValueError when invalid."""
    compose = PyCompose.from_json(json.dumps(spec))
    compose.validate()
    return compose


def _requirements() -> dict[str, str]:
    text = (ROOT / "requirements.txt").read_text()
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)", text, re.M)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins}


def _image_services(spec: dict) -> dict[str, dict]:
    """Every service that runs this repository's Airflow image."""
    image = spec["x-airflow-common"]["image"]
    return {name: s for name, s in spec["services"].items() if s.get("image") == image}


def _airflow_services(spec: dict) -> dict[str, dict]:
    return {name: s for name, s in spec["services"].items() if name.startswith("airflow-")}


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _mounts(service: dict) -> dict[str, str]:
    """Container path -> source (a ./path bind mount or a named volume)."""
    out = {}
    for volume in service.get("volumes") or []:
        source, target = volume.split(":")[:2]
        out[target] = source
    return out


def _deps(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (cond or {}).get("condition", "service_started") for name, cond in deps.items()}


def setting_mismatches(spec: dict) -> list[str]:
    """Airflow components whose shared settings, image or mounts differ from the common block."""
    common = spec["x-airflow-common"]
    expected = _env(common)
    problems = [f"x-airflow-common lacks {key}" for key in SHARED_SETTINGS if key not in expected]
    for name, service in _image_services(spec).items():
        env = _env(service)
        problems += [
            f"{name}: {key}={env.get(key)!r}, not {value!r}"
            for key, value in expected.items()
            if env.get(key) != value
        ]
        if service.get("build") != common["build"]:
            problems.append(f"{name}: another image build")
        if _mounts(service) != _mounts(common):
            problems.append(f"{name}: other mounts {sorted(_mounts(service))}")
    return problems


def ordering_problems(spec: dict) -> list[str]:
    """depends_on must name defined services, wait only on healthchecks that exist, start every
    other Airflow component after the init job completed, and contain no cycle."""
    services = spec["services"]
    problems = []
    for name, service in services.items():
        for dep, condition in _deps(service).items():
            if dep not in services:
                problems.append(f"{name} depends on undefined service {dep}")
            elif condition == "service_healthy" and not services[dep].get("healthcheck"):
                problems.append(f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck")
    for name, service in _image_services(spec).items():
        if name not in (INIT, "simulator") and _deps(service).get(INIT) != "service_completed_successfully":
            problems.append(f"{name} does not wait for {INIT} to complete")
    for name in services:
        seen, stack = {name}, [name]
        while stack:
            for dep in _deps(services.get(stack.pop(), {})):
                if dep == name:
                    problems.append(f"dependency cycle through {name}")
                elif dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
    return problems


# ---------------------------------------------------------------------------------------------
# A real Compose parser


def test_a_compose_spec_parser_accepts_the_file() -> None:
    compose = parse(_compose())
    assert {"postgres", "redis", INIT, "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer", "airflow-worker-1", "airflow-worker-2"} <= set(compose.service_names())  # fmt: skip
    # The parser's model of a worker: what Compose would run.
    worker = compose.get_service("airflow-worker-2")
    assert worker.command == "celery worker"
    assert worker.depends_on[INIT].condition.value == "service_completed_successfully"
    # Interpolation defaults hold, and a value set in the environment wins.
    assert compose.get_service("airflow-scheduler").user == "50000:0"
    assert parse(_compose({"AIRFLOW_UID": "1234"})).get_service("airflow-scheduler").user == "1234:0"


def _with_unknown_key(spec: dict) -> None:
    spec["services"]["airflow-triggerer"]["comand"] = "triggerer"


def _with_undeclared_volume(spec: dict) -> None:
    spec["services"]["airflow-scheduler"]["volumes"].append("scheduler-cache:/opt/airflow/cache")
    spec["services"]["airflow-triggerer"]["volumes"].append("scheduler-cache:/opt/airflow/cache")


def _with_bad_condition(spec: dict) -> None:
    spec["services"]["airflow-scheduler"]["depends_on"][INIT]["condition"] = "service_done"


def _with_bad_restart(spec: dict) -> None:
    spec["services"]["airflow-scheduler"]["restart"] = "sometimes"


def _with_bad_port(spec: dict) -> None:
    spec["services"]["airflow-apiserver"]["ports"] = ["8080:80800"]


@pytest.mark.parametrize(
    ("breakage", "error"),
    [
        (_with_unknown_key, "extension key `comand`"),
        (_with_undeclared_volume, "volume `scheduler-cache` .* not defined"),
        (_with_bad_condition, "unknown variant `service_done`"),
        (_with_bad_restart, "unknown variant `sometimes`"),
        (_with_bad_port, "80800"),
    ],
)
def test_the_parser_rejects_a_broken_variant(breakage, error: str) -> None:  # noqa: ANN001
    spec = copy.deepcopy(_compose())
    breakage(spec)
    with pytest.raises(ValueError, match=error):
        parse(spec)


def test_uninterpolated_variables_are_not_valid_compose() -> None:
    # The parser does not interpolate: without that step `user: ${AIRFLOW_UID:-50000}:0` is
    # no valid user, which shows the test above validates the resolved file, as Compose does.
    with pytest.raises(ValueError, match="user and group names"):
        parse(_raw())


# ---------------------------------------------------------------------------------------------
# Topology and shared settings


def test_stack_has_the_production_topology() -> None:
    services = _compose()["services"]
    commands = {name: s.get("command") for name, s in services.items()}
    assert commands["airflow-apiserver"] == "api-server"
    assert commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-triggerer"] == "triggerer"
    workers = [name for name, command in commands.items() if command == "celery worker"]
    assert workers == ["airflow-worker-1", "airflow-worker-2"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    for name, service in _airflow_services(_compose()).items():
        assert name in _image_services(_compose()), f"{name} does not run the project image"
        if name != INIT:
            assert service.get("restart") == "always" and service.get("healthcheck"), name


def test_every_component_shares_executor_database_broker_and_secrets() -> None:
    spec = _compose()
    assert setting_mismatches(spec) == []
    env = _env(spec["x-airflow-common"])
    services = spec["services"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"

    db = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    pg = services["postgres"]["environment"]
    assert db.scheme == "postgresql+psycopg2"
    assert (db.hostname, db.username, db.password, db.path) == (
        "postgres", pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], f"/{pg['POSTGRES_DB']}",
    )  # fmt: skip
    backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"])
    assert backend.scheme == "db+postgresql" and (backend.hostname, backend.path) == (db.hostname, db.path)
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis" and broker.hostname == "redis" and broker.port == 6379

    execution = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    api_port = int(services["airflow-apiserver"]["ports"][0].split(":")[-1])
    assert (execution.hostname, execution.port, execution.path) == ("airflow-apiserver", api_port, "/execution/")
    # The secrets themselves come from the init job's files (see the tests further down).
    assert {f"AIRFLOW__{option}_CMD" for option in SECRET_OPTIONS} <= set(env)


def test_a_component_with_its_own_broker_is_caught() -> None:
    spec = copy.deepcopy(_compose())
    worker = spec["services"]["airflow-worker-2"]
    worker["environment"] = {**worker["environment"], "AIRFLOW__CELERY__BROKER_URL": "redis://other:6379/0"}
    assert setting_mismatches(spec) == ["airflow-worker-2: AIRFLOW__CELERY__BROKER_URL='redis://other:6379/0', "
                                        "not 'redis://:@redis:6379/0'"]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Image and requirements.txt


def test_image_and_python_match_requirements() -> None:
    reqs = _requirements()
    common = _compose()["x-airflow-common"]
    dockerfile = common["build"]["dockerfile_inline"]
    (base,) = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert base == f"apache/airflow:{reqs['apache-airflow']}-python3.11"
    assert reqs["apache-airflow-core"] == reqs["apache-airflow"]
    assert common["image"].endswith(f":{reqs['apache-airflow']}")
    assert "Python 3.11" in " ".join((ROOT / "requirements.txt").read_text().splitlines()[:3])

    # The image installs requirements.txt and nothing unpinned or different beside it.
    assert re.search(r"^COPY\s+requirements\.txt\s+(\S+)", dockerfile, re.M)
    target = re.search(r"^COPY\s+requirements\.txt\s+(\S+)", dockerfile, re.M).group(1)
    installs = re.findall(r"pip install ([^\n&;|]+)", dockerfile)
    assert installs, dockerfile
    for args in installs:
        words = args.split()
        assert "-r" in words and words[words.index("-r") + 1] == target, args
        assert not {"-U", "--upgrade", "--pre"} & set(words), args
        for word in words:
            if not word.startswith("-") and word != target:
                name, _, version = word.strip("'\"").partition("==")
                assert reqs.get(name.lower()) == version, f"{word} is not requirements.txt's pin"


@pytest.mark.parametrize(
    "package",
    [
        "apache-airflow-providers-celery",  # CeleryExecutor
        "celery", "kombu", "redis",  # Celery and its Redis broker transport
        "psycopg2-binary",  # postgresql+psycopg2 metadata DB and the db+postgresql result backend
        "asyncpg",  # the api-server's async engine on the same Postgres URL
        "flower",  # the optional `celery flower` service
    ],
)  # fmt: skip
def test_what_the_stack_needs_is_pinned_in_requirements(package: str) -> None:
    assert re.fullmatch(r"\d+(\.\d+)+", _requirements().get(package, "")), f"{package} is not pinned"


# ---------------------------------------------------------------------------------------------
# Mounts and paths


def test_every_mount_exists_and_the_code_finds_it() -> None:
    spec = _compose()
    named = set(spec.get("volumes") or {})
    for name, service in spec["services"].items():
        for target, source in _mounts(service).items():
            if source.startswith((".", "/")):
                assert (ROOT / source).resolve().is_dir(), f"{name}: {source} does not exist in the repository"
                assert (ROOT / source).resolve().is_relative_to(ROOT), source
            else:
                assert source in named, f"{name}: volume {source} is not declared"

    env = _env(spec["x-airflow-common"])
    mounts = _mounts(spec["x-airflow-common"])
    root = env["ADCTR_PROJECT_ROOT"]
    for folder in PROJECT_FOLDERS:
        assert mounts.get(f"{root}/{folder}") == f"./{folder}", folder
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == f"{root}/dags"
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == f"{root}/plugins"
    # `import adctr` (plugins/) and `import training` (the project root) in every process.
    assert env["PYTHONPATH"].split(":") == [f"{root}/plugins", root]
    # State shared by the workers lives on a named volume, and the login file in it.
    var = env["ADCTR_VAR_DIR"]
    assert mounts[var] in named
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith(f"{var}/")


# ---------------------------------------------------------------------------------------------
# Init job, start order and the local simulator


def test_init_job_prepares_the_database_login_and_pools_before_anything_starts() -> None:
    spec = _compose()
    init = spec["services"][INIT]
    env = _env(spec["x-airflow-common"])
    assert init.get("restart") in (None, "no"), "a one-shot job must not restart"
    assert init["user"] == "0:0"
    script = init["command"][-1]
    steps = [line.strip() for line in script.splitlines() if line.strip()]
    assert steps[0] == "set -euo pipefail"
    # Secrets first: `airflow db migrate` already reads the Fernet key through its _CMD.
    (secrets_step,) = [i for i, s in enumerate(steps) if s.startswith("python -m adctr.local.compose_secrets ")]
    assert secrets_step < steps.index("airflow db migrate")
    assert steps[secrets_step].split()[-1] == SECRETS_DIR

    # The login the UI accepts: the local admin, in the passwords file the api-server reads.
    (login,) = [s for s in steps if "simple_auth_manager_passwords" in s]
    payload, path = re.fullmatch(r"echo '(.*)' > (\S+)", login).groups()
    assert path == env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert json.loads(payload) == {localenv.LOCAL_ADMIN_USER: localenv.LOCAL_ADMIN_PASSWORD}
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(":")[0] == localenv.LOCAL_ADMIN_USER

    migrate = steps.index("airflow db migrate")
    (written,) = [i for i, s in enumerate(steps) if s.startswith("python -m adctr.orchestration.pools ")]
    (imported,) = [i for i, s in enumerate(steps) if s.startswith("airflow pools import ")]
    assert migrate < written < imported
    assert steps[written].split()[-1] == steps[imported].split()[-1]
    # The shared volumes end up owned by the user the other components run as.
    uid = spec["x-airflow-common"]["user"]
    assert steps[-1] == f'chown -R "{uid}" {env["ADCTR_VAR_DIR"]} /opt/airflow/logs {SECRETS_DIR}'

    assert ordering_problems(spec) == []


def test_a_component_started_before_the_init_job_is_caught() -> None:
    spec = copy.deepcopy(_compose())
    del spec["services"]["airflow-triggerer"]["depends_on"][INIT]
    spec["services"]["airflow-scheduler"]["depends_on"]["airflow-api-server"] = {"condition": "service_healthy"}
    assert ordering_problems(spec) == [
        "airflow-scheduler depends on undefined service airflow-api-server",
        f"airflow-triggerer does not wait for {INIT} to complete",
    ]


def test_media_connections_point_at_the_simulator_service() -> None:
    spec = _compose()
    env = _env(spec["x-airflow-common"])
    simulator = spec["services"]["simulator"]
    command = simulator["command"]
    assert command[:3] == ["python", "-m", "adctr.simulator"]
    port = int(command[command.index("--port") + 1])
    assert command[command.index("--host") + 1] == "0.0.0.0"
    expected = json.loads(localenv.simulator_connection_uri(f"http://simulator:{port}"))
    assert json.loads(env[f"AIRFLOW_CONN_{localenv.SIMULATOR_CONN_ID.upper()}"]) == expected
    assert localenv.SIMULATOR_CONN_ID in {m.get("connection_id") for m in settings.load_config("media")["media"]}
    for worker in ("airflow-worker-1", "airflow-worker-2"):
        assert _deps(spec["services"][worker])["simulator"] == "service_healthy"


# ---------------------------------------------------------------------------------------------
# Secrets: generated by the init job into a shared volume, read by every component


def test_no_secret_is_shipped_and_every_component_reads_the_generated_files() -> None:
    spec = _compose()
    named = set(spec.get("volumes") or {})
    for name, service in _image_services(spec).items():
        env = _env(service)
        assert _mounts(service).get(SECRETS_DIR) in named, f"{name}: no secrets volume at {SECRETS_DIR}"
        for option, file in SECRET_OPTIONS.items():
            assert f"AIRFLOW__{option}" not in env, f"{name}: AIRFLOW__{option} set in the file"
            assert env[f"AIRFLOW__{option}_CMD"] == f"cat {SECRETS_DIR}/{file}", name
    # Nothing in the resolved file looks like a placeholder secret.
    text = json.dumps(_compose())
    assert not re.search(r"change-?me", text, re.I)
    for key, value in _env(spec["x-airflow-common"]).items():
        if re.search(r"FERNET|SECRET|TOKEN_KEY|JWT", key) and not key.endswith("_CMD"):
            assert value, f"{key} is empty"


def _run_secrets(directory, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:  # noqa: ANN001
    """The init job's secrets step, as the init job runs it (its own environment only)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "adctr.local.compose_secrets", str(directory)],
        env={**base, **(env or {})}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_init_job_generates_the_secrets_once_and_keeps_them(tmp_path) -> None:  # noqa: ANN001
    from cryptography.fernet import Fernet

    directory = tmp_path / "secrets"
    first = _run_secrets(directory)
    assert first.returncode == 0, first.stderr
    values = {file: (directory / file).read_text() for file in SECRET_OPTIONS.values()}
    assert sorted(first.stdout.split()) == sorted([f"{directory / f}:" for f in values] + ["generated"] * 3)
    token = Fernet(values["fernet_key"].encode()).encrypt(b"connection password")
    assert len(values["jwt_secret"]) >= 64 and len(values["api_secret_key"]) >= 32
    for file, value in values.items():
        assert value == value.strip(), "a _CMD's output is used verbatim: no newline"
        assert (directory / file).stat().st_mode & 0o777 == 0o600

    second = _run_secrets(directory)
    assert second.returncode == 0 and second.stdout.count("kept") == 3, second.stdout
    assert {file: (directory / file).read_text() for file in values} == values
    assert Fernet(values["fernet_key"].encode()).decrypt(token) == b"connection password"
    # Airflow itself resolves each _CMD of the compose file to the stored value.
    commands = {f"AIRFLOW__{o}_CMD": f"cat {directory / f}" for o, f in SECRET_OPTIONS.items()}
    script = ("from airflow.configuration import conf; import json; print(json.dumps([conf.get('core', 'fernet_key'), "
              "conf.get('api_auth', 'jwt_secret'), conf.get('api', 'secret_key')]))")  # fmt: skip
    # (A plain AIRFLOW__<option> would win over its _CMD: hence none in the compose file.)
    env = {k: v for k, v in os.environ.items() if k.removesuffix("_CMD").removeprefix("AIRFLOW__") not in SECRET_OPTIONS}
    seen = subprocess.run([sys.executable, "-c", script], env={**env, **commands},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert seen.returncode == 0, seen.stderr[-2000:]
    assert json.loads(seen.stdout.splitlines()[-1]) == [values["fernet_key"], values["jwt_secret"],
                                                          values["api_secret_key"]]  # fmt: skip


def test_given_secrets_are_used_and_a_conflicting_or_bad_one_stops_the_init_job(tmp_path) -> None:  # noqa: ANN001
    from cryptography.fernet import Fernet

    directory = tmp_path / "secrets"
    given = {"AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(), "AIRFLOW_JWT_SECRET": "j" * 40}
    first = _run_secrets(directory, given)
    assert first.returncode == 0, first.stderr
    assert (directory / "fernet_key").read_text() == given["AIRFLOW_FERNET_KEY"]
    assert (directory / "jwt_secret").read_text() == given["AIRFLOW_JWT_SECRET"]
    assert "api_secret_key: generated" in first.stdout
    assert _run_secrets(directory, given).returncode == 0  # the same value again: fine

    other = _run_secrets(directory, {"AIRFLOW_FERNET_KEY": Fernet.generate_key().decode()})
    assert other.returncode == 1 and "AIRFLOW_FERNET_KEY differs from the fernet_key already in" in other.stderr
    assert (directory / "fernet_key").read_text() == given["AIRFLOW_FERNET_KEY"], "never replaced"

    fresh = tmp_path / "fresh"
    bad = _run_secrets(fresh, {"AIRFLOW_FERNET_KEY": "change-me"})
    assert bad.returncode == 1 and "AIRFLOW_FERNET_KEY: not a Fernet key" in bad.stderr
    assert not list(fresh.glob("*")), "nothing written on a refused start"
