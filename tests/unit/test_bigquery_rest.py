"""The BigQuery backend run for real: google-cloud-bigquery and the provider's BigQueryHook over
HTTP, against a loopback double of the REST API (tests/bigquery_rest.py) that records requests.

What is asserted is what the client sends (destination decorator, write disposition,
partitioning, clustering, typed parameters, labels, maximumBytesBilled) and what the backend
makes of BigQuery-shaped answers; the double implements no SQL (DESIGN.md: no offline emulator
replaces a partition correctly, so none stands in for BigQuery's semantics here).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from adctr.core.table_schemas import get_schema
from adctr.warehouse import elt, get_warehouse
from adctr.warehouse.base import JobLabels
from adctr.warehouse.bigquery_backend import BigQueryWarehouse
from adctr.warehouse.cost import MB, QueryOverBudget

from tests.bigquery_rest import FakeBigQuery

PROJECT = "adctr-test"
DAY = date(2026, 11, 20)
LABELS = JobLabels(
    dag_id="ad_performance_daily", task_id="build__staging__ad_performance", run_date="2026-11-20"
)


@pytest.fixture
def bq(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBigQuery]:
    with FakeBigQuery() as fake:
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", fake.url)
        monkeypatch.setenv(
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
            json.dumps({"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True}}),
        )
        monkeypatch.setenv("ADCTR_WAREHOUSE", "bigquery")
        monkeypatch.setenv("ADCTR_BQ_PROJECT", PROJECT)
        for name in ("AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_TASK_ID"):
            monkeypatch.delenv(name, raising=False)
        yield fake


@pytest.fixture
def wh(bq: FakeBigQuery, config_copy: Path) -> BigQueryWarehouse:
    """The configured path (config/warehouse.yaml, the Airflow connection), reading results over
    REST: the Storage Read API is gRPC, which the double does not speak."""
    path = config_copy / "warehouse.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["bigquery"]["storage_read_api"] = False
    path.write_text(yaml.safe_dump(cfg))
    warehouse = get_warehouse()
    assert isinstance(warehouse, BigQueryWarehouse)
    return warehouse


def test_the_shipped_configuration_reads_results_with_the_storage_api(bq: FakeBigQuery) -> None:
    warehouse = get_warehouse()
    assert isinstance(warehouse, BigQueryWarehouse) and warehouse.storage_read_api is True
    assert warehouse.cost.budget_for("ctr_cvr_retrain") == 50 * 1024**3
    assert warehouse.cost.budget_for("some_other_dag") == warehouse.cost.budget_for("default")


def _query_jobs(bq: FakeBigQuery) -> tuple[list[dict], list[dict]]:
    jobs = [b["configuration"] for b in bq.bodies("jobs.insert")]
    return [j for j in jobs if j.get("dryRun")], [j for j in jobs if not j.get("dryRun")]


def test_ensure_table_creates_a_partitioned_clustered_table_once(
    wh: BigQueryWarehouse, bq: FakeBigQuery
) -> None:
    schema = get_schema("staging.ad_performance")
    wh.ensure_table(schema)
    wh.ensure_table(schema)  # exists: 409 from tables.insert, the client reads it instead
    (dataset, _) = bq.bodies("datasets.insert")
    assert dataset["datasetReference"] == {"projectId": PROJECT, "datasetId": "staging"}
    first, second = bq.bodies("tables.insert")
    assert first == second
    assert first["tableReference"] == {
        "projectId": PROJECT,
        "datasetId": "staging",
        "tableId": "ad_performance",
    }
    assert first["timePartitioning"] == {"type": "DAY", "field": "report_date"}
    assert first["clustering"] == {"fields": ["medium", "creative_id"]}
    assert [(f["name"], f["type"], f["mode"]) for f in first["schema"]["fields"]][:2] == [
        ("report_date", "DATE", "REQUIRED"),
        ("medium", "STRING", "REQUIRED"),
    ]
    assert [c.path.rsplit("/", 1)[-1] for c in bq.calls("tables.get")] == ["ad_performance"]


def test_a_new_nullable_column_is_added_to_the_existing_table_before_a_write(
    wh: BigQueryWarehouse, bq: FakeBigQuery
) -> None:
    from dataclasses import replace

    from adctr.local.sql_check import fixture_raw
    from adctr.warehouse.base import WarehouseConfigError

    schema = get_schema("raw.ad_performance")
    before = replace(schema, columns=tuple(c for c in schema.columns if c.name != "label"))
    wh.ensure_table(before)  # the table as it was before its schema file gained `label`
    assert bq.calls("tables.patch") == []

    data = fixture_raw(DAY, ["google_ads"])
    assert wh.replace_partition_from_arrow(schema, DAY, data, LABELS) == data.num_rows
    (patch,) = bq.bodies("tables.patch")  # before the load job: the job itself cannot add it
    assert [f["name"] for f in patch["schema"]["fields"]] == [*before.column_names, "label"]
    assert patch["schema"]["fields"][-1] == {
        "name": "label", "type": "STRING", "mode": "NULLABLE", "description": schema.column("label").description,
    }  # fmt: skip
    patched = next(i for i, r in enumerate(bq.requests) if r.resource == "tables.patch")
    loaded = next(i for i, r in enumerate(bq.requests) if r.resource == "upload.initiate")
    assert patched < loaded
    assert set(wh.column_types(schema)) == set(schema.column_names)
    wh.ensure_table(schema)  # up to date now: nothing more to add
    assert len(bq.calls("tables.patch")) == 1

    # BigQuery adds only NULLABLE columns to an existing table: a new REQUIRED one is refused.
    strict = replace(schema, columns=(*schema.columns, replace(schema.column("label"), name="x", mode="REQUIRED")))
    with pytest.raises(WarehouseConfigError, match=r"lacks the REQUIRED columns \['x'\]"):
        wh.ensure_table(strict)
    assert len(bq.calls("tables.patch")) == 1


def test_partition_write_from_a_query_replaces_one_partition_and_counts_its_rows(
    wh: BigQueryWarehouse, bq: FakeBigQuery
) -> None:
    schema = get_schema("staging.ad_performance")
    wh.ensure_table(schema)
    bq.seed_partition(PROJECT, "staging.ad_performance", "20261119", 1000)  # another day, untouched
    bq.answer(
        "from raw.ad_performance",
        bytes_processed=3 * MB,
        referenced_tables=("raw.ad_performance",),
        rows=tuple((i,) for i in range(42)),
    )

    written = elt.build("staging.ad_performance", DAY, wh, labels=LABELS)

    # Rows of the partition written, not of the table (1042): tables.get on the decorator.
    assert written == 42
    assert bq.calls("tables.get")[-1].path.endswith("/tables/ad_performance$20261120")
    (dry,), (job,) = _query_jobs(bq)
    assert dry["dryRun"] is True and dry["query"]["useQueryCache"] is False
    assert "destinationTable" not in dry["query"]
    query = job["query"]
    assert query["destinationTable"] == {
        "projectId": PROJECT,
        "datasetId": "staging",
        "tableId": "ad_performance$20261120",
    }
    assert (
        query["writeDisposition"] == "WRITE_TRUNCATE"
        and query["createDisposition"] == "CREATE_NEVER"
    )
    assert query["timePartitioning"] == {"type": "DAY", "field": "report_date"}
    assert query["clustering"] == {"fields": ["medium", "creative_id"]}
    assert query["useLegacySql"] is False and query["parameterMode"] == "NAMED"
    assert query["queryParameters"] == [
        {"name": "ds", "parameterType": {"type": "DATE"}, "parameterValue": {"value": "2026-11-20"}}
    ]
    assert job["labels"] == {
        "dag_id": "ad_performance_daily",
        "task_id": "build__staging__ad_performance",
        "run_date": "2026-11-20",
        "variant": "main",
    }
    # 3 MB over one table bills at most 10 MB (the per-table minimum); +10% growth headroom.
    assert query["maximumBytesBilled"] == str(11 * MB)
    (insert,) = [b for b in bq.bodies("jobs.insert") if not b["configuration"].get("dryRun")]
    assert insert["jobReference"]["location"] == "asia-northeast1"
    assert insert["jobReference"]["projectId"] == PROJECT


def test_a_variant_builds_its_scoped_copy_labelled_and_guarded_by_its_own_budget(
    wh: BigQueryWarehouse, bq: FakeBigQuery, tmp_path: Path
) -> None:
    """A branch variant's model: its dataset `<dataset>__<variant>` created from the same schema
    file with the variant as label, the job labelled with it, its reads of the tables the
    variant rebuilds redirected, and the variants' budget applied (not main's DAG's)."""
    import shutil

    from adctr.core import settings
    from adctr.variants.plan import plan_for

    folder = tmp_path / "variants" / "exp-a"
    for part in ("sql", "config"):
        shutil.copytree(settings.project_root() / part, folder / part)
    (folder / "VARIANT").write_text("exp-a\n")
    sql = folder / "sql/features/creative_daily.sql"
    sql.write_text(sql.read_text() + "\n-- the branch's change\n")
    plan = plan_for(folder)
    labels = JobLabels(dag_id="ctr_cvr_retrain__exp-a", task_id="build__training__ctr_examples", run_date="2026-11-20")
    assert wh.cost.budget_for(labels.dag_id) == 20 * 1024**3  # `variants`, not ctr_cvr_retrain's 50 GiB
    bq.answer("from features__exp_a.creative_daily", bytes_processed=3 * MB,
              referenced_tables=("features__exp_a.creative_daily",), rows=((1,),))  # fmt: skip
    with settings.deployment(folder):
        elt.build("training.ctr_examples", DAY, wh, labels=labels, scope=plan)
    (dataset,) = bq.bodies("datasets.insert")
    assert dataset["datasetReference"]["datasetId"] == "training__exp_a" and dataset["labels"] == {"variant": "exp-a"}
    (table,) = bq.bodies("tables.insert")
    assert table["tableReference"]["tableId"] == "ctr_examples" and table["labels"] == {"variant": "exp-a"}
    (dry,), (job,) = _query_jobs(bq)
    assert "from features__exp_a.creative_daily" in job["query"]["query"]
    assert job["query"]["destinationTable"]["datasetId"] == "training__exp_a"
    assert job["labels"]["variant"] == "exp-a" and job["labels"]["dag_id"] == "ctr_cvr_retrain__exp-a"
    bq.answer("from features__exp_a.creative_daily", bytes_processed=25 * 1024**3,
              referenced_tables=("features__exp_a.creative_daily",))  # fmt: skip
    with settings.deployment(folder), pytest.raises(QueryOverBudget, match="ctr_cvr_retrain__exp-a"):
        elt.build("training.ctr_examples", DAY, wh, labels=labels, scope=plan)


