"""Per-model training configuration from config/models.yaml (defaults merged in)."""

from __future__ import annotations

import copy
from typing import Any

from adctr.core import settings


def model_config(model: str) -> dict[str, Any]:
    cfg = settings.load_config("models")
    models = cfg.get("models") or {}
    if model not in models:
        raise settings.ConfigError(
            f"model {model!r} is not configured in config/models.yaml (configured: {sorted(models)})"
        )
    merged = copy.deepcopy(cfg.get("defaults") or {})
    for key, value in models[model].items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged
