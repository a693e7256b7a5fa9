"""The scoring service bounds its inputs: each bad request gets a 4xx naming the problem.

One real service (`python -m adctr.serving`, its limits read from a copy of config/ whose
slots.yaml sets small ones) serves a tiny model on loopback; every case below is a request
a client or an attacker can send, answered 413/415/400, never 5xx, a hang or a crash.
"""

from __future__ import annotations

import json
import shutil
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import requests
import yaml
from adctr.core.storage import LocalStore
from adctr.release import artifacts
from adctr.serving.instances import arrow_request_body, json_instances

from tests.helpers import scoring_service, synthetic_examples, tiny_model_files

ROOT = Path(__file__).resolve().parents[2]
MAX_BODY = 64 * 1024
MAX_INSTANCES = 20  # 20 instances of the contract's 51 features stay well under MAX_BODY
ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}
JSON = {"Content-Type": "application/json"}
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("serving_limits")
    config = tmp / "config"
    shutil.copytree(ROOT / "config", config)
    slots = yaml.safe_load((config / "slots.yaml").read_text())
    slots["serving"].update(max_body_bytes=MAX_BODY, max_instances=MAX_INSTANCES)
    (config / "slots.yaml").write_text(yaml.safe_dump(slots))
    store = LocalStore(tmp / "store")
    version = artifacts.publish(store, "ctr", "main", tiny_model_files(), {"blessed": True}).version
    artifacts.copy_version(store, "models/ctr/main", version, "serving/ctr0")
    log = tmp / "service.log"
    with scoring_service(tmp / "store", "ctr0", log, poll_interval=3600, loaded="ctr0",
                         env={"ADCTR_CONFIG_DIR": str(config)}) as base:  # fmt: skip
        yield f"{base}/v1/models/ctr0:predict"
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]  # no request raised


def _instances(n: int) -> list[dict]:
    return json_instances(synthetic_examples(n=n, seed=5))


def _problems(response: requests.Response) -> str:
    return json.dumps(response.json()["detail"])


def _path(url: str) -> str:
    return "/" + url.split("//")[1].split("/", 1)[1]