def test_a_query_over_its_dag_budget_fails_before_it_runs(
    wh: BigQueryWarehouse, bq: FakeBigQuery
) -> None:
    schema = get_schema("staging.ad_performance")
    bq.answer(
        "from raw.ad_performance",
        bytes_processed=25 * 1024**3,
        referenced_tables=("raw.ad_performance",),
    )
    with pytest.raises(QueryOverBudget) as err:
        elt.build("staging.ad_performance", DAY, wh, labels=LABELS)
    message = str(err.value)
    assert "sql/staging/ad_performance.sql" in message
    assert (
        "25.00 GiB processed" in message
        and "20.00 GiB" in message
        and "'ad_performance_daily'" in message
    )
    dry, real = _query_jobs(bq)
    assert len(dry) == 1 and real == []  # the dry run only: nothing billed
    assert wh.partition_rows(schema, DAY) == 0


def test_bigquery_refusing_a_job_over_maximum_bytes_billed_is_a_warehouse_error(
    wh: BigQueryWarehouse, bq: FakeBigQuery
) -> None:
    from adctr.core.errors import PermanentError
    from adctr.warehouse.base import WarehouseError

    # The data grew between the dry run and the job beyond the headroom: BigQuery fails the job.
    bq.answer(
        "from raw.ad_performance",
        bytes_processed=3 * MB,
        bytes_billed=40 * MB,
        referenced_tables=("raw.ad_performance",),
    )
    with pytest.raises(WarehouseError, match="bytesBilledLimitExceeded") as err:
        elt.build("staging.ad_performance", DAY, wh, labels=LABELS)
    assert not isinstance(err.value, PermanentError)  # a retry dry-runs again, on the grown data
    assert wh.partition_rows(get_schema("staging.ad_performance"), DAY) == 0  # nothing written


