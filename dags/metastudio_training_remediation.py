"""
### MetaStudio training remediation

Finds avatar-training jobs that failed review (`AUTO_VERIFY_FAILED`, `MANUAL_VERIFY_FAILED`) and
plans a fix for each job that has an entry in the corrections manifest. Then one mapped task per
job updates it, uploads the corrected files and video parts (several at a time), confirms the
uploads and resubmits the job for review; a retry resumes where the task stopped. Optionally waits
for the verdicts, then reports every job and every file, and sends **one alert** listing every
error of the run (each `MSS.*` code with its request id). The run fails if any job failed.

Runs nightly at 02:00 Asia/Shanghai; trigger it by hand with the form to pick jobs, do a dry
run, use another manifest or wait for the review verdict. See `docs/remediation.md`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING

import pendulum
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import (
    CronTriggerTimetable,
    ExceptionRetryPolicy,
    Param,
    RetryAction,
    RetryRule,
    TriggerRule,
    dag,
    task,
)

from metastudio_provider.models import JOB_ID_SCHEMA_PATTERN
from metastudio_provider.sensors.training_job import MetaStudioTrainingJobSensor
from metastudio_remediation.human import FIELDS_PARAM, OPTIONS, fields_param_schema
from metastudio_remediation.xcom import PLAN_KEY, failures_recorded

if TYPE_CHECKING:
    from metastudio_provider.hooks.metastudio import MetaStudioHook

CONN_ID = "metastudio_default"
ALERT_CONN_ID = "metastudio_alerts"
POOL = "metastudio_api"
# How often to check a resubmitted job's review; an environment setting so demos and tests can poll faster.
REVIEW_POLL_SECONDS = float(os.environ.get("METASTUDIO_REVIEW_POLL_SECONDS", "60"))
# Task retries are for lost workers and transient trouble beyond the hook's own retries; a
# configuration or input error, or a job MetaStudio refused, would fail the same way again, so it
# fails at once.
FAIL_FAST_ON_BAD_INPUT = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=[
                "metastudio_provider.exceptions.MetaStudioConfigError",
                "metastudio_provider.exceptions.MetaStudioValidationError",
                "metastudio_remediation.manifest.ManifestError",
            ],
            action=RetryAction.FAIL,
            reason="configuration or input error: a retry cannot fix it",
        ),
        RetryRule(
            exception=["metastudio_remediation.job_task.JobRemediationFailed"],
            action=RetryAction.FAIL,
            reason="MetaStudio refused this job; the hook already retried what a retry could cure",
        ),
    ]
)


@dag(
    dag_id="metastudio_training_remediation",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["metastudio", "remediation"],
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_policy": FAIL_FAST_ON_BAD_INPUT,
    },
    params={
        "job_ids": Param(
            [],
            type="array",
            items={"type": "string", "pattern": JOB_ID_SCHEMA_PATTERN},
            uniqueItems=True,
            title="Job ids",
            description="Fix only these jobs. Empty: every job in a verify-failed state.",
        ),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Plan and report; change nothing."),
        "corrections_path": Param(
            None,
            type=["null", "string"],
            title="Corrections manifest",
            description="Path of the manifest. Empty: Variable metastudio_corrections_path, else the bundled one.",
        ),
        "max_jobs": Param(
            50,
            type="integer",
            minimum=1,
            maximum=200,
            title="Max jobs per run",
            description="Fix at most this many jobs in this run (1-200); the others wait for the next run.",
        ),
        "wait_for_review": Param(
            False,
            type="boolean",
            title="Wait for the review verdict",
            description="Watch each resubmitted job until MetaStudio's review passes or fails, and report it.",
        ),
        "ask_a_person": Param(
            False,
            type="boolean",
            title="Ask a person",
            description="Manual runs only: each job that needs a person waits for an answer in Required Actions "
            "(resubmit as is, skip, or corrected fields). The nightly run never waits.",
        ),
    },
)
def metastudio_training_remediation() -> None:
    """The tasks (each a short call into ``metastudio_remediation``), then their wiring.

    Over 60 lines on purpose: it is the flow, read top to bottom; each task body is a few lines.
    """

    @task
    def find_failed_jobs(params: dict, ti=None) -> list[dict]:
        """List the verify-failed jobs (or the jobs named in the trigger form)."""
        from metastudio_remediation.discovery import find_failed_jobs

        with failures_recorded(ti):
            return find_failed_jobs(hook(), params["job_ids"])

    @task
    def plan(candidates: list[dict], params: dict, ti=None) -> list[dict]:
        """Match jobs with the corrections manifest; skip and say why for the rest.

        Returns the jobs to fix (none in a dry run), which ``remediate_job`` is mapped over; the
        whole plan, for the report, is the XCom ``plan`` (Airflow maps only over a return value).
        """
        from metastudio_remediation.discovery import jobs_to_fix, plan_for_run

        with failures_recorded(ti):
            whole = plan_for_run(hook(), candidates, params)
        ti.xcom_push(key=PLAN_KEY, value=whole)
        return jobs_to_fix(whole)

    @task(pool=POOL, map_index_template="{{ job_label }}")
    def remediate_job(job: dict, ti=None) -> dict:
        """Update one job, upload its files and parts, confirm and resubmit it; a retry resumes.

        A job MetaStudio refused fails this task instance, with its outcome recorded for the report.
        """
        from airflow.sdk import get_current_context

        from metastudio_provider.checkpoint import checkpoint_from
        from metastudio_remediation.job_task import run_job_task
        from metastudio_remediation.remediate import job_label

        context = get_current_context()  # the instance's name in the grid is set through its context
        context["job_label"] = job_label(job)
        return run_job_task(hook(), job, ti, checkpoint_from(context))

    @task(trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
    def review_requests(outcomes: list[dict], params: dict) -> list[str]:
        """The resubmitted jobs to watch, when the trigger asked to wait for the verdict."""
        return [outcome["job_id"] for outcome in outcomes if outcome.get("ok")] if params["wait_for_review"] else []

    @task
    def person_requests(whole_plan: dict, params: dict, dag_run=None) -> list[dict]:
        """In a manual run with ask_a_person: one request per job needing a person (docs/remediation.md)."""
        from metastudio_remediation.human import requests_for_run

        return requests_for_run(whole_plan, params, dag_run.run_type)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def apply_answers(requests: list[dict], plan_task_id: str, answers_task_id: str, ti=None) -> list[dict]:
        """Each answer becomes a decision; the jobs sent back to review are remediated next."""
        from metastudio_remediation.human import apply_answers

        return apply_answers(ti, requests, plan_task_id=plan_task_id, answers_task_id=answers_task_id)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def alert_and_report(results: dict, params: dict, ti=None, dag_run=None) -> dict:
        """Report every job, alert once on all errors, and fail the run if any job failed."""
        from metastudio_remediation.finish import finish_run

        return finish_run(ti=ti, dag_run=dag_run, dry_run=params["dry_run"], alert_conn_id=ALERT_CONN_ID, **results)

    candidates = find_failed_jobs()
    jobs = plan(candidates)
    outcomes = remediate_job.expand(job=jobs)
    to_watch = review_requests(outcomes)
    reviews = MetaStudioTrainingJobSensor.partial(
        task_id="wait_for_review",
        metastudio_conn_id=CONN_ID,
        pool=POOL,
        poke_interval=REVIEW_POLL_SECONDS,
        deferrable=True,  # reviews take minutes to days: wait in the triggerer, not in a worker slot
        timeout=6 * 3600,
        map_index_template="{{ task.job_id }}",
    ).expand(job_id=to_watch)
    # In a manual run with ask_a_person, each job needing a person waits for an answer (Required
    # Actions in the UI); the answers are applied by remediating those jobs in this same run.
    requests = person_requests(jobs[PLAN_KEY])
    answers = HITLOperator.partial(
        task_id="ask_a_person",
        options=OPTIONS,
        params={FIELDS_PARAM: Param(None, **fields_param_schema())},
        map_index_template="{{ task.subject.split(':')[0] }}",
    ).expand_kwargs(requests)
    # The answers are read per map index (a request without an answer has none), hence the link.
    decided = apply_answers(requests, jobs.operator.task_id, answers.task_id)
    answers >> decided
    answered = remediate_job.override(task_id="remediate_answered_job").expand(job=decided)
    # The report runs whatever happened (ALL_DONE) and watches every task upstream of it.
    alert_and_report(
        {
            "outcomes": [outcomes, answered],
            "reviews": reviews.output,
            "served": {  # per mapped task, what its instances were expanded over (map index = position)
                outcomes.operator.task_id: jobs,
                reviews.task_id: to_watch,
                answers.task_id: requests,
                answered.operator.task_id: decided,
            },
            "recorded_by": {"plan": jobs.operator.task_id, "decisions": decided.operator.task_id},
        }
    )


def hook() -> MetaStudioHook:
    """The MetaStudio hook of this DAG's connection (imported at run time: parsing needs no HTTP stack)."""
    from metastudio_provider.hooks.metastudio import MetaStudioHook

    return MetaStudioHook(CONN_ID)


metastudio_training_remediation()
