"""CreativeSubmitter and build_submitter against the project's simulator over real HTTP: batches
of max_per_call, answers in order, idempotency by label, a label with other content refused,
transient faults of the "submit" stream retried (Retry-After honoured), a bad entry refused at
once, and the submitter built from config/media.yaml and the Airflow Connection."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
import yaml
from adctr.core import settings
from adctr.ingestion.adapters.base import SourceError, SourceUnavailableError
from adctr.ingestion.adapters.http_client import ApiClient, ClientPolicy
from adctr.ingestion.submission import CreativeSubmitter, Submitted, build_submitter
from adctr.local import airflow_env as localenv
from adctr.simulator.routes import SimulatorServer
from adctr.simulator.state import SimulatorState
from adctr.simulator.submissions import SubmissionConfig, creative_id_of
from adctr.simulator.world import World, world_from_config

TODAY = date(2026, 11, 2)  # the simulator's clock: creatives may start from today on
SERVE = TODAY + timedelta(days=1)
MEDIUM = "yahoo_ads"
ACCOUNT = "1001"
PATH = "/api/v1/creatives"


def _token() -> str:
    # The token simulator_connection_uri puts in the Airflow Connection (test 5 needs it).
    return str(settings.load_config("simulator")["token"])


class CountingSession(requests.Session):
    """A real requests.Session that records every request it sends: (method, path, number of
    creatives in the JSON body or None)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, int | None]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = kwargs.get("json")
        n = len(body["creatives"]) if isinstance(body, dict) and "creatives" in body else None
        self.calls.append((method, urlparse(url).path, n))
        return super().request(method, url, *args, **kwargs)

    def posts(self) -> list[int | None]:
        return [n for method, path, n in self.calls if (method, path) == ("POST", PATH)]


@pytest.fixture(scope="module")
def world() -> World:
    return world_from_config(settings.load_config("simulator"))


@pytest.fixture
def serve(world: World) -> Iterator[Callable[..., SimulatorServer]]:
    """Start a simulator on loopback (its own submission store) with a per-call limit."""
    servers: list[SimulatorServer] = []

    def start(max_per_call: int = 10_000) -> SimulatorServer:
        state = SimulatorState(
            world, token=_token(), today=TODAY, submissions=SubmissionConfig(max_per_call=max_per_call)
        )
        server = SimulatorServer(state).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _faults(server: SimulatorServer, rules: list[dict[str, Any]]) -> None:
    resp = requests.put(f"{server.url}/admin/faults", json={"faults": rules}, headers=_auth(), timeout=10)
    assert resp.status_code == 200, resp.text


def _fired(server: SimulatorServer) -> dict[str, int]:
    resp = requests.get(f"{server.url}/admin/faults", headers=_auth(), timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["fired"]


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {_token()}"}


def _submitter(
    server: SimulatorServer, max_per_call: int, session: requests.Session | None = None, **policy: Any
) -> CreativeSubmitter:
    policy = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, "timeout_seconds": 10.0, **policy}
    client = ApiClient(MEDIUM, server.url, _token(), ClientPolicy(**policy), session=session)
    return CreativeSubmitter(client, ACCOUNT, max_per_call)


def _library(world: World) -> dict[str, dict[str, list[str]]]:
    """Launched asset ids by ad group and type, as of TODAY."""
    out: dict[str, dict[str, list[str]]] = {}
    for a in world.asset_table(TODAY).to_pylist():
        out.setdefault(a["ad_group_id"], {}).setdefault(a["asset_type"], []).append(a["asset_id"])
    return out


def _creative(world: World, group: str, label: str, image: int = 0) -> dict[str, str]:
    lib = _library(world)[group]
    return {
        "ad_group_id": group,
        "headline_asset_id": lib["HEADLINE"][0],
        "description_asset_id": lib["DESCRIPTION"][0],
        "image_asset_id": lib["IMAGE"][image % len(lib["IMAGE"])],
        "label": label,
        "start_date": SERVE.isoformat(),
        "end_date": (SERVE + timedelta(days=2)).isoformat(),
    }


def _creatives(world: World, prefix: str, n: int) -> list[dict[str, str]]:
    """n creatives over different ad groups, labels deliberately not in sorted order."""
    groups = world.group_ids.to_pylist()
    return [_creative(world, groups[k % len(groups)], f"{prefix}-{(k * 5) % n:02d}") for k in range(n)]


def _labels(server: SimulatorServer) -> list[str]:
    return [s.label for s in server.state.submissions.all()]