def test_partition_write_from_arrow_uploads_parquet_to_the_decorator(
    wh: BigQueryWarehouse, bq: FakeBigQuery
) -> None:
    from adctr.local.sql_check import fixture_raw

    schema = get_schema("raw.ad_performance")
    data = fixture_raw(DAY, ["google_ads"])
    written = wh.replace_partition_from_arrow(schema, DAY, data, LABELS)

    assert written == data.num_rows > 0
    (initiate,) = bq.calls("upload.initiate")
    assert initiate.args["uploadType"] == "resumable"
    load = initiate.body["configuration"]["load"]
    assert load["destinationTable"] == {
        "projectId": PROJECT,
        "datasetId": "raw",
        "tableId": "ad_performance$20261120",
    }
    assert load["writeDisposition"] == "WRITE_TRUNCATE" and load["sourceFormat"] == "PARQUET"
    assert load["timePartitioning"] == {"type": "DAY", "field": "partition_date"}
    assert load["clustering"] == {"fields": ["medium", "creative_id"]}
    assert [f["name"] for f in load["schema"]["fields"]] == schema.column_names
    assert initiate.body["configuration"]["labels"]["dag_id"] == "ad_performance_daily"
    uploaded = pq.read_table(io.BytesIO(b"".join(c.body for c in bq.calls("upload.chunk"))))
    assert uploaded.schema.names == schema.column_names and uploaded.num_rows == data.num_rows
    assert _query_jobs(bq) == ([], [])  # a load bills no query bytes: no dry run


