"""
### serving_slot_sync

Puts the model versions named by `config/slots.yaml` into the serving slots
(`serving/<slot>/<version>/` in the artifact store), where the scoring service
(`python -m adctr.serving`) picks them up without a restart.

`sync_slots` → `apply_retention`

**Policy per slot.** `newest_blessed`: the newest version of the slot's model and variant that
the champion gate blessed *and* that a run allowed to promote published (a scheduled
`ctr_cvr_retrain` run on the newest data, or a manual run with `promote_reason`). Backfills
never promote by themselves. `{pinned: N, reason: ...}` in the file serves version N.

**Pin or roll back one slot** from the trigger form: `action` = `pin`, the `slot`, the
`version` and a `reason`. The pin is kept (it overrides slots.yaml for that slot on every
later sync) until a run with `action` = `unpin` (reason required) releases it.

**Safety.** Every slot is resolved before anything is written: a malformed slots.yaml, an
unknown variant, or a pin to a version that is missing, corrupt or not blessed fails the run
with one sentence naming the slot, and no slot changes. A change copies the version (the
original under `models/` is never moved), writes `_SUCCESS` last, and only then retires the
slot's previous version. Each change is appended to `serving/_audit/` (when, run, who, from,
to, why): `python -m adctr.serving audit` prints it.

**Retention.** Keeps the newest `retention.keep_versions` per model/variant plus every
version a slot serves or a pin names; `retention_dry_run` only lists what would go.
"""

from __future__ import annotations

import pendulum
from adctr.orchestration import dag_helpers, lineage
from airflow.sdk import Param, dag, task

DAG_ID = "serving_slot_sync"


@dag(
    dag_id=DAG_ID,
    schedule="30 * * * *",  # hourly; slots also move right after a manual trigger
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=dag_helpers.default_args("ml-eng"),
    tags=["ads", "serving", "owner:ml-eng"],
    doc_md=__doc__,
    deadline=dag_helpers.deadline_alert(DAG_ID),
    params={
        "action": Param(
            "sync", type="string", enum=["sync", "pin", "unpin"], title="Action",
            description="sync: apply slots.yaml and kept pins. pin: serve `version` in `slot` from "
            "now on (rollback). unpin: release the slot's pin.",
            **dag_helpers.requires(pin=["slot", "version", "reason"], unpin=["slot", "reason"]),
        ),  # fmt: skip
        "slot": Param(None, type=["null", "string"], enum=[None, *dag_helpers.slot_names()],
                      title="Slot", description="The slot to pin or unpin (from config/slots.yaml)."),  # fmt: skip
        "version": Param(None, type=["null", "integer"], minimum=1, title="Version",
                         description="The version to pin."),
        "reason": dag_helpers.reason_param("Why (required for pin and unpin, 10 characters or more; audited).",
                                           title="Reason"),
        "retention_dry_run": dag_helpers.switch_param(
            "Retention dry run", "List the versions retention would delete instead of deleting them."
        ),
    },
)
def serving_slot_sync() -> None:
    @task
    def sync_slots(**context) -> dict:  # noqa: ANN003
        from adctr.orchestration.tasks.slot_sync import sync_slots as run

        return run(context)

    @task
    def apply_retention(**context) -> list:  # noqa: ANN003
        from adctr.orchestration.tasks.slot_sync import apply_retention as run

        return run(context)

    @task(doc_md="Announces the slot's new version (an asset event) only if the sync moved it.")
    def announce(slot: str, synced: dict) -> str:
        from adctr.orchestration.tasks.slot_sync import announce as run

        return run(slot, synced)

    sync = sync_slots.override(inlets=[lineage.model_asset(m, v) for m, v in dag_helpers.slot_models()])()
    sync >> apply_retention()
    for slot in dag_helpers.slot_names():
        announce.override(task_id=f"announce__{slot}", outlets=[lineage.slot_asset(slot)])(slot, sync)


with serving_slot_sync() as this_dag:
    dag_helpers.summary_task(this_dag, [])