def _expected(creatives: list[dict[str, str]], status: str) -> list[Submitted]:
    return [Submitted(c["label"], creative_id_of(c["ad_group_id"], c["label"]), status) for c in creatives]


def test_batches_of_max_per_call_answer_in_order_and_resubmitting_is_idempotent(serve, world) -> None:
    server = serve(max_per_call=3)  # the medium refuses (413) a call of more than 3
    session = CountingSession()
    submitter = _submitter(server, max_per_call=3, session=session)
    creatives = _creatives(world, "t1", 7)
    assert [c["label"] for c in creatives] != sorted(c["label"] for c in creatives)

    first = submitter.submit(creatives)
    assert first == _expected(creatives, "CREATED")  # one per creative, in the order given
    assert session.posts() == [3, 3, 1]
    assert sorted(_labels(server)) == sorted(c["label"] for c in creatives)
    stored = {s.label: s for s in server.state.submissions.all()}
    for c in creatives:  # what was sent is what the medium holds
        s = stored[c["label"]]
        assert (s.medium, s.ad_group_id, s.image_asset_id, s.start_date.isoformat(), s.end_date.isoformat()) == (
            MEDIUM, c["ad_group_id"], c["image_asset_id"], c["start_date"], c["end_date"],
        )  # fmt: skip

    again = submitter.submit([{**c, "extra": "ignored"} for c in creatives])  # only FIELDS are sent
    assert again == _expected(creatives, "EXISTS")
    assert session.posts() == [3, 3, 1, 3, 3, 1]
    assert len(server.state.submissions) == 7
    assert submitter.submit([]) == [] and len(session.posts()) == 6  # nothing to send: no call


def test_a_label_held_with_other_content_is_refused_naming_it_and_its_batch_is_not_stored(serve, world) -> None:
    server = serve()
    session = CountingSession()
    submitter = _submitter(server, max_per_call=10, session=session)
    groups = [g for g, lib in _library(world).items() if len(lib["IMAGE"]) >= 2]
    held = _creative(world, groups[0], "t2-held", image=0)
    assert submitter.submit([held])[0].status == "CREATED"

    other_image = {**held, "image_asset_id": _creative(world, groups[0], "x", image=1)["image_asset_id"]}
    assert other_image["image_asset_id"] != held["image_asset_id"]
    batch = [_creative(world, groups[1], "t2-new-a"), other_image, _creative(world, groups[2], "t2-new-b")]
    with pytest.raises(SourceError, match="t2-held") as raised:
        submitter.submit(batch)
    assert "409" in str(raised.value)
    assert session.posts() == [1, 3]  # a refusal is not retried
    assert _labels(server) == ["t2-held"]  # nothing of the refused batch
    assert server.state.submissions.all()[0].image_asset_id == held["image_asset_id"]  # unchanged

    # Several batches: those before the refused one stay stored, the refused one not at all.
    by_two = _submitter(server, max_per_call=2, session=session)
    with pytest.raises(SourceError, match="t2-held"):
        by_two.submit([_creative(world, groups[3], "t2-first"), _creative(world, groups[4], "t2-second"),
                       _creative(world, groups[5], "t2-third"), other_image])  # fmt: skip
    assert session.posts()[2:] == [2, 2]
    assert _labels(server) == ["t2-first", "t2-held", "t2-second"]


def test_transient_submit_faults_are_retried_and_each_creative_is_stored_once(serve, world) -> None:
    server = serve(max_per_call=2)
    retry_after = 0.3  # well above backoff_max_seconds: only Retry-After explains the wait
    _faults(server, [
        {"kind": "http_429", "stream": "submit", "on_requests": [1], "retry_after": retry_after},
        {"kind": "http_5xx", "stream": "submit", "on_requests": [2], "status": 503},
        {"kind": "drop_connection", "stream": "submit", "on_requests": [3]},
        {"kind": "http_5xx", "stream": "submit", "on_requests": [5], "status": 500},
    ])  # fmt: skip
    session = CountingSession()
    submitter = _submitter(server, max_per_call=2, session=session, max_attempts=5)
    creatives = _creatives(world, "t3", 4)

    started = time.monotonic()
    answers = submitter.submit(creatives)
    elapsed = time.monotonic() - started

    assert answers == _expected(creatives, "CREATED")  # the faults hit before anything is stored
    assert _fired(server) == {"http_429": 1, "http_5xx": 2, "drop_connection": 1}
    assert session.posts() == [2, 2, 2, 2, 2, 2]  # batch 1: 3 faults + 1; batch 2: 1 fault + 1
    assert sorted(_labels(server)) == sorted(c["label"] for c in creatives)
    assert elapsed >= retry_after  # not retried before the Retry-After the medium asked for