def test_query_arrow_runs_guarded_and_labelled(
    wh: BigQueryWarehouse, bq: FakeBigQuery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "ctr_cvr_retrain")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "train_ctr")
    bq.answer(
        "from features.creative_daily",
        bytes_processed=200 * MB,
        referenced_tables=("features.creative_daily",),
        schema=(("report_date", "DATE"), ("n", "INT64")),
        rows=((date(2026, 11, 19), 3),),
    )
    sql = "select report_date, count(*) as n from features.creative_daily where report_date = @ds group by 1"

    params = {"ds": DAY, "min_clicks": 7, "rate": 0.5, "medium": "見出し", "final": True}
    table = wh.query_arrow(sql, params)

    assert table.to_pylist() == [{"report_date": date(2026, 11, 19), "n": 3}]
    (dry,), (job,) = _query_jobs(bq)
    assert dry["query"]["query"] == job["query"]["query"] == sql
    sent = {p["name"]: (p["parameterType"]["type"], p["parameterValue"]["value"])
            for p in job["query"]["queryParameters"]}  # fmt: skip
    assert sent == {"ds": ("DATE", "2026-11-20"), "min_clicks": ("INT64", "7"), "rate": ("FLOAT64", "0.5"),
                    "medium": ("STRING", "見出し"), "final": ("BOOL", "true")}  # fmt: skip
    assert dry["query"]["queryParameters"] == job["query"]["queryParameters"]
    assert job["query"]["parameterMode"] == "NAMED" and job["query"]["useLegacySql"] is False
    assert job["labels"] == {"dag_id": "ctr_cvr_retrain", "task_id": "train_ctr", "run_date": "", "variant": "main"}
    # 200 MB over one table: at most 201 MB billed, +10% headroom, rounded up to the MB.
    assert job["query"]["maximumBytesBilled"] == str(222 * MB)
    assert bq.calls("unknown") == []


def test_query_arrow_pages_through_results(wh: BigQueryWarehouse, bq: FakeBigQuery) -> None:
    rows = tuple((date(2026, 11, d), d * 10) for d in range(1, 8))
    bq.answer(
        "group by partition_date",
        referenced_tables=("raw.ad_performance",),
        schema=(("p", "DATE"), ("n", "INT64")),
        rows=rows,
    )

    counts = wh.partition_counts(get_schema("raw.ad_performance"))  # Warehouse's own method

    assert counts == dict(rows)
    pages = [
        c.args.get("pageToken")
        for c in bq.calls("jobs.getQueryResults")
        if c.args.get("maxResults") != "0"
    ]
    assert len([p for p in pages if p]) >= 2  # 7 rows in pages of 2


