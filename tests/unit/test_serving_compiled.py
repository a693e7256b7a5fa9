"""Compiled trees (lleaves) serve only once proved against `Booster.predict`; else the booster."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from adctr.core.errors import ConfigError
from adctr.core.storage import LocalStore
from adctr.model.contract import load_model, transform
from adctr.release import artifacts
from adctr.serving import compiled
from adctr.serving.compiled import (
    LivePredictor,
    ParityError,
    PredictorConfig,
    _split_values,
    probe_matrix,
    verified_predictor,
)
from adctr.serving.instances import arrow_request_body
from adctr.serving.service import SlotService, create_app
from fastapi.testclient import TestClient

from tests.helpers import synthetic_examples

from training.trainer import fit_frames


def _model_files(seed: int, levels: int, rounds: int = 40, rate: float | None = None) -> dict[str, bytes]:
    """A real CTR model whose categoricals have `levels` values: above max_cat_to_onehot, LightGBM
    splits a category set (`a||b||c`), not one category."""
    frame = synthetic_examples(n=3000, seed=seed, levels=levels, days=14)
    cfg = {
        "lightgbm": {"objective": "cross_entropy", "num_leaves": 15, "min_data_in_leaf": 5, "max_cat_to_onehot": 4,
                     "verbosity": -1, "num_threads": 1, "deterministic": True, "seed": seed},
        "num_boost_round": rounds, "early_stopping_rounds": rounds, "negative_downsampling_rate": rate,
    }  # fmt: skip
    fitted, _ = fit_frames(frame.iloc[:2400], frame.iloc[2400:], "clicks", "impressions", cfg)
    return {"model.txt": fitted.model_bytes(), "feature_spec.json": fitted.spec.to_json().encode(),
            "metrics.json": json.dumps({"decision": {"blessed": True}}).encode()}  # fmt: skip


MANY = _model_files(seed=5, levels=12)
FEW = _model_files(seed=9, levels=3, rounds=15)


def _fitted(files: dict[str, bytes]):  # noqa: ANN202
    return load_model(files["model.txt"].decode(), files["feature_spec.json"].decode())


@pytest.mark.parametrize("files", [MANY, FEW], ids=["category-sets", "one-hot"])
def test_compiled_trees_score_as_the_booster_on_the_probe_and_on_real_rows(files) -> None:  # noqa: ANN001
    fitted = _fitted(files)
    predictor = verified_predictor(files["model.txt"].decode(), fitted.booster, fitted.spec, 1e-9)
    assert predictor.kind == "compiled"
    rows = transform(fitted.spec, synthetic_examples(n=500, seed=21, levels=12))
    gap = np.max(np.abs(predictor.score(rows) - fitted.booster.predict(rows)))
    assert gap <= 1e-9
    # C and Fortran order, one row and none: the same scores
    np.testing.assert_array_equal(predictor.score(np.ascontiguousarray(rows)), predictor.score(rows))
    np.testing.assert_allclose(predictor.score(rows[:1]), fitted.booster.predict(rows[:1]), rtol=0, atol=1e-9)
    assert predictor.score(rows[:0]).shape == (0,)


def test_the_probe_holds_every_split_point_and_its_neighbours() -> None:
    fitted = _fitted(MANY)
    probe = probe_matrix(fitted.booster, fitted.spec)
    splits = _split_values(fitted.booster)
    categorical = set(fitted.spec.categorical_indices)
    assert any(len(v) > 3 for j, v in splits.items() if j in categorical), "no category-set split to probe"
    for j, values in splits.items():
        column = set(probe[:, j][~np.isnan(probe[:, j])].tolist())
        assert values <= column, (fitted.spec.features[j].name, sorted(values - column)[:5])
        assert np.isnan(probe[:, j]).any()
    for j in categorical:
        assert set(range(len(fitted.spec.features[j].vocabulary))) <= set(probe[:, j].tolist())
    np.testing.assert_array_equal(probe, probe_matrix(fitted.booster, fitted.spec))  # seeded: the same every load


def test_trees_that_do_not_match_the_booster_are_refused_and_the_booster_serves() -> None:
    """Another model's trees against this booster: a real disagreement, found by the probe."""
    fitted, other = _fitted(MANY), _fitted(FEW)
    with pytest.raises(ParityError, match="differ from Booster.predict by"):
        verified_predictor(FEW["model.txt"].decode(), fitted.booster, fitted.spec, 1e-9)
    live = LivePredictor(PredictorConfig(), FEW["model.txt"].decode(), fitted.booster, fitted.spec)
    predictor = live.wait(60)
    assert predictor.kind == "booster" and "refused" in predictor.note and live.describe()["state"] == "ready"
    rows = transform(fitted.spec, synthetic_examples(n=50, seed=3, levels=12))
    np.testing.assert_array_equal(predictor.score(rows), fitted.booster.predict(rows))
    assert not np.array_equal(predictor.score(rows), other.booster.predict(transform(other.spec, synthetic_examples(n=50, seed=3, levels=12))))


