"""Integration tier: DAGs run through Airflow (`dag.test`) on a migrated local metadata DB."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def runner(simulator):  # noqa: ANN001, ANN201
    """A DagRunner over the project's dags folder, with the simulator connection defined."""
    from adctr.local.airflow_runner import DagRunner, prepare

    prepare(simulator.url)
    return DagRunner()
