"""The JSON fast path (`adctr.serving.jsonbody`): the validating path's matrix bit for bit, and
every unusual body left to the validating path (which answers or names the problem)."""

from __future__ import annotations

import dataclasses
import json

import msgspec
import numpy as np
import pytest
from adctr.core.storage import LocalStore
from adctr.model.contract import FeatureSpec, load_model
from adctr.release import artifacts
from adctr.serving.instances import InstanceError, MatrixBuilder, json_instances
from adctr.serving.jsonbody import JsonBodyDecoder
from adctr.serving.reader import VersionPolicy
from adctr.serving.service import SlotService, create_app
from fastapi.testclient import TestClient

from tests.helpers import synthetic_examples, tiny_model_files

FILES = tiny_model_files()
FITTED = load_model(FILES["model.txt"].decode(), FILES["feature_spec.json"].decode())


def _spec() -> FeatureSpec:
    """The tiny model's spec, with a default and integer-like categories ("7", "07") added."""
    features = []
    for f in FITTED.spec.features:
        if f.name == "industry":
            f = dataclasses.replace(f, vocabulary=[*f.vocabulary, "7", "07", "-0"])
        if f.name == "creative_age_days":
            f = dataclasses.replace(f, default=3.5)
        features.append(f)
    return dataclasses.replace(FITTED.spec, features=features)


BUILDER = MatrixBuilder(_spec())
DECODER = JsonBodyDecoder(BUILDER)


def _instances(n: int = 12) -> list[dict]:
    rows = json.loads(json.dumps(json_instances(synthetic_examples(n=n, seed=3))))
    rows[0]["industry"], rows[1]["industry"], rows[2]["industry"] = 7, 0, "07"  # integers, looked up as str()
    rows[3]["headline_length"], rows[4]["creative_ctr_7d"] = None, 12  # null, and an integer in a float
    rows[5].pop("creative_age_days")  # left out: the default
    rows[6]["report_date"] = "2026-11-03T10:00:00"  # longer than a date: its first ten characters
    rows[7]["report_date"] = None
    rows[8]["campaign_id"] = {"nested": [1, {"x": None}]}  # not a feature: ignored
    rows[9]["headline_length"] = 9007199254740993  # past 2**53: rounds as float() does
    rows[10]["report_date"] = "NaT"  # numpy's not-a-time: missing
    rows[11]["report_date"] = "2026-11"  # a month: its first day, as numpy parses it
    return rows


def _columns(rows: list[dict]) -> dict[str, list]:
    keys = sorted({k for r in rows for k in r})
    return {k: [r.get(k) for r in rows] for k in keys}


def _validating(body: dict) -> np.ndarray:
    if "instances" in body:
        columns, n = BUILDER.columns_of_instances(body["instances"])
    else:
        columns, n = BUILDER.columns_of_inputs(body["inputs"])
    return BUILDER.matrix(columns, n)


@pytest.mark.parametrize("shape", ["instances", "inputs"])
def test_the_fast_path_gives_the_validating_paths_matrix_bit_for_bit(shape: str) -> None:
    rows = _instances()
    for body in ({shape: rows if shape == "instances" else _columns(rows)},
                 {shape: rows[:1] if shape == "instances" else _columns(rows[:1]), "version": 3}):  # fmt: skip
        raw = json.dumps(body).encode()
        parsed = DECODER.decode(raw)
        assert parsed is not None and parsed.count == len(rows if len(body) == 1 else rows[:1])
        matrix = DECODER.matrix(parsed)
        assert matrix is not None
        np.testing.assert_array_equal(matrix, _validating(json.loads(raw)))
        assert parsed.version == body.get("version", msgspec.UNSET)