def test_query_arrow_batches_streams_pages_in_order_guarded(wh: BigQueryWarehouse, bq: FakeBigQuery) -> None:
    """What training reads a split with: the result in order, a page at a time, after the same
    dry run and with the same maximumBytesBilled as a whole-table query."""
    rows = tuple((date(2026, 11, d), d * 10) for d in range(1, 8))
    bq.answer(
        "from training.ctr_examples",
        bytes_processed=5 * MB,
        referenced_tables=("training.ctr_examples",),
        schema=(("report_date", "DATE"), ("clicks", "INT64")),
        rows=rows,
    )
    sql = "select report_date, clicks from training.ctr_examples where snapshot_date = @ds order by report_date"

    batches = list(wh.query_arrow_batches(sql, {"ds": DAY}, rows_per_batch=3))

    assert [tuple(r.values()) for b in batches for r in b.to_pylist()] == list(rows)
    assert len(batches) >= 3 and max(b.num_rows for b in batches) <= 3
    (dry,), (job,) = _query_jobs(bq)
    assert dry["query"]["query"] == job["query"]["query"] == sql
    assert job["query"]["maximumBytesBilled"] == str(11 * MB)  # 10 MB minimum per table + 10%
    assert {c.args.get("maxResults") for c in bq.calls("jobs.getQueryResults")} >= {"3"}


def test_column_types_reads_the_table_in_schema_file_names(
    wh: BigQueryWarehouse, bq: FakeBigQuery
) -> None:
    schema = get_schema("staging.ad_performance")
    wh.ensure_table(schema)
    types = wh.column_types(schema)
    assert types == {
        c.name: c.type for c in schema.columns
    }  # INTEGER/FLOAT from the API mapped back
    assert bq.calls("tables.get")[-1].path.endswith("/tables/ad_performance")


def test_dry_run_bytes_is_a_free_dry_run(wh: BigQueryWarehouse, bq: FakeBigQuery) -> None:
    bq.answer(
        "from staging.ad_performance",
        bytes_processed=123_456_789,
        referenced_tables=("staging.ad_performance",),
    )
    assert (
        wh.dry_run_bytes(
            "select clicks from staging.ad_performance where report_date = @ds", {"ds": DAY}
        )
        == 123_456_789
    )
    (dry,), real = _query_jobs(bq)
    assert real == [] and dry["dryRun"] is True and dry["query"]["useQueryCache"] is False
    assert dry["query"]["queryParameters"][0]["parameterType"] == {"type": "DATE"}
    # GX's validation queries go through sqlalchemy-bigquery: the URL carries the DAG's budget,
    # which sqlalchemy-bigquery sets as each job's maximum_bytes_billed.
    url = wh.sqlalchemy_url()
    assert url == f"bigquery://{PROJECT}?maximum_bytes_billed={wh.cost.budget_for('default')}"
    from sqlalchemy.engine.url import make_url
    from sqlalchemy_bigquery.parse_url import parse_url

    job_config = parse_url(make_url(url))[6]
    assert job_config.maximum_bytes_billed == wh.cost.budget_for("default")


def test_sql_check_dry_run_prints_the_guard_of_every_file(
    wh: BigQueryWarehouse, bq: FakeBigQuery, capsys
) -> None:  # noqa: ANN001
    from adctr.local import sql_check

    bq.answer("select", bytes_processed=5 * MB, referenced_tables=("staging.ad_performance",))
    bq.answer(
        "features.creative_daily",
        bytes_processed=60 * 1024**3,
        referenced_tables=("features.creative_daily",),
    )
    assert sql_check.check_bigquery(DAY) == 1
    out = capsys.readouterr().out
    assert (
        "PASS  sql/staging/ad_performance.sql" in out
        and "maximumBytesBilled 11.00 MiB (budget 20.00 GiB)" in out
    )
    fail = next(
        line for line in out.splitlines() if line.startswith("FAIL  sql/training/ctr_examples.sql")
    )
    assert "60.00 GiB processed" in fail and "budget of 50.00 GiB" in fail
    assert _query_jobs(bq)[1] == []  # dry runs only


