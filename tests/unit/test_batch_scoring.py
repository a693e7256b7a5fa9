"""Batch scoring stage: the version a slot serves, verified, scores a date's candidates inside the
warehouse (DuckDB) into one partition of scoring.combination_scores, equal to FittedModel.predict;
re-runs replace the partition; the top-k SQL model ranks per ad group; refusals name the problem."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from adctr.core.storage import LocalStore, get_store
from adctr.core.table_schemas import get_schema
from adctr.model import contract
from adctr.release import artifacts, slots
from adctr.release.artifacts import ArtifactError
from adctr.scoring import batch
from adctr.warehouse import elt
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

DAY = date(2026, 11, 20)
ACTOR = {"action": "sync", "run_id": "scheduled__1", "run_type": "scheduled", "triggered_by": None}


def _candidates(n_groups: int = 12, seed: int = 0) -> pd.DataFrame:
    """A candidates partition: every column of the schema, plausible values, some NULLs and an
    unseen category, 3 x 2 x 2 combinations per ad group."""
    rng = np.random.default_rng(seed)
    schema = get_schema(batch.CANDIDATES)
    rows = []
    for g in range(n_groups):
        for h in range(3):
            for d in range(2):
                for i in range(2):
                    rows.append({"ad_group_id": f"adv001-cmp1-ag{g}", "headline_asset_id": f"ag{g}-h{h}",
                                 "description_asset_id": f"ag{g}-d{d}", "image_asset_id": f"ag{g}-i{i}"})  # fmt: skip
    frame = pd.DataFrame(rows)
    n = len(frame)
    for col in schema.columns:
        if col.name in frame:
            continue
        if col.type == "STRING":
            pool = {"medium": ["yahoo_ads"], "device": ["mobile"], "ad_format": ["text", "image", "video", "gif"],
                    "industry": ["finance", "retail", "games"], "campaign_objective": ["traffic", "conversions"]}
            values = rng.choice(pool.get(col.name, ["x", "y"]), size=n).astype(object)
        elif col.type == "DATE":
            values = np.array([DAY] * n, dtype=object)
        elif col.type == "BOOL":
            values = rng.random(n) < 0.2
        elif col.type == "INT64":
            values = rng.integers(0, 5000, size=n)
        else:
            values = rng.random(n) * 0.1
        frame[col.name] = values
        if not col.required and col.type in ("FLOAT64", "STRING") and col.name not in ("creative_id",):
            frame.loc[rng.random(n) < 0.1, col.name] = None
    frame["creative_id"] = [f"{a}-cr" if s else None for a, s in zip(frame["ad_group_id"], frame["served"])]
    return frame[schema.column_names]


def _config() -> batch.ScoringConfig:
    """config/scoring.yaml for the two slots these tests serve (ctr0, cvr0)."""
    return dataclasses.replace(batch.ScoringConfig.load("duckdb"), slots=["ctr0", "cvr0"])


def _fit(frame: pd.DataFrame, seed: int, rounds: int = 30) -> contract.FittedModel:
    import lightgbm as lgb

    from training.features import fit_spec, lightgbm_params_for

    train = frame.copy()
    train.loc[train["ad_format"] == "gif", "ad_format"] = "text"  # "gif" stays unseen by the model
    spec = fit_spec(train)
    x = contract.transform(spec, train)
    rng = np.random.default_rng(seed)
    logit = -3 + 8 * np.nan_to_num(x[:, spec.names.index("creative_ctr_28d")]) + rng.normal(0, 0.3, len(x))
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-logit))).astype(float)
    params = {"objective": "cross_entropy", "num_leaves": 7, "min_data_in_leaf": 5, "verbosity": -1,
              "seed": seed, "deterministic": True, "num_threads": 1}  # fmt: skip
    data = lgb.Dataset(x, y, free_raw_data=False, **lightgbm_params_for(spec))
    booster = lgb.train(params, data, num_boost_round=rounds)
    return contract.FittedModel(booster, spec)


def _serve(store: LocalStore, slot: str, model: str, fitted: contract.FittedModel) -> int:
    files = {contract.MODEL_FILE: fitted.model_bytes(), contract.FEATURE_SPEC_FILE: fitted.spec.to_json().encode(),
             artifacts.METRICS_FILE: b"{}"}  # fmt: skip
    promo = {"eligible": True, "why": "scheduled run on the newest data"}
    version = artifacts.publish(store, model, "main", files, {"blessed": True, "promotion": promo}).version
    specs = [s for s in slots.load_slots() if s.slot == slot]
    slots.apply(store, slots.plan(store, specs, {}), ACTOR)
    return version


@pytest.fixture
def world(isolated_var, tmp_path):  # noqa: ANN001, ANN201
    wh = DuckDBWarehouse(tmp_path / "wh.duckdb")
    frame = _candidates()
    wh.replace_partition_from_arrow(
        get_schema(batch.CANDIDATES), DAY, pa.Table.from_pandas(frame, preserve_index=False)
    )
    store = get_store("artifact")
    models = {"ctr0": _fit(frame, 1), "cvr0": _fit(frame, 2, rounds=12)}
    for slot, fitted in models.items():
        _serve(store, slot, slot[:3], fitted)
    return wh, store, frame, models


def _scores(wh: DuckDBWarehouse, slot: str) -> pd.DataFrame:
    return wh.query_arrow(
        "select * from scoring.combination_scores where scoring_date = @d and slot = @s "
        "order by ad_group_id, headline_asset_id, description_asset_id, image_asset_id",
        {"d": DAY, "s": slot},
    ).to_pandas()


def _expected(frame: pd.DataFrame, fitted: contract.FittedModel) -> np.ndarray:
    ordered = frame.sort_values(["ad_group_id", "headline_asset_id", "description_asset_id", "image_asset_id"])
    return fitted.predict(ordered.reset_index(drop=True))


@pytest.mark.parametrize("max_query_chars", [900_000, 20_000], ids=["one statement", "chunked"])
def test_scores_equal_booster_predict_for_every_slot(world, max_query_chars: int) -> None:  # noqa: ANN001
    wh, store, frame, models = world
    cfg = dataclasses.replace(_config(), max_query_chars=max_query_chars)
    result = batch.score_date(wh, store, DAY, cfg)
    assert result["rows"] == 2 * len(frame)
    for slot, fitted in models.items():
        got = _scores(wh, slot)
        assert list(got["version"].unique()) == [1] and list(got["model"].unique()) == [slot[:3]]
        np.testing.assert_allclose(got["score"].to_numpy(), _expected(frame, fitted), rtol=0, atol=1e-9)
    chunked = [s for s in result["slots"] if s["statements"] > 1]
    assert bool(chunked) == (max_query_chars < 900_000), result["slots"]
    assert all(s["longest_statement_chars"] <= max_query_chars for s in result["slots"])
    leftovers = wh.execute_native(
        "select table_name from information_schema.tables where table_name like '\\_chunk%' escape '\\'"
    )
    assert leftovers == []  # scratch tables are dropped


def test_rerun_replaces_the_partition_and_a_new_version_rescored(world) -> None:  # noqa: ANN001
    wh, store, frame, models = world
    cfg = _config()
    batch.score_date(wh, store, DAY, cfg)
    batch.score_date(wh, store, DAY, cfg)
    assert wh.execute_native("select count(*) from scoring.combination_scores")[0][0] == 2 * len(frame)
    newer = _fit(frame, 7, rounds=5)
    assert _serve(store, "ctr0", "ctr", newer) == 2
    batch.score_date(wh, store, DAY, cfg)
    got = _scores(wh, "ctr0")
    assert list(got["version"].unique()) == [2]
    np.testing.assert_allclose(got["score"].to_numpy(), _expected(frame, newer), rtol=0, atol=1e-9)


def test_best_combinations_are_the_top_k_per_ad_group(world) -> None:  # noqa: ANN001
    wh, store, frame, _ = world
    batch.score_date(wh, store, DAY, _config())
    elt.build("scoring.best_combinations", DAY, wh)
    best = wh.query_arrow("select * from scoring.best_combinations order by slot, ad_group_id, score_rank").to_pandas()
    scores = wh.query_arrow("select * from scoring.combination_scores").to_pandas()
    top_k = _config().top_k
    assert len(best) == 2 * frame["ad_group_id"].nunique() * top_k
    for (slot, group), rows in best.groupby(["slot", "ad_group_id"]):
        theirs = scores[(scores["slot"] == slot) & (scores["ad_group_id"] == group)]
        expected = theirs.sort_values("score", ascending=False, kind="stable")["score"].head(top_k).to_numpy()
        np.testing.assert_array_equal(rows.sort_values("score_rank")["score"].to_numpy(), expected)
        assert (rows["candidates"] == len(theirs)).all()


def test_a_tampered_slot_version_is_refused_and_nothing_is_written(world) -> None:  # noqa: ANN001
    wh, store, _, _ = world
    path = store.root / slots.slot_prefix("ctr0") / "1" / contract.MODEL_FILE
    path.write_bytes(path.read_bytes().replace(b"Tree=0", b"Tree=0 "))
    with pytest.raises(ArtifactError, match="sha256"):
        batch.score_date(wh, store, DAY, _config())
    exists = wh.execute_native("select count(*) from information_schema.tables where table_name = 'combination_scores'")
    assert exists[0][0] == 0  # refused before any job ran


def test_refusals_name_the_problem(world, config_copy) -> None:  # noqa: ANN001
    wh, store, frame, _ = world
    cfg = _config()
    with pytest.raises(batch.ScoringError, match="no rows for 2026-11-21"):
        batch.score_date(wh, store, date(2026, 11, 21), cfg)
    with pytest.raises(batch.ScoringError, match="ctr9.*does not define"):
        batch.score_date(wh, store, DAY, dataclasses.replace(cfg, slots=["ctr9"]))
    (config_copy / "slots.yaml").write_text(
        (config_copy / "slots.yaml").read_text().replace("cvr0:", "cvr5: {model: cvr, variant: main, "
                                                          "policy: newest_blessed}\n  cvr0:")
    )
    with pytest.raises(batch.ScoringError, match="cvr5 serves no version yet"):
        batch.score_date(wh, store, DAY, dataclasses.replace(cfg, slots=["cvr5"]))


def test_a_wrong_row_count_is_refused_before_the_scores_are_replaced(world, monkeypatch) -> None:  # noqa: ANN001
    wh, store, frame, models = world
    cfg = _config()
    batch.score_date(wh, store, DAY, cfg)
    assert _serve(store, "ctr0", "ctr", _fit(frame, 7, rounds=5)) == 2
    counted = batch.check_inputs
    monkeypatch.setattr(batch, "check_inputs", lambda *a: counted(*a) + 1)  # one candidate too many
    with pytest.raises(batch.ScoringError, match=rf"{2 * len(frame)} rows, {2 * len(frame) + 2} expected"):
        batch.score_date(wh, store, DAY, cfg)
    got = _scores(wh, "ctr0")  # still version 1's scores: the mismatch was found before the commit
    assert list(got["version"].unique()) == [1]
    np.testing.assert_allclose(got["score"].to_numpy(), _expected(frame, models["ctr0"]), rtol=0, atol=1e-9)
    assert wh.execute_native("select count(*) from scoring.combination_scores")[0][0] == 2 * len(frame)