def test_a_version_serves_at_once_on_the_booster_and_compiled_once_proved(tmp_path) -> None:  # noqa: ANN001
    """Loading waits for no compiler: while the compile is held back, the booster answers and the
    status says so; once the trees are proved, they answer (and `booster` mode never compiles)."""
    store = LocalStore(tmp_path)
    files = _model_files(seed=5, levels=12, rate=0.25)  # down-sampled: scores are re-calibrated too
    v = artifacts.publish(store, "ctr", "main", files, {"blessed": True}).version
    artifacts.copy_version(store, "models/ctr/main", v, "serving/ctr0")
    fitted = _fitted(files)
    frame = synthetic_examples(n=300, seed=13, levels=12)
    expected = fitted.predict(frame)
    for config, kind in ((PredictorConfig(), "compiled"), (PredictorConfig(mode="booster"), "booster")):
        service = SlotService(store, ["ctr0"], poll_interval=3600, predictor=config)
        gate = threading.Event()
        compiled._COMPILER.submit(gate.wait, 60)  # the one compile worker is busy until the gate opens
        with TestClient(create_app(service)) as client:
            first = client.get("/v1/models/ctr0").json()["versions"][0]["predictor"]
            assert first["kind"] == "booster" and first["state"] == ("compiling" if kind == "compiled" else "ready")
            r = client.post("/v1/models/ctr0:predict", content=arrow_request_body(frame),
                            headers={"Content-Type": "application/vnd.apache.arrow.stream"})  # fmt: skip
            assert r.status_code == 200 and r.json()["predictions"] == expected.tolist()  # the booster's, exactly
            gate.set()
            service.readers["ctr0"].get().predictor.wait(60)
            status = client.get("/v1/models/ctr0").json()
            assert status["versions"][0]["predictor"]["kind"] == kind, status
            r = client.post("/v1/models/ctr0:predict", content=arrow_request_body(frame),
                            headers={"Content-Type": "application/vnd.apache.arrow.stream"})  # fmt: skip
            assert r.status_code == 200, r.text
            np.testing.assert_allclose(r.json()["predictions"], expected, rtol=0, atol=1e-9)
            if kind == "booster":
                assert r.json()["predictions"] == expected.tolist()


@pytest.mark.parametrize(
    ("serving", "message"),
    [({"predictor": "treelite"}, "serving.predictor must be one of"),
     ({"compiled_tolerance": "1e-9"}, "serving.compiled_tolerance must be a number"),
     ({"compiled_tolerance": 2}, "serving.compiled_tolerance must be a number")],
)  # fmt: skip
def test_a_bad_predictor_setting_names_the_key(serving, message) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match=message):
        PredictorConfig.from_config(serving)
    assert PredictorConfig.from_config(None) == PredictorConfig("compiled", 1e-9)
