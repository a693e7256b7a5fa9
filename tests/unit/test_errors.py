"""One error hierarchy: what retrying cannot fix derives from PermanentError, and the
orchestration layer fails a task at once on exactly that (everything else is retried)."""

from __future__ import annotations

import pytest
from adctr.core.dates import ReportDateError
from adctr.core.errors import ConfigError, PermanentError
from adctr.core.storage import ImmutableVersionError
from adctr.ingestion.adapters.base import SourceError, SourceUnavailableError
from adctr.ingestion.connections import MissingConnectionError
from adctr.ingestion.landing import IngestionError, ReconciliationError
from adctr.model.contract import FeatureError
from adctr.orchestration.tasks.common import permanent_errors
from adctr.quality import QualityGateError
from adctr.release.slots import SlotSyncError
from adctr.warehouse import WarehouseConfigError
from adctr.warehouse.cost import QueryOverBudget
from adctr.warehouse.elt import SqlModelError, UpstreamNotReady
from airflow.sdk.exceptions import AirflowFailException

from training.champion import GateError
from training.dataset import DatasetError

PERMANENT = [
    ConfigError, ReportDateError, SourceError, MissingConnectionError, IngestionError, QualityGateError,
    SlotSyncError, WarehouseConfigError, SqlModelError, FeatureError, GateError, DatasetError,
    QueryOverBudget, ImmutableVersionError,
]  # fmt: skip
TRANSIENT = [UpstreamNotReady, ReconciliationError, SourceUnavailableError, ConnectionError, TimeoutError]


@pytest.mark.parametrize("error", PERMANENT)
def test_permanent_errors_fail_the_task_at_once(error: type[Exception]) -> None:
    assert issubclass(error, PermanentError)
    with pytest.raises(AirflowFailException, match="the input is wrong") as caught, permanent_errors():
        raise error("the input is wrong")
    assert isinstance(caught.value.__cause__, error)


@pytest.mark.parametrize("error", TRANSIENT)
def test_everything_else_is_left_to_retries(error: type[Exception]) -> None:
    assert not issubclass(error, PermanentError)
    with pytest.raises(error), permanent_errors():
        raise error("try again later")
