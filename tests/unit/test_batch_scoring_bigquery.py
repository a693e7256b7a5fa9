"""Batch scoring's BigQuery jobs, sent for real by google-cloud-bigquery to the REST double
(tests/bigquery_rest.py, canned answers, no SQL): chunk jobs write expiring scratch tables, the
final job replaces exactly the date's partition of scoring.combination_scores, every job is
dry-run first and capped by maximumBytesBilled under the batch_scoring budget, and scratch
tables are deleted afterwards."""

from __future__ import annotations

import dataclasses

import pytest
from adctr.core.storage import get_store
from adctr.scoring import batch
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


def _answers(bq, frame, bytes_processed: int = 50 * 1024**2) -> None:  # noqa: ANN001
    bq.answer("count(*) as n from scoring.candidates where scoring_date = @scoring_date",
              schema=(("n", "INT64"),), rows=((len(frame),),))  # fmt: skip
    bq.answer("from (select * from scoring.candidates where scoring_date = @scoring_date)",
              bytes_processed=bytes_processed, referenced_tables=("scoring.candidates",))  # fmt: skip
    bq.answer("from scoring._chunk_", bytes_processed=bytes_processed // 2)
    bq.answer("@slot_0 as slot", bytes_processed=bytes_processed, rows=tuple((i,) for i in range(2 * len(frame))))


def test_scoring_jobs_replace_one_partition_under_the_cost_cap(wh, bq, served) -> None:  # noqa: ANN001, F811
    store, frame = served
    cfg = dataclasses.replace(batch.ScoringConfig.load(), max_query_chars=MAX_CHARS)
    _answers(bq, frame)
    result = batch.score_date(wh, store, DAY, cfg, LABELS)
    assert result["rows"] == 2 * len(frame) and all(s["statements"] > 1 for s in result["slots"])

    jobs = [b["configuration"] for b in bq.bodies("jobs.insert")]
    dry = [j for j in jobs if j.get("dryRun")]
    real = [j for j in jobs if not j.get("dryRun")]
    assert len(dry) == len(real)  # every job was estimated first
    budget = wh.cost.budget_for("batch_scoring")
    for job in real:
        q = job["query"]
        assert len(q["query"]) <= MAX_CHARS
        assert 0 < int(q["maximumBytesBilled"]) <= budget
        if "destinationTable" in q:  # reads (the candidate count) label from the task's environment
            assert job["labels"]["dag_id"] == "batch_scoring"
    scratch = [j["query"] for j in real if "$" not in j["query"].get("destinationTable", {}).get("tableId", "$")]
    final = [j["query"] for j in real if j["query"].get("destinationTable", {}).get("tableId", "").startswith("combination_scores$")]
    assert len(final) == 1 and len(scratch) == sum(s["statements"] - 1 for s in result["slots"])
    for q in scratch:
        assert q["destinationTable"]["datasetId"] == "scoring"
        assert q["destinationTable"]["tableId"].startswith("_chunk_")
        assert (q["writeDisposition"], q["createDisposition"]) == ("WRITE_TRUNCATE", "CREATE_IF_NEEDED")
    q = final[0]
    assert q["destinationTable"] == {"projectId": PROJECT, "datasetId": "scoring", "tableId": "combination_scores$20261120"}
    assert (q["writeDisposition"], q["createDisposition"]) == ("WRITE_TRUNCATE", "CREATE_NEVER")
    assert q["timePartitioning"] == {"type": "DAY", "field": "scoring_date"}
    params = {p["name"]: (p["parameterType"]["type"], p["parameterValue"]["value"]) for p in q["queryParameters"]}
    assert params["scoring_date"] == ("DATE", "2026-11-20") and params["version_0"] == ("INT64", "1")
    assert {params["slot_0"][1], params["slot_1"][1]} == {"ctr0", "cvr0"}

    patched = bq.calls("tables.patch")
    deleted = {c.path.rsplit("/", 1)[1] for c in bq.calls("tables.delete")}
    assert len(patched) == len(scratch) and all("expirationTime" in c.body for c in patched)
    assert deleted == {s["destinationTable"]["tableId"] for s in scratch}


def test_a_scoring_job_over_budget_runs_nothing(wh, bq, served) -> None:  # noqa: ANN001, F811
    store, frame = served
    cfg = dataclasses.replace(batch.ScoringConfig.load(), max_query_chars=MAX_CHARS)
    _answers(bq, frame, bytes_processed=300 * 1024**3)  # over the 200 GiB batch_scoring budget
    with pytest.raises(QueryOverBudget, match="batch_scoring"):
        batch.score_date(wh, store, DAY, cfg, LABELS)
    real = [b for b in bq.bodies("jobs.insert") if not b["configuration"].get("dryRun")]
    assert all("destinationTable" not in b["configuration"]["query"] for b in real)  # only the count ran
    assert not any(c.path.endswith("combination_scores") for c in bq.calls("tables.insert"))
