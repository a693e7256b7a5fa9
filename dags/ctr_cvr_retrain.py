"""
### ctr_cvr_retrain

Nightly retraining of the CTR and CVR models on the newest report date:

`snapshot_date` → `check_inputs` (every input partition in the window passed its quality
gate) → training sets (`sql/training`, one build + validate task per file) → `train` (CTR and CVR, mapped:
LightGBM, holdout evaluation, champion/challenger gate) → `publish` (an immutable, numbered
artifact version with `manifest.json` and `_SUCCESS`; the gate's decision travels with it).

**Snapshot date.** The report date the training sets are built as of: the run's data
interval start in the account time zone, or the `snapshot_date` Param. CVR examples only
cover report dates whose attribution window has closed. The `window_days` and
`attribution_window_days` Params override the SQL models' defaults for one run.

**Failed inputs.** If any input partition failed its data-quality gate (or was never
validated), `check_inputs` fails and nothing is trained. Re-run `ad_performance_daily` for
those dates, or trigger with `use_last_good_data` to train on the newest date whose inputs
all passed (logged as a warning).

**The gate.** A candidate is blessed only if its holdout log loss is not worse than the
champion's on the same holdout beyond `gate.max_logloss_regression` and its calibration ratio
lies within `gate.calibration_bounds` (`config/models.yaml`); without a champion it must beat
the base-rate model. `metrics.json` holds both metric sets, the reliability table and the
reasons; `calibration.png` and `feature_importance.png` are published beside the model. To
override a refusal, trigger with `force_publish` and a `force_reason` (both recorded).

**Outputs.** `models/<model>/<variant>/<version>/` in the artifact store (local `var/artifacts`
by default, GCS in production). A version that is not blessed is published for the record
but never becomes the champion. The manifest records the run id and type, who triggered it,
the git commit, the data window and the data-quality results that fed the model.

**Promotion.** `serving_slot_sync` serves a blessed version by itself only if a *scheduled*
run on the newest data published it, or an operator triggered this DAG with a
`promote_reason`. Backfills and manual re-runs train and evaluate, and their versions are
kept, but reach a slot only through an explicit pin (with a reason) in `serving_slot_sync`.

**Variants.** A branch deployed with `python -m adctr.variants deploy` runs this file as
`ctr_cvr_retrain__<variant>` with the branch's `config/`, `sql/`, `expectations/` and training
code: the models the branch changed, and everything downstream its training sets read, are
built into variant-scoped tables (`<dataset>__<variant>`), the rest is read from production,
training runs from the branch's own code, and it publishes under its variant. Its docs end
with what the branch changes.
"""

from __future__ import annotations

import pendulum
from adctr.orchestration import dag_helpers, lineage
from airflow.sdk import dag, task

BASE_DAG_ID = "ctr_cvr_retrain"
MODELS = ["ctr", "cvr"]
# Set when this file runs from a variant deployment (dags/variants/<variant>/); None = main.
DEPLOYMENT = dag_helpers.deployment_root(__file__)


@dag(
    dag_id=dag_helpers.variant_dag_id(BASE_DAG_ID, DEPLOYMENT),
    schedule=dag_helpers.retrain_schedule(DEPLOYMENT, [f"training.{m}_examples" for m in MODELS]),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=dag_helpers.default_args("ml-eng"),
    tags=["ads", "training", "owner:ml-eng"],
    doc_md=dag_helpers.variant_doc(__doc__, DEPLOYMENT),
    deadline=dag_helpers.deadline_alert(BASE_DAG_ID),
    params={
        "snapshot_date": dag_helpers.date_param(
            "Build training sets as of this report date instead of the run's interval.", title="Snapshot date"
        ),
        "use_last_good_data": dag_helpers.switch_param(
            "Use last good data",
            "If the snapshot date's inputs failed their quality gates, train on the "
            "newest date whose inputs all passed instead of failing.",
        ),
        "window_days": dag_helpers.optional_int_param(
            "Window days",
            "Report dates per training set (default: the SQL model's, 28).",
            minimum=1,
            maximum=365,
        ),
        "attribution_window_days": dag_helpers.optional_int_param(
            "Attribution window days",
            "Days until a report date's conversions are final (default: 7).",
            minimum=0,
            maximum=90,
        ),
        "force_publish": dag_helpers.switch_param(
            "Force publish",
            "Publish the candidates as blessed even if the champion gate refuses them "
            "(needs force_reason; the gate's own decision is recorded too).",
            **dag_helpers.requires(true=["force_reason"]),
        ),
        "force_reason": dag_helpers.reason_param(
            "Why the gate is overridden (required with force_publish, 10 characters or more; "
            "recorded in metrics.json and the manifest).",
            title="Force reason",
        ),
        "promote_reason": dag_helpers.reason_param(
            "Make this manual run's blessed versions eligible for serving slots (10 characters or "
            "more; recorded in the manifest). Without it only scheduled runs on the newest data are.",
            title="Promote reason",
        ),
    },
)
def ctr_cvr_retrain() -> None:
    # A variant that reads production's training sets waits here (retries, backoff up to 10
    # min) until main's run has built and validated them; a failed gate fails at once.
    @task(retries=6)
    def check_inputs(snapshot_date: str, params=None) -> str:  # noqa: ANN001
        from adctr.orchestration.tasks.retrain import check_training_inputs

        return check_training_inputs(snapshot_date, params, BASE_DAG_ID, DEPLOYMENT)

    @task
    def train(model: str, snapshot_date: str, **context) -> dict:  # noqa: ANN003
        from adctr.orchestration.tasks.retrain import train as run

        return run(model, snapshot_date, context, DEPLOYMENT)

    @task
    def publish(candidate: dict, **context) -> dict:  # noqa: ANN003
        from adctr.orchestration.tasks.retrain import publish as run

        return run(candidate, context, BASE_DAG_ID, DEPLOYMENT)

    day = check_inputs(dag_helpers.report_date_task("snapshot_date", "snapshot_date")())
    built = dag_helpers.sql_model_tasks(BASE_DAG_ID, day, upstream=day, deployment=DEPLOYMENT)
    variant = dag_helpers.deployment_variant(DEPLOYMENT)
    for model in MODELS:
        examples = f"training.{model}_examples"
        source = lineage.table_asset(dag_helpers.physical_table(examples, DEPLOYMENT))
        candidate = train.override(task_id=f"train__{model}", inlets=[source])(model, day)
        built[examples] >> candidate
        publish.override(task_id=f"publish__{model}", outlets=[lineage.model_asset(model, variant)])(candidate)


with ctr_cvr_retrain() as this_dag:
    dag_helpers.summary_task(this_dag, ["snapshot_date"])

