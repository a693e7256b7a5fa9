"""Data-quality gates: Great Expectations suites from `expectations/`, run per table
partition (`runner`, with the GX compatibility shim `gx_compat`), their stored results and
Data Docs (`results`), the quality state of a model's inputs (`model_inputs`), and a suite
scaffold from a table's schema (`scaffold`). `python -m adctr.quality TABLE DATE` runs one.

May import: `adctr.core`, `adctr.warehouse`. Never ingestion, serving, release or airflow.
"""

from adctr.quality.results import (
    QualityGateError,
    ValidationSummary,
    latest_results,
    raise_if_blocking,
)
from adctr.quality.runner import validate_partition

__all__ = [
    "QualityGateError",
    "ValidationSummary",
    "latest_results",
    "raise_if_blocking",
    "validate_partition",
]
