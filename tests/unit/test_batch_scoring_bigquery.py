"""Batch scoring's BigQuery jobs, sent for real by google-cloud-bigquery to the REST double
(tests/bigquery_rest.py, canned answers, no SQL): chunk jobs write expiring scratch tables, the
final query writes the date's partition of an expiring staging table with the scores' schema,
whose row count is checked before a copy job replaces exactly the date's partition of
scoring.combination_scores (a wrong count copies nothing); every query job is dry-run first and
capped by maximumBytesBilled under the batch_scoring budget, and scratch and staging tables are
deleted afterwards."""

from __future__ import annotations

import dataclasses

import pytest
from adctr.core.storage import get_store
from adctr.core.table_schemas import get_schema
from adctr.scoring import batch
from adctr.scoring.batch import ScoringError
from adctr.warehouse.base import JobLabels
from adctr.warehouse.cost import QueryOverBudget

from tests.unit.test_batch_scoring import DAY, _candidates, _fit, _serve
from tests.unit.test_bigquery_rest import PROJECT, bq, wh  # noqa: F401 - fixtures

LABELS = JobLabels(dag_id="batch_scoring", task_id="score_combinations", run_date="2026-11-20")
MAX_CHARS = 20_000


@pytest.fixture
def served(isolated_var):  # noqa: ANN001, ANN201
    frame = _candidates()
    store = get_store("artifact")
    for slot, seed in (("ctr0", 1), ("cvr0", 2)):
        _serve(store, slot, slot[:3], _fit(frame, seed))
    return store, frame


STAGED = "_staged_combination_scores_20261120"


