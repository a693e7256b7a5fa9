"""Scoring service latency and throughput vs. bare `Booster.predict` on the same rows.

    python bench/serving_latency.py [--rounds 200] [--requests 400] [--predictor compiled|booster]

One CTR model (LightGBM, the production parameters of config/models.yaml, `--rounds` trees)
is published and copied into slot `ctr0`; `python -m adctr.serving` serves it in its own
process on loopback. For 1-instance and 1,000-instance requests it reports client-observed
p50/p99 latency and throughput (sequential requests over one keep-alive connection), beside:
- the floor: `Booster.predict` on the already-transformed float matrix of the same rows;
- the library: `VersionReader` + loose interface + feature transform + predict, in process
  (what the service adds on top of that is HTTP, JSON and FastAPI).
Both serve with `--predictor` (default: config/slots.yaml `serving.predictor`): the compiled
trees, proved against the booster when the version loads, or `Booster.predict` itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]


def synthetic_frame(rows: int, seed: int = 3):  # noqa: ANN201 - pandas.DataFrame
    """Six levels per categorical over 28 days (the tests' generator, at bench size)."""
    from tests.helpers import synthetic_examples

    return synthetic_examples(rows, seed, levels=6, days=28, max_impressions=5000)


def _read(body: bytes):  # noqa: ANN202
    import pyarrow as pa

    return pa.ipc.open_stream(body).read_all()


def response_of(conn: http.client.HTTPConnection) -> http.client.HTTPResponse:
    response = conn.getresponse()
    response.read()
    return response


def _handler_seconds(session, port: int) -> tuple[float, float]:  # noqa: ANN001
    """(sum, count) of the service's own handler-latency histogram, all versions."""
    text = session.get(f"http://127.0.0.1:{port}/metrics").text
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("adctr_serving_request_seconds_sum{"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("adctr_serving_request_seconds_count{"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "n": len(ms)}


def _timed(fn, n: int) -> list[float]:  # noqa: ANN001
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def run(rounds: int = 200, requests_n: int = 400, batch: int = 1000, train_rows: int = 20000,
        predictor: str | None = None) -> dict:  # fmt: skip
    import requests
    from adctr.core import settings
    from adctr.core.storage import LocalStore
    from adctr.model.contract import transform
    from adctr.release import artifacts
    from adctr.serving.compiled import PredictorConfig
    from adctr.serving.instances import arrow_request_body, json_instances
    from adctr.serving.reader import VersionReader

    from training.trainer import fit_frames

    cfg = dict(settings.load_config("models")["defaults"])
    cfg.update(num_boost_round=rounds, early_stopping_rounds=rounds)
    frame = synthetic_frame(train_rows)
    fitted, _ = fit_frames(frame.iloc[: train_rows * 4 // 5], frame.iloc[train_rows * 4 // 5 :], "clicks", "impressions", cfg)
    files = {"model.txt": fitted.model_bytes(), "feature_spec.json": fitted.spec.to_json().encode(),
             "metrics.json": b"{}"}  # fmt: skip
    rows = synthetic_frame(batch, seed=11)
    one, many = json_instances(rows.iloc[:1]), json_instances(rows)
    columns = {k: [i.get(k) for i in many] for k in rows.columns}  # the columnar request shape
    arrow_body = arrow_request_body(rows)
    x_one, x_many = transform(fitted.spec, rows.iloc[:1]), transform(fitted.spec, rows)

    result: dict = {"trees": fitted.booster.num_trees(), "features": len(fitted.spec.features), "batch": batch}
    n1, nb = requests_n * 5, requests_n
    result["floor"] = {
        "1": _percentiles(_timed(lambda: fitted.booster.predict(x_one), n1)),
        str(batch): _percentiles(_timed(lambda: fitted.booster.predict(x_many), nb)),
    }
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(tmp)
        version = artifacts.publish(store, "ctr", "main", files, {"blessed": True}).version
        artifacts.copy_version(store, "models/ctr/main", version, "serving/ctr0")
        serving_cfg = settings.load_config("slots").get("serving") or {}
        config = PredictorConfig.from_config(serving_cfg, predictor)
        reader = VersionReader(store, "serving/ctr0", predictor=config)
        reader.poll()
        lib = reader.get()
        lib.predictor.wait(300)  # measured on the engine that serves once the version is ready
        result["predictor"] = lib.predictor.describe()
        np.testing.assert_allclose(lib.predict(many), fitted.predict(rows), rtol=0, atol=1e-12)
        result["library"] = {
            "1": _percentiles(_timed(lambda: lib.predict(one), n1)),
            str(batch): _percentiles(_timed(lambda: lib.predict(many), nb)),
            f"{batch} columnar": _percentiles(_timed(lambda: lib.predict(inputs=columns), nb)),
            f"{batch} arrow": _percentiles(_timed(lambda: lib.predict_arrow(_read(arrow_body)), nb)),
        }
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
        proc = subprocess.Popen(
            [sys.executable, "-m", "adctr.serving", "--store", tmp, "--slots", "ctr0", "--port", str(port),
             "--poll-interval", "3600", "--predictor", config.mode],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/v1/models/ctr0:predict"
            session = requests.Session()
            deadline = time.monotonic() + 60
            while True:
                try:
                    if session.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["slots"]["ctr0"]:
                        status = session.get(f"http://127.0.0.1:{port}/v1/models/ctr0").json()
                        result["service_predictor"] = status["versions"][0]["predictor"]
                        if result["service_predictor"]["state"] == "ready":
                            break
                except (requests.ConnectionError, KeyError):
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("scoring service did not start")
                time.sleep(0.1)
            body_one = json.dumps({"instances": one}).encode()
            body_many = json.dumps({"instances": many}).encode()
            body_columns = json.dumps({"inputs": columns}).encode()
            arrow_headers = {"Content-Type": "application/vnd.apache.arrow.stream"}
            answer = session.post(url, data=arrow_body, headers=arrow_headers).json()
            np.testing.assert_allclose(answer["predictions"], fitted.predict(rows), rtol=0, atol=1e-12)
            result["request_bytes"] = {"rows": len(body_many), "columnar": len(body_columns), "arrow": len(arrow_body)}
            headers = {"Content-Type": "application/json"}
            answer = session.post(url, data=body_many, headers=headers).json()
            np.testing.assert_allclose(answer["predictions"], fitted.predict(rows), rtol=0, atol=1e-12)
            for _ in range(20):  # warm up
                session.post(url, data=body_one, headers=headers)
            service = {}
            conn = http.client.HTTPConnection("127.0.0.1", port)  # lean keep-alive client
            path = "/v1/models/ctr0:predict"

            def post(body: bytes, h: dict) -> None:
                conn.request("POST", path, body=body, headers=h)
                response = response_of(conn)
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")

            for label, body, n, k, h in (
                ("1", body_one, n1, 1, headers), (str(batch), body_many, nb, batch, headers),
                (f"{batch} columnar", body_columns, nb, batch, headers),
                (f"{batch} arrow", arrow_body, nb, batch, arrow_headers),
            ):
                before = _handler_seconds(session, port)
                times = _timed(lambda b=body, h=h: post(b, h), n)
                after = _handler_seconds(session, port)
                service[label] = {**_percentiles(times), "instances_per_s": n * k / sum(times),
                                  "handler_mean_ms": (after[0] - before[0]) / (after[1] - before[1]) * 1000}  # fmt: skip
            result["service"] = service
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    for side in ("floor", "library"):
        for label, stats in result[side].items():
            stats["instances_per_s"] = int(label.split()[0]) / (stats["p50_ms"] / 1000)
    b = str(batch)
    result["ratio_p50_batch"] = result["service"][b]["p50_ms"] / result["floor"][b]["p50_ms"]
    for shape in ("columnar", "arrow"):
        result[f"ratio_p50_batch_{shape}"] = result["service"][f"{b} {shape}"]["p50_ms"] / result["floor"][b]["p50_ms"]
    result["overhead_p50_1_ms"] = result["service"]["1"]["p50_ms"] - result["floor"]["1"]["p50_ms"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--predictor", choices=["compiled", "booster"], default=None)
    args = parser.parse_args()
    r = run(args.rounds, args.requests, args.batch, predictor=args.predictor)
    print(f"model: {r['trees']} trees, {r['features']} features")
    print(f"predictor: library {r['predictor']}, service {r['service_predictor']}")
    print(f"{'':10s} {'p50 ms':>9s} {'p99 ms':>9s} {'inst/s':>11s}   instances per request")
    for side in ("floor", "library", "service"):
        for label, s in r[side].items():
            handler = f"   (handler mean {s['handler_mean_ms']:.3f} ms)" if "handler_mean_ms" in s else ""
            print(f"{side:10s} {s['p50_ms']:9.3f} {s['p99_ms']:9.3f} {s['instances_per_s']:11.0f}   {label}{handler}")
    print(f"request bytes at {r['batch']}: {r['request_bytes']}")
    print(f"service / floor at {r['batch']} (p50): rows {r['ratio_p50_batch']:.2f}x, columns "
          f"{r['ratio_p50_batch_columnar']:.2f}x, arrow {r['ratio_p50_batch_arrow']:.2f}x; "
          f"1-instance overhead (p50): {r['overhead_p50_1_ms']:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