def _unusual_bodies() -> list[bytes]:
    row = _instances()[10]  # a plain row

    def rows(**changes: object) -> bytes:
        return json.dumps({"instances": [{**row, **changes}]}).encode()

    return [
        rows(headline_length="__X__").replace(b'"__X__"', b"NaN"),
        rows(headline_length="__X__").replace(b'"__X__"', b"1e999"),
        rows(headline_length="__X__").replace(b'"__X__"', b"1" + b"0" * 400),
        rows(medium="__X__").replace(b'"__X__"', b"1" * 5000),
        rows(headline_length=True), rows(headline_length="12"), rows(medium=3.0), rows(device=None),
        rows(report_date="yesterday"), rows(report_date=20261103), rows(medium="\ud800"),
        json.dumps({"instances": [{k: v for k, v in row.items() if k != "medium"}]}).encode(),
        json.dumps({"instances": [row], "inputs": _columns([row])}).encode(),
        json.dumps({"instances": []}).encode(), json.dumps({"instances": None}).encode(),
        json.dumps({"instances": [row, 3]}).encode(), json.dumps({"version": 1}).encode(),
        json.dumps({"instances": [row], "version": True}).encode(),
        json.dumps({"instances": [row], "version": 1.5}).encode(),
        json.dumps({"inputs": {**_columns([row]), "clicks": 3}}).encode(),  # an unused column, not a list
        json.dumps({"inputs": {**_columns([row]), "clicks": [1, 2]}}).encode(),  # of another length
        json.dumps({"inputs": {**_columns([row]), "device": []}}).encode(),
        json.dumps({"inputs": {}}).encode(), json.dumps([row]).encode(),
        b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}", b"\xef\xbb\xbf" + rows(), rows()[:-3],
        json.dumps({"instances": [row]}).encode("utf-16"),
    ]  # fmt: skip


def test_every_unusual_body_is_left_to_the_validating_path() -> None:
    for raw in _unusual_bodies():
        parsed = DECODER.decode(raw)
        assert parsed is None or DECODER.matrix(parsed) is None, raw[:120]


def test_the_service_answers_as_the_validating_path_does(tmp_path) -> None:  # noqa: ANN001
    """Through the service: the same predictions, and the same problems named, on both paths;
    with two versions loaded, `version` (body or query) selects the other one's features."""
    store = LocalStore(tmp_path)
    other = tiny_model_files(seed=8)
    for files in (FILES, other):
        v = artifacts.publish(store, "ctr", "main", files, {"blessed": True}).version
        artifacts.copy_version(store, "models/ctr/main", v, "serving/ctr0")
    newest = load_model(other["model.txt"].decode(), other["feature_spec.json"].decode())
    service = SlotService(store, ["ctr0"], VersionPolicy(latest=2), poll_interval=3600)
    frame = synthetic_examples(n=9, seed=11)
    rows = json.loads(json.dumps(json_instances(frame)))
    with TestClient(create_app(service)) as client:
        service.readers["ctr0"].wait_ready()  # one engine per version from here: answers compare exactly
        url = "/v1/models/ctr0:predict"
        for body, params, model, version in (
            ({"instances": rows}, {}, newest, 2), ({"inputs": _columns(rows)}, {}, newest, 2),
            ({"instances": rows, "version": 1}, {}, FITTED, 1), ({"inputs": _columns(rows)}, {"version": "1"}, FITTED, 1),
            ({"instances": rows, "version": None}, {"version": "1"}, newest, 2),  # null in the body wins
        ):  # fmt: skip
            r = client.post(url, json=body, params=params)
            assert r.status_code == 200 and r.json()["version"] == version, r.text
            served = service.readers["ctr0"].loaded[version]  # the same predictor: equal matrices, equal scores
            assert r.json()["predictions"] == served.predict_matrix(_validating_for(model, body)).tolist()
        for raw in _unusual_bodies():
            r = client.post(url, content=raw, headers={"Content-Type": "application/json"})
            try:  # what the validating path makes of it (a bad `version` is refused before scoring)
                body = json.loads(raw, parse_constant=_refuse)
                if isinstance(body, dict) and "version" in body:
                    raise InstanceError(["a version the fast path leaves"])
                matrix = _validating_for(newest, body)
            except (ValueError, RecursionError, AttributeError):  # InstanceError is a ValueError
                assert r.status_code == 400, (raw[:80], r.status_code, r.text[:200])
                continue
            assert r.status_code == 200, (raw[:80], r.text[:200])
            assert r.json()["predictions"] == service.readers["ctr0"].loaded[2].predict_matrix(matrix).tolist()


def _refuse(name: str) -> float:
    raise ValueError(name)


def _validating_for(model, body: dict) -> np.ndarray:  # noqa: ANN001
    builder = MatrixBuilder(model.spec)
    if (body.get("instances") is None) == (body.get("inputs") is None):
        raise InstanceError(["one shape"])
    if body.get("instances") is not None:
        columns, n = builder.columns_of_instances(body["instances"])
    else:
        columns, n = builder.columns_of_inputs(body["inputs"])
    return builder.matrix(columns, n)