def _raw_request(url: str, head: str, chunks: Iterator[bytes], cap: int) -> tuple[bytes, int]:
    """Send `head`, then chunks until the service answers or `cap` bytes went; (answer, sent)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        sent = 0
        sock.setblocking(False)
        answer = b""
        for chunk in chunks:
            try:
                answer = sock.recv(65536)
                break
            except BlockingIOError:
                pass
            if sent >= cap:
                break
            sock.setblocking(True)
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):  # answered and closed: read it
                break
            sock.setblocking(False)
            sent += len(chunk)
            time.sleep(0.002)  # the service gets >= 0.5 s to answer before `sent` reaches 2 MiB
        sock.setblocking(True)
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer:
            try:
                more = sock.recv(65536)
            except ConnectionResetError:  # the service closed after answering; keep what came
                break
            if not more:
                break
            answer += more
        return answer, sent


def test_limits_come_from_config() -> None:
    from adctr.core import settings
    from adctr.core.errors import ConfigError
    from adctr.serving.limits import ServingLimits

    serving = settings.load_config("slots")["serving"]
    assert ServingLimits.from_config(serving) == ServingLimits(max_body_bytes=32 * 1024 * 1024, max_instances=100_000)
    assert ServingLimits.configured() == ServingLimits.from_config(serving)
    assert ServingLimits.from_config(None) == ServingLimits()  # a slots.yaml without the keys
    for bad in (0, -1, "10", True, 1.5):
        with pytest.raises(ConfigError, match="serving.max_instances"):
            ServingLimits.from_config({"max_instances": bad})


def test_a_body_over_the_limit_is_refused_with_413_naming_it(url: str) -> None:
    body = json.dumps({"instances": _instances(MAX_INSTANCES)} | {"pad": "x" * MAX_BODY}).encode()
    r = requests.post(url, data=body, headers=JSON, timeout=30)
    assert r.status_code == 413, r.text[:500]
    detail = r.json()["detail"]
    assert detail["limit"] == "serving.max_body_bytes" and detail["value"] == MAX_BODY
    assert "Content-Length" in detail["problems"][0] and "65,536" in detail["problems"][0]

    # Content-Length alone decides: 10 GB announced, nothing sent, refused at once.
    head = (f"POST {_path(url)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 10000000000\r\n\r\n")  # fmt: skip
    answer, _ = _raw_request(url, head, iter([b""]), cap=0)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(url: str) -> None:
    head = (f"POST {_path(url)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    piece = b'{"medium": "m", "device": "d"},' * 256  # 8 KiB of a JSON list that never ends

    def chunks() -> Iterator[bytes]:
        yield b"%x\r\n%s\r\n" % (16, b'{"instances": [ ')
        while True:
            yield b"%x\r\n%s\r\n" % (len(piece), piece)

    answer, sent = _raw_request(url, head, chunks(), cap=8 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"serving.max_body_bytes" in answer
    assert sent < 2 * 1024 * 1024, f"answered only after {sent} bytes"  # not after reading it all

    # The same through an ordinary client streaming a generator (no Content-Length).
    r = requests.post(url, data=(piece for _ in range(20)), headers=JSON, timeout=30)
    assert r.status_code == 413 and r.json()["detail"]["limit"] == "serving.max_body_bytes"


def test_too_many_instances_get_413_naming_the_limit(url: str) -> None:
    rows = _instances(MAX_INSTANCES + 1)
    assert requests.post(url, json={"instances": rows[:MAX_INSTANCES]}, timeout=30).status_code == 200
    columns = {k: [i.get(k) for i in rows] for k in rows[0]}
    frame = synthetic_examples(n=MAX_INSTANCES + 1, seed=5)
    for r in (
        requests.post(url, json={"instances": rows}, timeout=30),
        requests.post(url, json={"inputs": columns}, timeout=30),
        requests.post(url, data=arrow_request_body(frame), headers=ARROW, timeout=30),
    ):
        assert r.status_code == 413, r.text[:300]
        detail = r.json()["detail"]
        assert detail["limit"] == "serving.max_instances" and detail["value"] == MAX_INSTANCES, detail
        assert f"exceeds serving.max_instances = {MAX_INSTANCES}" in detail["problems"][0]


def test_malformed_json_and_bad_versions_get_400_naming_the_problem(url: str) -> None:
    for body, expected in (
        (b'{"instances": [', "the body is not JSON"),
        (b"\xff\xfe\x00garbage", "the body is not JSON"),
        (b'{"instances": [{"medium": 1' + b"1" * 5000 + b"}]}", "the body is not JSON"),  # > int digit limit
        (b"[1, 2]", "must be an object"),
    ):
        r = requests.post(url, data=body, headers=JSON, timeout=30)
        assert r.status_code == 400 and expected in _problems(r), (body[:40], r.status_code, r.text[:300])
    for version in ("\u00b2", "1" * 30, "v1"):  # a superscript digit passes str.isdigit()
        r = requests.post(url, params={"version": version}, data=arrow_request_body(synthetic_examples(n=2)),
                          headers=ARROW, timeout=30)  # fmt: skip
        assert r.status_code == 400 and "`version` must be an integer" in _problems(r), (version, r.text[:300])


def test_a_wrong_content_type_gets_415(url: str) -> None:
    body = json.dumps({"instances": _instances(2)})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        r = requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=30)
        assert r.status_code == 415, (content_type, r.status_code)
        assert content_type in _problems(r) and "application/json" in _problems(r)
    for content_type in ("application/json; charset=utf-8", "application/problem+json"):
        assert requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=30).status_code == 200


def _forged_offsets() -> bytes:
    """A well-framed Arrow stream whose string offsets point far past the data buffer."""
    table = pa.table({"medium": ["medium_a", "medium_bb"] * 10, "device": ["device_a"] * 20})
    raw = bytearray(arrow_request_body(table))
    at = raw.find(struct.pack("<iii", 0, 8, 17))
    assert at > 0
    raw[at + 4 : at + 8] = struct.pack("<i", 10**8)
    return bytes(raw)


def test_a_body_that_is_not_an_arrow_stream_gets_400(url: str) -> None:
    frame = synthetic_examples(n=4)
    good = arrow_request_body(frame)
    dup = pa.Table.from_pandas(frame, preserve_index=False)
    dup = dup.append_column("medium", pa.array(["x"] * 4))
    big_int = pa.Table.from_pandas(frame, preserve_index=False).drop_columns(["headline_length"])
    big_int = big_int.append_column("headline_length", pa.array([2**62 + 1] * 4, pa.int64()))
    for body, expected in (
        (b"xx", "not an Arrow IPC stream"),
        (good[: len(good) // 2], "not an Arrow IPC stream"),  # cut off mid-stream
        (json.dumps({"instances": _instances(2)}).encode(), "not an Arrow IPC stream"),
        (_forged_offsets(), "not an Arrow IPC stream"),  # used to crash the process (out-of-bounds read)
        (arrow_request_body(dup), "more than one column 'medium'"),
    ):
        r = requests.post(url, data=body, headers=ARROW, timeout=30)
        assert r.status_code == 400 and expected in _problems(r), (expected, r.status_code, r.text[:300])
    # A 64-bit integer past 2**53 is rounded, as the JSON path does, not refused with a 500.
    assert requests.post(url, data=arrow_request_body(big_int), headers=ARROW, timeout=30).status_code == 200


@pytest.mark.parametrize(("feature", "literal", "expected"), [
    ("medium", "NaN", "NaN is not a JSON value"),  # a required feature
    ("headline_length", "NaN", "NaN is not a JSON value"),
    ("headline_length", "Infinity", "Infinity is not a JSON value"),
    ("creative_ctr_7d", "-Infinity", "-Infinity is not a JSON value"),
    ("headline_length", "1e999", "'headline_length' must be a finite number"),  # overflows to inf
    ("headline_length", "1" + "0" * 400, "'headline_length' must be a finite number"),  # int beyond float
])  # fmt: skip
def test_nan_and_infinity_get_400_naming_them(url: str, feature: str, literal: str, expected: str) -> None:
    instance = _instances(1)[0]
    instance[feature] = "__VALUE__"
    body = json.dumps({"instances": [instance]}).replace('"__VALUE__"', literal)
    r = requests.post(url, data=body, headers=JSON, timeout=30)
    assert r.status_code == 400 and expected in _problems(r), r.text[:300]


def test_infinity_in_an_arrow_stream_gets_400(url: str) -> None:
    frame = synthetic_examples(n=4).assign(headline_length=[1.0, np.inf, -np.inf, 2.0])
    r = requests.post(url, data=arrow_request_body(frame), headers=ARROW, timeout=30)
    assert r.status_code == 400 and "'headline_length' must be a finite number (instances 1, 2" in _problems(r)


def test_a_huge_string_is_data_in_a_categorical_and_refused_briefly_elsewhere(url: str) -> None:
    """A categorical value of any length is an unseen category (scored as missing, as training
    treats unseen levels); elsewhere it is refused and the message quotes it shortened."""
    huge = "z" * (MAX_BODY // 2)  # as big as the test's body limit lets it be
    base = _instances(3)
    unseen = [dict(i, industry="never seen") for i in base]
    expected = requests.post(url, json={"instances": unseen}, timeout=30).json()["predictions"]
    r = requests.post(url, json={"instances": [dict(base[0], industry=huge), *unseen[1:]]}, timeout=30)
    assert r.status_code == 200 and r.json()["predictions"] == expected
    for field in ("headline_length", "report_date"):
        r = requests.post(url, json={"instances": [dict(base[0], **{field: huge[:-20]})]}, timeout=30)
        assert r.status_code == 400 and f"feature {field!r} must be" in _problems(r), r.text[:300]
        assert len(r.content) < 1000, f"the answer echoes the value ({len(r.content)} bytes)"
    r = requests.post(url, json={"inputs": {huge[:-20]: 1}}, timeout=30)
    assert r.status_code == 400 and len(r.content) < 1000


def test_deeply_nested_json_gets_400_not_a_recursion_error(url: str) -> None:
    depth = MAX_BODY // 2 - 100
    r = requests.post(url, data=b'{"instances": ' + b"[" * depth + b"]" * depth + b"}", headers=JSON, timeout=30)
    assert r.status_code == 400 and "nests too deeply" in _problems(r), r.text[:300]
    nested = "[" * 500 + "1" + "]" * 500  # parses, then is a wrong type: quoted shortened
    instance = dict(_instances(1)[0], headline_length="__V__")
    body = json.dumps({"instances": [instance], "version": "__V__"}).replace('"__V__"', nested)
    r = requests.post(url, data=body, headers=JSON, timeout=30)
    assert r.status_code == 400 and "`version` must be an integer, not [[" in _problems(r) and len(r.content) < 1000
    body = json.dumps({"instances": [instance]}).replace('"__V__"', nested)
    r = requests.post(url, data=body, headers=JSON, timeout=30)
    assert r.status_code == 400 and "'headline_length' must be a number" in _problems(r) and len(r.content) < 1000