def test_a_request_that_timed_out_after_the_medium_stored_it_is_retried_idempotently(serve, world) -> None:
    server = serve()
    delay = 0.8  # the medium answers after the client gave up (timeout 0.3 s), but stores
    _faults(server, [{"kind": "slow", "stream": "submit", "on_requests": [1], "delay_seconds": delay}])
    session = CountingSession()
    submitter = _submitter(server, max_per_call=10, session=session, timeout_seconds=0.3, max_attempts=3)
    creatives = _creatives(world, "t3b", 3)

    started = time.monotonic()
    answers = submitter.submit(creatives)
    assert [(a.label, a.creative_id) for a in answers] == [(e.label, e.creative_id) for e in _expected(creatives, "")]
    assert {a.status for a in answers} <= {"CREATED", "EXISTS"}
    assert session.posts() == [3, 3] and _fired(server) == {"slow": 1}
    time.sleep(max(0.0, delay + 0.2 - (time.monotonic() - started)))  # the slow request is served too
    assert sorted(_labels(server)) == sorted(c["label"] for c in creatives)  # once each
    assert submitter.submit(creatives) == _expected(creatives, "EXISTS")


def test_a_bad_entry_is_refused_at_once(serve, world) -> None:
    server = serve()
    session = CountingSession()
    submitter = _submitter(server, max_per_call=10, session=session, max_attempts=5)
    good = _creative(world, world.group_ids[0].as_py(), "t4-good")
    bad = {**_creative(world, world.group_ids[1].as_py(), "t4-bad"), "headline_asset_id": "no-such-asset"}
    with pytest.raises(SourceError) as raised:
        submitter.submit([good, bad])
    assert not isinstance(raised.value, SourceUnavailableError)
    message = str(raised.value)
    assert "400" in message and "unknown asset" in message and "creatives[1].headline_asset_id" in message
    assert session.posts() == [2]  # an HTTP 400 is a refusal: not retried
    assert len(server.state.submissions) == 0


def test_build_submitter_reads_media_config_and_the_airflow_connection(
    serve, world, config_copy, monkeypatch: pytest.MonkeyPatch
) -> None:
    media_path = config_copy / "media.yaml"
    media = yaml.safe_load(media_path.read_text())
    media["submission"] = {"max_per_call": 2}
    media["client"] = {**media.get("client", {}), "max_attempts": 2, "backoff_base_seconds": 0.01,
                       "backoff_max_seconds": 0.05, "timeout_seconds": 10}  # fmt: skip
    for m in media["media"]:
        if m["name"] == "google_ads":
            m["adapter"] = "google_ads"
    media_path.write_text(yaml.safe_dump(media))
    (yahoo,) = [m for m in media["media"] if m["name"] == MEDIUM]

    server = serve(max_per_call=2)  # a call of more than 2 would be a 413
    conn_id = yahoo["connection_id"]
    assert conn_id == localenv.SIMULATOR_CONN_ID
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", localenv.simulator_connection_uri(server.url))

    submitter = build_submitter(MEDIUM)
    token = _token()
    assert token not in repr(submitter) and token not in str(submitter)
    assert submitter.medium == MEDIUM and submitter.account_id == str(yahoo["account_id"])
    assert submitter.max_per_call == 2
    _faults(server, [{"kind": "http_5xx", "stream": "submit", "on_requests": [1], "status": 503}])
    creatives = _creatives(world, "t5", 3)
    assert submitter.submit(creatives) == _expected(creatives, "CREATED")  # 2 batches, 1 retry
    assert {(s.medium, s.label) for s in server.state.submissions.all()} == {(MEDIUM, c["label"]) for c in creatives}

    # The client policy is config/media.yaml's: max_attempts 2 gives up after two 503s.
    _faults(server, [{"kind": "http_5xx", "stream": "submit", "on_requests": [1, 2], "status": 503}])
    with pytest.raises(SourceUnavailableError, match="after 2 attempts") as gave_up:
        build_submitter(MEDIUM).submit(_creatives(world, "t5-more", 1))
    assert token not in str(gave_up.value)
    assert len(server.state.submissions) == 3

    with pytest.raises(SourceError, match="'tiktok'"):
        build_submitter("tiktok")
    with pytest.raises(SourceError, match="google_ads"):
        build_submitter("google_ads")  # configured, but its adapter has no submission call
