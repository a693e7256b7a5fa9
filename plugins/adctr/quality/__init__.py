"""Data-quality gates: Great Expectations suites from `expectations/`, run per partition."""

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
