"""The serving library and reference service: loose interface, policies, hot swap, metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from adctr.core.storage import LocalStore
from adctr.model.contract import load_model
from adctr.release import artifacts
from adctr.serving.instances import InstanceError, arrow_request_body, json_instances, to_matrix
from adctr.serving.reader import PolicyError, VersionPolicy, VersionReader
from adctr.serving.service import SlotService, create_app
from fastapi.testclient import TestClient

from tests.helpers import synthetic_examples, tiny_model_files

ROOT = Path(__file__).resolve().parents[2]
FILES = tiny_model_files()
FITTED = load_model(FILES["model.txt"].decode(), FILES["feature_spec.json"].decode())


def instances_of(frame) -> list[dict]:  # noqa: ANN001
    """Rows as a JSON client would send them (through a JSON round trip)."""
    return json.loads(json.dumps(json_instances(frame)))


def test_loose_interface_ignores_extras_defaults_optionals_and_lists_bad_fields() -> None:
    frame = synthetic_examples(n=20)
    instances = instances_of(frame)
    expected = FITTED.predict(frame)
    for inst in instances:
        inst["campaign_id"] = "ignored"  # extra keys are ignored
    np.testing.assert_allclose(FITTED.predict_matrix(to_matrix(FITTED.spec, instances)), expected, rtol=0, atol=1e-12)

    partial = [dict(i) for i in instances]
    for inst in partial:
        inst.pop("creative_ctr_7d", None)
        inst.pop("industry", None)
    expected_partial = FITTED.predict(frame.drop(columns=["creative_ctr_7d", "industry"]))
    np.testing.assert_allclose(FITTED.predict_matrix(to_matrix(FITTED.spec, partial)), expected_partial, rtol=0, atol=1e-12)

    bad = [dict(i) for i in instances[:4]]
    del bad[0]["device"], bad[2]["medium"]
    bad[1]["headline_length"] = "long"
    bad[3]["report_date"] = "yesterday"
    with pytest.raises(InstanceError) as err:
        to_matrix(FITTED.spec, bad)
    text = str(err.value)
    for expected_text in ("missing required feature 'medium' (instance 2)", "missing required feature 'device' "
                          "(instance 0)", "'headline_length' must be a number (instance 1", "'report_date'"):  # fmt: skip
        assert expected_text in text
    with pytest.raises(InstanceError, match="non-empty list"):
        to_matrix(FITTED.spec, {"medium": "x"})
    bad_types = [dict(instances[0], medium=3.5, device=True, headline_length=True, creative_ctr_7d="0.1")]
    with pytest.raises(InstanceError) as err:
        to_matrix(FITTED.spec, bad_types)
    for name in ("'medium' must be a string", "'device' must be a string", "'headline_length' must be a number",
                 "'creative_ctr_7d' must be a number"):  # fmt: skip
        assert name in str(err.value)

    # The columnar request shape gives the same matrix; lists must have one length.
    columns = {k: [i.get(k) for i in instances] for k in frame.columns}
    np.testing.assert_array_equal(to_matrix(FITTED.spec, inputs=columns), to_matrix(FITTED.spec, instances))
    with pytest.raises(InstanceError, match="equal length"):
        to_matrix(FITTED.spec, inputs={**columns, "device": ["x"]})
    # Categoricals sent as integers, and date objects in process, are accepted as training does.
    spec_frame = frame.assign(report_date=[d for d in frame["report_date"]])
    np.testing.assert_array_equal(
        to_matrix(FITTED.spec, inputs={**columns, "report_date": list(spec_frame["report_date"])}),
        to_matrix(FITTED.spec, inputs=columns),
    )


def test_arrow_requests_match_the_json_path_and_list_problems() -> None:
    import pyarrow as pa
    from adctr.serving.instances import ArrowMatrixBuilder, MatrixBuilder

    frame = synthetic_examples(n=30).drop(columns=["industry"])  # an optional feature left out
    frame["campaign_id"] = "extra"
    builder = MatrixBuilder(FITTED.spec)
    arrow = ArrowMatrixBuilder(builder, FITTED.spec)
    table = pa.ipc.open_stream(arrow_request_body(frame)).read_all()
    np.testing.assert_array_equal(arrow.matrix(table), to_matrix(FITTED.spec, instances_of(frame)))
    as_strings = table.set_column(table.schema.get_field_index("report_date"), "report_date",
                                  pa.array([d.isoformat() for d in frame["report_date"]]))  # fmt: skip
    np.testing.assert_array_equal(arrow.matrix(as_strings), arrow.matrix(table))
    bad = table.drop_columns(["device"]).set_column(
        table.schema.get_field_index("headline_length") - 1, "headline_length", pa.array(["x"] * 30)
    )
    with pytest.raises(InstanceError) as err:
        arrow.matrix(bad)
    assert "missing required feature 'device'" in str(err.value) and "'headline_length' must be a number" in str(err.value)


def test_nan_in_a_required_numeric_feature_is_missing_and_refused() -> None:
    """A spec may require a numeric feature: NaN there is a missing value, in rows and in Arrow."""
    import dataclasses

    import pyarrow as pa
    from adctr.model.contract import FeatureSpec
    from adctr.serving.instances import ArrowMatrixBuilder, MatrixBuilder

    spec = FeatureSpec([dataclasses.replace(f, required=True) if f.name == "headline_length" else f
                        for f in FITTED.spec.features])  # fmt: skip
    instances = instances_of(synthetic_examples(n=3))
    instances[1]["headline_length"] = float("nan")
    with pytest.raises(InstanceError, match=r"missing required feature 'headline_length' \(instance 1: NaN\)"):
        to_matrix(spec, instances)
    builder = MatrixBuilder(spec)
    table = pa.table({k: [i.get(k) for i in instances] for k in instances[0]})
    with pytest.raises(InstanceError, match=r"missing required feature 'headline_length' \(1 NaN rows\)"):
        ArrowMatrixBuilder(builder, spec).matrix(table)


def test_version_policies() -> None:
    assert VersionPolicy.parse("latest").select([1, 3, 2]) == [3]
    assert VersionPolicy.parse({"latest": 2}).select([1, 3, 2]) == [2, 3]
    assert VersionPolicy.parse({"specific": [1, 5]}).select([1, 2, 3]) == [1]
    for bad in ({"latest": 0}, {"specific": []}, {"newest": 1}, "all", {"latest": True}):
        with pytest.raises(PolicyError):
            VersionPolicy.parse(bad)


def _publish_to_slot(store: LocalStore, slot: str, files: dict[str, bytes]) -> int:
    v = artifacts.publish(store, "ctr", "main", files, {"blessed": True}).version
    artifacts.copy_version(store, "models/ctr/main", v, f"serving/{slot}")
    return v


def test_service_predicts_hot_swaps_and_reports_metrics(tmp_path) -> None:  # noqa: ANN001
    store = LocalStore(tmp_path)
    _publish_to_slot(store, "ctr0", FILES)
    service = SlotService(store, ["ctr0", "ctr1"], poll_interval=3600)
    frame = synthetic_examples(n=8, seed=11)
    body = {"instances": instances_of(frame)}
    with TestClient(create_app(service)) as client:
        service.readers["ctr0"].wait_ready()  # one engine per version from here: answers compare exactly
        r = client.post("/v1/models/ctr0:predict", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert (out["model"], out["variant"], out["version"]) == ("ctr", "main", 1)
        np.testing.assert_allclose(out["predictions"], FITTED.predict(frame), rtol=0, atol=1e-12)

        # A new version appears: the next poll swaps it in without a restart.
        other = tiny_model_files(seed=8)
        _publish_to_slot(store, "ctr0", other)
        service.poll()
        service.readers["ctr0"].wait_ready()
        out2 = client.post("/v1/models/ctr0:predict", json=body).json()
        assert out2["version"] == 2
        assert out2["predictions"] != out["predictions"]
        pinned = client.post("/v1/models/ctr0:predict", json={**body, "version": 1})
        assert pinned.status_code == 404 and "not loaded (loaded: [2])" in pinned.text  # policy: latest

        status = client.get("/v1/models/ctr0").json()
        assert status["state"] == "AVAILABLE" and status["versions"][0]["version"] == 2
        assert client.get("/v1/models/ctr1").json()["state"] == "NO_VERSION"
        assert client.post("/v1/models/ctr1:predict", json=body).status_code == 503
        assert client.post("/v1/models/nope:predict", json=body).status_code == 404
        arrow = client.post("/v1/models/ctr0:predict", content=arrow_request_body(frame),
                            headers={"Content-Type": "application/vnd.apache.arrow.stream"})  # fmt: skip
        assert arrow.json()["predictions"] == out2["predictions"]
        garbage = client.post("/v1/models/ctr0:predict", content=b"xx",
                              headers={"Content-Type": "application/vnd.apache.arrow.stream"})  # fmt: skip
        assert garbage.status_code == 400 and "not an Arrow IPC stream" in garbage.text
        bad = client.post("/v1/models/ctr0:predict", json={"instances": [{"medium": "x"}]})
        assert bad.status_code == 400 and "missing required feature 'device'" in json.dumps(bad.json())

        # A tampered new version is refused; version 2 keeps serving.
        artifacts.publish(store, "ctr", "main", FILES, {"blessed": True})
        artifacts.copy_version(store, "models/ctr/main", 3, "serving/ctr0")
        (tmp_path / "serving/ctr0/3/feature_spec.json").write_bytes(b"{}")  # behind the store's back
        service.poll()
        assert client.post("/v1/models/ctr0:predict", json=body).json()["version"] == 2
        assert "feature_spec.json: sha256" in client.get("/v1/models/ctr0").json()["refused"]["3"]

        metrics = client.get("/metrics").text
    assert 'adctr_serving_requests_total{outcome="ok",slot="ctr0",version="1"} 1.0' in metrics
    assert 'adctr_serving_requests_total{outcome="bad_request",slot="ctr0",version="2"} 1.0' in metrics
    assert 'adctr_serving_requests_total{outcome="bad_request",slot="ctr0",version="none"} 1.0' in metrics
    assert 'adctr_serving_requests_total{outcome="unavailable",slot="ctr1",version="none"} 1.0' in metrics
    assert 'adctr_serving_loaded_version{slot="ctr0"} 2.0' in metrics
    assert 'adctr_serving_load_failures_total{slot="ctr0"} 1.0' in metrics
    assert 'adctr_serving_request_seconds_count{slot="ctr0",version="2"}' in metrics
    assert 'adctr_serving_version_loaded{model="ctr",slot="ctr0",variant="main",version="2"} 1.0' in metrics


def test_reader_never_drops_a_request_during_a_swap(tmp_path) -> None:  # noqa: ANN001
    store = LocalStore(tmp_path)
    _publish_to_slot(store, "ctr0", FILES)
    reader = VersionReader(store, "serving/ctr0")
    reader.poll()
    in_flight = reader.get()  # a request holds its version for its whole duration
    _publish_to_slot(store, "ctr0", tiny_model_files(seed=9))
    artifacts.retire_version(store, "serving/ctr0", 1)
    reader.poll()
    assert reader.get().version == 2
    assert in_flight.version == 1 and len(in_flight.predict(instances_of(synthetic_examples(n=3)))) == 3


def test_serving_library_imports_without_airflow() -> None:
    code = (
        "import sys; import adctr.serving.service, adctr.serving.__main__, adctr.release.slots, adctr.core.storage; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'); "
        "assert not bad, bad"
    )
    env = {"PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
