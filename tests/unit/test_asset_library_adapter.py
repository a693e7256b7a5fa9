"""The asset-library adapter against the simulator over real HTTP: every page of both
listings, faults survived with the same rows, schema drift named, refusals not retried."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from adctr.core import settings
from adctr.ingestion.adapters.asset_library import AssetLibrary, AssetLibraryAdapter
from adctr.ingestion.adapters.base import SourceError, SourceUnavailableError
from adctr.ingestion.adapters.http_client import ClientPolicy
from adctr.simulator.routes import SimulatorServer
from adctr.simulator.state import state_from_config

FAST = ClientPolicy(timeout_seconds=2, max_attempts=3, backoff_base_seconds=0.01, poll_interval_seconds=0.01)
TODAY = date(2026, 11, 10)
PAGE_SIZE = 128  # the default world's library spans several pages of this size


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    """One simulator (its world is the slow part to build); each test sets its own faults."""
    cfg = settings.load_config("simulator")
    cfg = {**cfg, "faults": [], "assets": {**(cfg.get("assets") or {}), "page_size": PAGE_SIZE}}
    with SimulatorServer(state_from_config(cfg, today=TODAY)) as srv:
        yield srv


@pytest.fixture(scope="module")
def clean(server: SimulatorServer) -> AssetLibrary:
    return _fetch(server, [])


def _fetch(server: SimulatorServer, faults: list[dict], medium: str = "yahoo_ads") -> AssetLibrary:
    server.state.faults.reset(faults, server.state.world.seed)
    return AssetLibraryAdapter(medium, server.url, server.state.token, "1001", FAST).fetch()


def _as_text(table: pa.Table) -> pa.Table:
    return pa.table({c: pc.cast(table[c], pa.string()) for c in table.column_names})


def test_fetches_every_page_of_both_listings_as_of_the_sources_today(server: SimulatorServer) -> None:
    library = _fetch(server, [])
    assets, ads = server.state.world.asset_table(TODAY), server.state.world.creative_table(TODAY)
    assert assets.num_rows > 2 * PAGE_SIZE and ads.num_rows > PAGE_SIZE  # really paged
    assert library.as_of == TODAY and library.medium == "yahoo_ads"
    assert library.assets.row_count == assets.num_rows and library.creatives.row_count == ads.num_rows
    assert library.assets.table.equals(_as_text(assets))
    assert library.creatives.table.equals(_as_text(ads))
    assert library.source_job_id.startswith(f"library-yahoo_ads-1001-{TODAY.isoformat()}-")


@pytest.mark.parametrize("stream", ["assets", "ads"])
@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "http_429", "on_requests": [1], "retry_after": 0.05},
        {"kind": "http_5xx", "on_requests": [2], "status": 502},
        {"kind": "drop_connection", "on_requests": [2]},
        {"kind": "truncated_page", "on_requests": [2]},
        {"kind": "duplicated_page", "on_requests": [2]},
    ],
    ids=lambda f: f["kind"],
)
def test_each_fault_is_survived_with_the_same_rows(
    server: SimulatorServer, clean: AssetLibrary, fault: dict, stream: str
) -> None:
    library = _fetch(server, [{**fault, "stream": stream}])
    assert server.state.faults.fired[fault["kind"]] == 1
    assert library.assets.table.equals(clean.assets.table)
    assert library.creatives.table.equals(clean.creatives.table)


def test_retry_after_is_honoured(server: SimulatorServer) -> None:
    import time

    start = time.monotonic()
    _fetch(server, [{"kind": "http_429", "stream": "assets", "on_requests": [1], "retry_after": 0.6}])
    assert time.monotonic() - start >= 0.6


def test_a_fault_that_outlasts_the_retries_fails_clearly(server: SimulatorServer) -> None:
    fault = {"kind": "http_5xx", "stream": "ads", "on_requests": [1, 2, 3], "status": 503}
    with pytest.raises(SourceUnavailableError, match=r"GET /api/v1/ads page 1 still failing after 3 attempts \(HTTP 503"):
        _fetch(server, [fault])


def test_schema_drift_fails_with_the_field_names(server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A source whose asset rows renamed asset_type (the simulator's listings have no drift
    fault: its page builder is wrapped, the rows still travel over HTTP)."""
    page = server.state.listing

    def drifted(listing: str, *args: object) -> dict:
        body = page(listing, *args)
        if listing == "assets":
            body["assets"] = [{("type" if k == "asset_type" else k): v for k, v in r.items()} for r in body["assets"]]
        return body

    monkeypatch.setattr(server.state, "listing", drifted)
    with pytest.raises(SourceError, match=r"schema drift\): missing \['asset_type'\], unexpected \['type'\]"):
        _fetch(server, [])


def test_a_page_off_the_typed_path_gives_the_same_columns(
    server: SimulatorServer, clean: AssetLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages whose rows are exactly the declared string fields are decoded by msgspec; any
    other page (here: an additive field, allowed, and a number where a string was) takes the
    general json path. Both give the columns the clean pull has, the number as its text."""
    from adctr.ingestion.adapters import asset_library

    general = []
    parse_json = asset_library.parse_json
    monkeypatch.setattr(asset_library, "parse_json", lambda resp: general.append(resp.url) or parse_json(resp))
    _fetch(server, [])
    assert general == []  # a clean pull never leaves the typed path

    page = server.state.listing

    def odd(listing: str, *args: object) -> dict:
        body = page(listing, *args)
        if listing == "assets" and body["page"] == 2:
            body["assets"] = [{**r, "note": "new field"} for r in body["assets"]]
        if listing == "ads" and body["page"] == 1:
            body["ads"] = list(body["ads"])
            body["ads"][0] = {**body["ads"][0], "creative_id": 7}
        return body

    monkeypatch.setattr(server.state, "listing", odd)
    server.state.faults.reset([], server.state.world.seed)
    library = AssetLibraryAdapter("yahoo_ads", server.url, server.state.token, "1001", FAST, allow_additive=True).fetch()
    assert len(general) == 2 and library.assets.ignored_fields == ("note",)
    assert library.assets.table.equals(clean.assets.table)
    ids = clean.creatives.table["creative_id"].to_pylist()
    expected = clean.creatives.table.set_column(0, "creative_id", pa.array(["7", *ids[1:]], pa.string()))
    assert library.creatives.table.equals(expected)


def test_refusals_are_not_retried(server: SimulatorServer) -> None:
    with pytest.raises(SourceError, match="HTTP 401"):
        AssetLibraryAdapter("yahoo_ads", server.url, "wrong", "1001", FAST).fetch()
    with pytest.raises(SourceError, match="HTTP 40[04]"):
        _fetch(server, [], medium="tiktok_ads")


def test_token_never_appears_in_repr() -> None:
    assert "s3cret" not in repr(AssetLibraryAdapter("m", "http://127.0.0.1:1", "s3cret-token", "1"))
