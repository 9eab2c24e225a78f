"""Candidate (b) of docs/remediation.md "Design: task granularity": three mapped tasks per job. Not deployed.

update_job x N (the provider's update operator) -> upload_job x N (every part of the job at once,
checkpointed per part) -> finalize_job x N (confirm + SUBMITVERIFYING), paired by map index with
``XComArg.zip`` instead of glue tasks. It is kept so that the measurement in docs/benchmarks.md can
be repeated: copy the project (``git archive HEAD | tar -x -C /tmp/b``), put this file in place of
``/tmp/b/dags/metastudio_training_remediation.py`` and run
``bench/dag_end_to_end.py --compare b=/tmp/b``. The report of this variant is kept simple.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, TriggerRule, dag, task

from metastudio_provider.operators.training_job import MetaStudioUpdateTrainingJobOperator

CONN_ID = "metastudio_default"
POOL = "metastudio_api"


def update_kwargs(job: dict) -> dict:
    """The update operator's arguments for one planned job (an ``XComArg.map`` function)."""
    return {"job_id": job["job_id"], "body": job["body"]}


@dag(
    dag_id="metastudio_training_remediation",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "max_jobs": Param(50, type="integer", minimum=1, maximum=200),
        "job_ids": Param([], type="array", items={"type": "string"}),
        "dry_run": Param(False, type="boolean"),
    },
)
def metastudio_training_remediation() -> None:
    @task
    def find_failed_jobs(params: dict) -> list[dict]:
        from metastudio_provider.hooks.metastudio import MetaStudioHook
        from metastudio_remediation.discovery import find_failed_jobs

        return find_failed_jobs(MetaStudioHook(CONN_ID), params["job_ids"])

    @task
    def plan(candidates: list[dict], params: dict) -> list[dict]:
        from airflow.sdk import Variable

        from metastudio_provider.hooks.metastudio import MetaStudioHook
        from metastudio_remediation.discovery import plan_remediation
        from metastudio_remediation.manifest import load_manifest

        manifest = load_manifest(Variable.get("metastudio_corrections_path"))
        result = plan_remediation(MetaStudioHook(CONN_ID), candidates, manifest, max_jobs=params["max_jobs"])
        return [] if params["dry_run"] else result["to_fix"]

    @task(pool=POOL)
    def upload_job(pair: tuple[dict, dict]) -> dict:
        from airflow.sdk import get_current_context

        from metastudio_provider.checkpoint import checkpoint_from
        from metastudio_provider.hooks.metastudio import MetaStudioHook
        from metastudio_remediation.planning import upload_tasks
        from metastudio_remediation.uploads import upload_parts

        job, update = pair
        if not update.get("ok"):
            return {**update, "uploads": []}
        checkpoint = checkpoint_from(get_current_context())
        rows = upload_parts(MetaStudioHook(CONN_ID), upload_tasks(job, update), checkpoint, generation=1, concurrency=4)
        assets = sorted({upload["asset"] for upload in job["uploads"]})
        return {"job_id": job["job_id"], "ok": all(row["ok"] for row in rows), "uploads": rows, "assets": assets}

    @task(pool=POOL)
    def finalize_job(uploaded: dict) -> dict:
        from metastudio_provider.hooks.metastudio import MetaStudioHook
        from metastudio_provider.submission import finalize_job

        if not uploaded.get("ok"):
            return uploaded
        return {**uploaded, **finalize_job(MetaStudioHook(CONN_ID), uploaded)}

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def alert_and_report(outcomes: list[dict]) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        failed = [outcome["job_id"] for outcome in outcomes[:] if not outcome.get("ok")]
        if failed:
            raise AirflowFailException(f"{len(failed)} job(s) failed: {failed}")

    jobs = plan(find_failed_jobs())
    updates = MetaStudioUpdateTrainingJobOperator.partial(
        task_id="update_job", metastudio_conn_id=CONN_ID, errors_as_data=True, pool=POOL
    ).expand_kwargs(jobs.map(update_kwargs))
    alert_and_report(finalize_job.expand(uploaded=upload_job.expand(pair=jobs.zip(updates.output))))


metastudio_training_remediation()
