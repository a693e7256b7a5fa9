"""A loaded version's trees compiled to machine code (lleaves, on LLVM), proved against LightGBM.

At 1,000 instances `Booster.predict` costs more than everything else the service does for an
Arrow request; the same trees compiled to one native function score them five to ten times
faster on this project's bench machine, single-threaded. Compiled code is only trusted once
it agrees with the booster: a version serves on `Booster.predict` from the moment it loads,
and is compiled in the background; both then score a probe matrix built from the model's own split points (every
threshold, the doubles either side of it, every category, missing values). The compiled
trees take over only if the largest difference is within `serving.compiled_tolerance`;
otherwise, or if compiling fails, the booster keeps serving and the reason is logged and shown
in the slot's status.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from adctr.core import settings
from adctr.core.errors import ConfigError
from adctr.model.contract import FeatureSpec

log = logging.getLogger(__name__)

PREDICTORS = ("compiled", "booster")
PROBE_ROWS = 2048
PROBE_SEED = 20261206


@dataclass(frozen=True)
class PredictorConfig:
    """`serving.predictor` (compiled | booster) and `serving.compiled_tolerance` of
    config/slots.yaml; the fallbacks apply only when a key is left out."""

    mode: str = "compiled"
    tolerance: float = 1e-9

    @classmethod
    def configured(cls) -> PredictorConfig:
        return cls.from_config(settings.load_config("slots").get("serving"))

    @classmethod
    def from_config(cls, serving: dict[str, Any] | None, mode: str | None = None) -> PredictorConfig:
        """`mode`, when given (a command line's `--predictor`), wins over `serving.predictor`."""
        serving = serving or {}
        mode = mode or serving.get("predictor", cls.mode)
        if mode not in PREDICTORS:
            raise ConfigError(f"config/slots.yaml serving.predictor must be one of {list(PREDICTORS)}, not {mode!r}")
        tolerance = serving.get("compiled_tolerance", cls.tolerance)
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < 1:
            raise ConfigError(f"config/slots.yaml serving.compiled_tolerance must be a number in [0, 1), "
                              f"not {tolerance!r}")  # fmt: skip
        return cls(mode, float(tolerance))


class ParityError(ValueError):
    """The compiled trees do not score the probe matrix as the booster does."""


@dataclass(frozen=True)
class Predictor:
    """Scores a float matrix (rows x features, spec order): `kind` says which engine, `note`
    why the booster serves when compiled code was asked for, or the parity that was proved."""

    kind: str
    score: Callable[[np.ndarray], np.ndarray]
    note: str

    def describe(self) -> dict[str, str]:
        return {"kind": self.kind, "note": self.note}


def booster_predictor(booster: Any, note: str = "serving.predictor: booster") -> Predictor:
    return Predictor("booster", booster.predict, note)


def compile_trees(model_text: str) -> Any:
    """The model's trees as one native function (a compiled `lleaves.Model`)."""
    import lleaves

    fd, path = tempfile.mkstemp(prefix="adctr-model-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(model_text)
        model = lleaves.Model(model_file=path)
        model.compile()  # no object-file cache: lleaves writes it in place, unchecked and unlocked
    finally:
        os.unlink(path)
    return model


def _split_values(booster: Any) -> dict[int, set[float]]:
    """Every numeric threshold and every category a split tests, per feature index."""
    values: dict[int, set[float]] = {}
    stack = [tree["tree_structure"] for tree in booster.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_feature" not in node:
            continue
        seen = values.setdefault(int(node["split_feature"]), set())
        if node["decision_type"] == "==":
            seen.update(float(c) for c in str(node["threshold"]).split("||"))
        else:
            t = float(node["threshold"])
            seen.update((t, float(np.nextafter(t, -np.inf)), float(np.nextafter(t, np.inf))))
        stack += [node["left_child"], node["right_child"]]
    return values


def probe_matrix(booster: Any, spec: FeatureSpec, rows: int = PROBE_ROWS, seed: int = PROBE_SEED) -> np.ndarray:
    """Rows whose every cell is one of the values that decide a split of that feature, or
    missing; for a categorical, every vocabulary index (what the matrix builders produce), for a
    numeric also 0 and large magnitudes: each cell drawn at random."""
    rng = np.random.default_rng(seed)
    splits = _split_values(booster)
    out = np.empty((rows, len(spec.features)), dtype=np.float64)
    for j, feature in enumerate(spec.features):
        candidates = {np.nan} | splits.get(j, set())
        if feature.kind == "categorical":
            candidates |= {float(code) for code in range(len(feature.vocabulary))}
        else:
            candidates |= {0.0, -1e30, 1e30}
        out[:, j] = rng.choice(np.array(sorted(candidates, key=repr)), size=rows)
    return out


def verified_predictor(model_text: str, booster: Any, spec: FeatureSpec, tolerance: float) -> Predictor:
    """The compiled trees once they match `booster` on the probe matrix; ParityError if not."""
    model = compile_trees(model_text)

    def score(matrix: np.ndarray) -> np.ndarray:
        return model.predict(np.ascontiguousarray(matrix, dtype=np.float64), n_jobs=1)

    probe = probe_matrix(booster, spec)
    gap = float(np.max(np.abs(score(probe) - booster.predict(probe)), initial=0.0))
    if not gap <= tolerance:
        raise ParityError(f"compiled trees differ from Booster.predict by {gap:.3g} on the probe "
                          f"matrix (tolerance {tolerance:g})")  # fmt: skip
    return Predictor("compiled", score, f"lleaves; max |compiled - booster| = {gap:.3g} on {len(probe)} probe rows")


_COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="adctr-compile")  # one compile at a time


class LivePredictor:
    """What a loaded version scores with now: `Booster.predict` from the moment it loads, the
    compiled trees once they are proved (compiled in the background, so a hot swap waits for
    nothing). Requests read `current` once; replacing it is one reference assignment."""

    def __init__(self, config: PredictorConfig, model_text: str, booster: Any, spec: FeatureSpec,
                 name: str = "model") -> None:  # fmt: skip
        self.name = name
        self._done = threading.Event()
        if config.mode == "booster":
            self.current = booster_predictor(booster)
            self._done.set()
            return
        self.current = booster_predictor(booster, "compiling; Booster.predict serves until the compiled trees are proved")
        _COMPILER.submit(self._compile, config, model_text, booster, spec)

    def _compile(self, config: PredictorConfig, model_text: str, booster: Any, spec: FeatureSpec) -> None:
        try:
            self.current = verified_predictor(model_text, booster, spec, config.tolerance)
            log.info("%s: compiled trees serve (%s)", self.name, self.current.note)
        except Exception as exc:  # noqa: BLE001 - any failure to compile or prove parity: the booster serves
            log.warning("%s: compiled predictor refused (%s); Booster.predict serves", self.name, exc)
            self.current = booster_predictor(booster, f"compiled predictor refused: {exc}")
        finally:
            self._done.set()

    def score(self, matrix: np.ndarray) -> np.ndarray:
        return self.current.score(matrix)

    def wait(self, timeout: float | None = None) -> Predictor:
        """The predictor once compiling has ended (proved or refused); TimeoutError if it has not."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"compiling did not end within {timeout} s")
        return self.current

    def describe(self) -> dict[str, str]:
        return self.current.describe() | {"state": "ready" if self._done.is_set() else "compiling"}