def test_the_experiment_loop_writes_its_tables_to_the_days_partitions_labelled_and_guarded(
    wh: BigQueryWarehouse, bq: FakeBigQuery, config_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """abn_experiment on BigQuery: the population and the previous bucket map are read with
    guarded, labelled queries; the bucket map and the assignments load into the scoring day's
    partitions, the choices query (best combinations, the random control's FARM_FINGERPRINT
    draw) runs as sent, and the tracking ids load into the serving day's partition."""
    from adctr.experiments import assignment_table, config, submission_table

    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "abn_experiment")
    table = config.ExperimentsFile.model_validate({"buckets": 100, "experiments": [{
        "id": "exp1", "model": "cvr", "context": {"medium": "yahoo_ads", "device": "mobile"},
        "start": "2026-11-21", "end": "2026-11-30", "pre_period_days": 7, "primary_metric": "cvr",
        "arms": [{"name": "control", "slot": "random", "share": 50}, {"name": "champion", "slot": "cvr0", "share": 50}],
    }]})  # fmt: skip
    labels = JobLabels(dag_id="abn_experiment", task_id="assign_units", run_date=DAY.isoformat())
    groups = [f"adv001-cmp1-ag{i}" for i in range(1, 9)]
    bq.answer("from scoring.candidates where scoring_date", bytes_processed=12 * MB, referenced_tables=("scoring.candidates",),
              schema=(("ad_group_id", "STRING"), ("advertiser_id", "STRING")), rows=tuple((g, "adv001") for g in groups))  # fmt: skip
    bq.answer("from experiments.bucket_maps", bytes_processed=0, referenced_tables=("experiments.bucket_maps",),
              schema=(("map_date", "DATE"), ("bucket", "INT64"), ("arm", "STRING")), rows=())  # fmt: skip
    summary = assignment_table.assign(wh, table, DAY, labels)
    assert summary["experiments"]["exp1"]["units"] == len(groups)
    loads = [c.body["configuration"] for c in bq.calls("upload.initiate")]
    assert [ld["load"]["destinationTable"]["tableId"] for ld in loads] == ["bucket_maps$20261120", "assignments$20261120"]
    assert all(ld["load"]["writeDisposition"] == "WRITE_TRUNCATE" and ld["labels"]["dag_id"] == "abn_experiment" for ld in loads)
    _, jobs = _query_jobs(bq)
    assert all(int(j["query"]["maximumBytesBilled"]) <= 20 * 1024**3 for j in jobs)  # config/warehouse.yaml abn_experiment

    asset = "adv001-cmp1-ag1-{}1"
    bq.answer("from experiments.assignments", bytes_processed=40 * MB,
              referenced_tables=("experiments.assignments", "scoring.best_combinations", "scoring.candidates"),
              schema=(("unit_id", "STRING"), ("arm", "STRING"), ("slot", "STRING"), ("model", "STRING"),
                      ("variant", "STRING"), ("version", "INT64"), ("score", "FLOAT64"), ("headline_asset_id", "STRING"),
                      ("description_asset_id", "STRING"), ("image_asset_id", "STRING")),
              rows=(("adv001-cmp1-ag1", "champion", "cvr0", "cvr", "main", 3, 0.061, asset.format("h"), asset.format("d"),
                     asset.format("i")),))  # fmt: skip
    chosen = submission_table.choose(wh, table, DAY, labels)
    assert chosen == {"serve_date": "2026-11-21", "experiments": {"exp1": {"creatives": 1}}}
    _, jobs = _query_jobs(bq)
    sent = jobs[-1]["query"]
    assert "farm_fingerprint(concat(@salt" in sent["query"] and "qualify row_number()" in sent["query"]
    params = {p["name"]: p["parameterValue"]["value"] for p in sent["queryParameters"]}
    assert params == {"d": "2026-11-20", "experiment": "exp1", "medium": "yahoo_ads", "device": "mobile",
                      "salt": "exp1|2026-11-20"}  # fmt: skip
    load = bq.calls("upload.initiate")[-1].body["configuration"]["load"]
    assert load["destinationTable"]["tableId"] == "tracking_ids$20261121"
    uploaded = pq.read_table(io.BytesIO(b"".join(c.body for c in bq.calls("upload.chunk")[-1:]))).to_pylist()
    assert len(uploaded) == 1 and uploaded[0]["tracking_id"].startswith("abn.exp1.champion.20261121.")
    assert uploaded[0]["version"] == 3 and uploaded[0]["headline_asset_id"] == asset.format("h")