def _answers(bq, frame, bytes_processed: int = 50 * 1024**2, rows: int | None = None) -> None:  # noqa: ANN001
    """Canned answers; the final query gives `rows` rows (default: one per candidate and slot)."""
    rows = 2 * len(frame) if rows is None else rows
    bq.answer("count(*) as n from scoring.candidates where scoring_date = @scoring_date",
              schema=(("n", "INT64"),), rows=((len(frame),),))  # fmt: skip
    bq.answer("from (select * from scoring.candidates where scoring_date = @scoring_date)",
              bytes_processed=bytes_processed, referenced_tables=("scoring.candidates",))  # fmt: skip
    bq.answer("from scoring._chunk_", bytes_processed=bytes_processed // 2)
    bq.answer("@slot_0 as slot", bytes_processed=bytes_processed, rows=tuple((i,) for i in range(rows)))


def _jobs(bq) -> tuple[list[dict], list[dict], list[dict]]:  # noqa: ANN001
    """(dry runs, query jobs that ran, copy jobs) as the client sent them."""
    jobs = [b["configuration"] for b in bq.bodies("jobs.insert")]
    dry = [j for j in jobs if j.get("dryRun")]
    real = [j for j in jobs if not j.get("dryRun") and "query" in j]
    return dry, real, [j for j in jobs if "copy" in j]


def test_scoring_jobs_replace_one_partition_under_the_cost_cap(wh, bq, served) -> None:  # noqa: ANN001, F811
    store, frame = served
    cfg = dataclasses.replace(batch.ScoringConfig.load(), max_query_chars=MAX_CHARS, slots=["ctr0", "cvr0"])
    _answers(bq, frame)
    result = batch.score_date(wh, store, DAY, cfg, LABELS)
    assert result["rows"] == 2 * len(frame) and all(s["statements"] > 1 for s in result["slots"])

    dry, real, copies = _jobs(bq)
    assert len(dry) == len(real)  # every query job was estimated first
    budget = wh.cost.budget_for("batch_scoring")
    for job in real:
        q = job["query"]
        assert len(q["query"]) <= MAX_CHARS
        assert 0 < int(q["maximumBytesBilled"]) <= budget
        if "destinationTable" in q:  # reads (the candidate count) label from the task's environment
            assert job["labels"]["dag_id"] == "batch_scoring"
    scratch = [j["query"] for j in real if "$" not in j["query"].get("destinationTable", {}).get("tableId", "$")]
    final = [j["query"] for j in real if "$" in j["query"].get("destinationTable", {}).get("tableId", "")]
    assert len(final) == 1 and len(scratch) == sum(s["statements"] - 1 for s in result["slots"])
    for q in scratch:
        assert q["destinationTable"]["datasetId"] == "scoring"
        assert q["destinationTable"]["tableId"].startswith("_chunk_")
        assert (q["writeDisposition"], q["createDisposition"]) == ("WRITE_TRUNCATE", "CREATE_IF_NEEDED")
    q = final[0]  # the scores go to the staging table's partition first
    assert q["destinationTable"] == {"projectId": PROJECT, "datasetId": "scoring", "tableId": f"{STAGED}$20261120"}
    assert (q["writeDisposition"], q["createDisposition"]) == ("WRITE_TRUNCATE", "CREATE_NEVER")
    assert q["timePartitioning"] == {"type": "DAY", "field": "scoring_date"}
    assert q["clustering"] == {"fields": ["slot", "ad_group_id"]}
    params = {p["name"]: (p["parameterType"]["type"], p["parameterValue"]["value"]) for p in q["queryParameters"]}
    assert params["scoring_date"] == ("DATE", "2026-11-20") and params["version_0"] == ("INT64", "1")
    assert {params["slot_0"][1], params["slot_1"][1]} == {"ctr0", "cvr0"}

    # The staging table has the scores' schema (REQUIRED columns, partitioning) and expires.
    staged = [b for b in bq.bodies("tables.insert") if b["tableReference"]["tableId"] == STAGED]
    assert len(staged) == 1 and "expirationTime" in staged[0]
    scores = next(b for b in bq.bodies("tables.insert") if b["tableReference"]["tableId"] == "combination_scores")
    assert staged[0]["schema"] == scores["schema"] and staged[0]["timePartitioning"] == scores["timePartitioning"]
    # Counted (tables.get on the staged partition), then one free copy job replaces the partition.
    counted = [c.path for c in bq.calls("tables.get") if c.path.endswith(f"{STAGED}$20261120")]
    assert counted
    assert copies == [{
        "copy": {"sourceTable": {"projectId": PROJECT, "datasetId": "scoring", "tableId": f"{STAGED}$20261120"},
                 "destinationTable": {"projectId": PROJECT, "datasetId": "scoring",
                                      "tableId": "combination_scores$20261120"},
                 "writeDisposition": "WRITE_TRUNCATE", "createDisposition": "CREATE_NEVER"},
        "labels": LABELS.as_dict(),
    }]  # fmt: skip
    def last(resource: str, tail: str) -> int:
        return max(i for i, r in enumerate(bq.requests) if r.resource == resource and r.path.endswith(tail)
                   and (resource != "jobs.insert" or "copy" in r.body["configuration"]))  # fmt: skip

    # counted, then copied, then the staging table dropped
    assert last("tables.get", f"{STAGED}$20261120") < last("jobs.insert", "/jobs") < last("tables.delete", STAGED)

    patched = bq.calls("tables.patch")
    deleted = [c.path.rsplit("/", 1)[1] for c in bq.calls("tables.delete")]
    assert len(patched) == len(scratch) and all("expirationTime" in c.body for c in patched)
    assert set(deleted) == {s["destinationTable"]["tableId"] for s in scratch} | {STAGED}


def test_a_wrong_row_count_copies_nothing_and_keeps_the_previous_scores(wh, bq, served) -> None:  # noqa: ANN001, F811
    store, frame = served
    cfg = dataclasses.replace(batch.ScoringConfig.load(), max_query_chars=MAX_CHARS, slots=["ctr0", "cvr0"])
    wh.ensure_table(get_schema(batch.SCORES))
    bq.seed_partition(PROJECT, batch.SCORES, "20261120", 7)  # yesterday's run of the date
    _answers(bq, frame, rows=2 * len(frame) - 1)
    with pytest.raises(ScoringError, match=rf"{2 * len(frame) - 1} rows, {2 * len(frame)} expected"):
        batch.score_date(wh, store, DAY, cfg, LABELS)
    assert _jobs(bq)[2] == []  # no copy job ran
    assert wh.partition_rows(get_schema(batch.SCORES), DAY) == 7
    deleted = [c.path.rsplit("/", 1)[1] for c in bq.calls("tables.delete")]
    assert deleted.count(STAGED) == 2  # a leftover dropped before, the staging table after
    assert not any(t.startswith("_chunk_") for t in bq.tables("scoring")) and STAGED not in bq.tables("scoring")


def test_a_scoring_job_over_budget_runs_nothing(wh, bq, served) -> None:  # noqa: ANN001, F811
    store, frame = served
    cfg = dataclasses.replace(batch.ScoringConfig.load(), max_query_chars=MAX_CHARS, slots=["ctr0", "cvr0"])
    _answers(bq, frame, bytes_processed=300 * 1024**3)  # over the 200 GiB batch_scoring budget
    with pytest.raises(QueryOverBudget, match="batch_scoring"):
        batch.score_date(wh, store, DAY, cfg, LABELS)
    real = [b for b in bq.bodies("jobs.insert") if not b["configuration"].get("dryRun")]
    assert all("destinationTable" not in b["configuration"]["query"] for b in real)  # only the count ran
    assert not any(c.path.endswith("combination_scores") for c in bq.calls("tables.insert"))
