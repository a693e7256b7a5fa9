"""The project's error hierarchy: what retrying cannot fix.

Every error that means "the input, the configuration or a gate is wrong" derives from
`PermanentError`; the orchestration layer turns exactly these into a failed task with one
sentence, at once, instead of burning retries. Everything else (network trouble, locks, a
partition another run has not built yet) is transient and Airflow retries it.
"""

from __future__ import annotations


class PermanentError(Exception):
    """Not worth retrying: bad input, missing configuration, a failed gate."""


class ConfigError(PermanentError, RuntimeError):
    """Configuration (config/*.yaml, sql/*.yml, environment) is missing or malformed."""
