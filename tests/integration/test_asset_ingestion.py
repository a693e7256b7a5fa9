"""The daily DAG loads each medium's asset library and creative compositions for its report
date, the staging models give them as of that date (also for a date long past: a backfill),
a re-run replaces the partition, and skip_ingest rebuilds without calling the API."""

from __future__ import annotations

from datetime import date

from adctr.warehouse import get_warehouse

from tests.helpers import table_checksums

D = date(2026, 11, 3)  # weeks before the simulator's today: the pull is a backfill's
LIBRARY = ("raw.ad_assets", "raw.ad_creatives", "raw.ad_library_quarantine", "staging.assets", "staging.creative_assets")
MEDIA = ("google_ads", "yahoo_ads")


def _rows(wh, sql: str, day: date) -> list[dict]:  # noqa: ANN001
    return wh.query_arrow(sql, {"d": day}).to_pylist()


def test_daily_dag_loads_the_library_as_of_the_date_and_a_rerun_replaces_it(runner, simulator, isolated_var) -> None:  # noqa: ANN001
    first = runner.run("ad_performance_daily", D)
    for medium in MEDIA:
        assert first.task_states[f"extract_library__{medium}[0]"] == "success"
    world, today = simulator.state.world, simulator.state.today()
    listed = world.asset_table(today).num_rows, world.creative_table(today).num_rows

    with get_warehouse() as wh:
        raw = _rows(wh, "select medium, count(*) as n, min(source_as_of) as a, max(source_as_of) as b "
                        "from raw.ad_assets where snapshot_date = @d group by medium order by medium", D)  # fmt: skip
        assert raw == [{"medium": m, "n": listed[0], "a": today, "b": today} for m in MEDIA]
        ads = _rows(wh, "select count(*) as n from raw.ad_creatives where snapshot_date = @d", D)
        assert ads == [{"n": 2 * listed[1]}]
        assert _rows(wh, "select count(*) as n from raw.ad_library_quarantine where snapshot_date = @d", D) == [{"n": 0}]
        # Staging is the library on D (the API listed it weeks later): what had launched by D,
        # each creative with the status it had on D.
        for day in (D,):
            assets = _rows(wh, "select asset_id, asset_text, asset_format from staging.assets "
                               "where report_date = @d order by asset_id", day)  # fmt: skip
            truth = world.asset_table(day).select(["asset_id", "asset_text", "asset_format"]).to_pylist()
            assert assets == truth and len(truth) < listed[0]
            creatives = _rows(wh, "select creative_id, image_asset_id, status from staging.creative_assets "
                                  "where report_date = @d order by creative_id", day)  # fmt: skip
            assert creatives == world.creative_table(day).select(["creative_id", "image_asset_id", "status"]).to_pylist()
        before = table_checksums(wh, [D])
        jobs = _rows(wh, "select distinct source_job_id as j from raw.ad_assets where snapshot_date = @d", D)

    rerun = runner.run("ad_performance_daily", D)
    assert all(rerun.task_states[f"extract_library__{m}[0]"] == "success" for m in MEDIA)
    with get_warehouse() as wh:
        after = table_checksums(wh, [D])
        assert {t: after[t] for t in LIBRARY} == {t: before[t] for t in LIBRARY}
        assert all(after[t][2] == 0 for t in LIBRARY)  # no duplicate keys
        again = _rows(wh, "select distinct source_job_id as j from raw.ad_assets where snapshot_date = @d", D)
    assert len(again) == len(MEDIA) and not {r["j"] for r in again} & {r["j"] for r in jobs}  # replaced

    skipped = runner.run("ad_performance_daily", D, conf={"skip_ingest": True})
    assert not any(t.startswith("extract_library__") and s == "success" for t, s in skipped.task_states.items())
    assert skipped.task_states["build__staging__assets[0]"] == "success"
    assert skipped.task_states["validate__raw__ad_creatives[0]"] == "success"
    with get_warehouse() as wh:
        assert {t: table_checksums(wh, [D])[t] for t in LIBRARY} == {t: before[t] for t in LIBRARY}
