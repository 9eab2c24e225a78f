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

from metastudio_provider.sensors.training_job import MetaStudioTrainingJobSensor
from metastudio_remediation.human import FIELDS_PARAM, OPTIONS, fields_param_schema

CONN_ID = "metastudio_default"
ALERT_CONN_ID = "metastudio_alerts"
POOL = "metastudio_api"
JOB_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
# How often to check a resubmitted job's review; an environment setting so demos and tests can poll faster.
REVIEW_POLL_SECONDS = float(os.environ.get("METASTUDIO_REVIEW_POLL_SECONDS", "60"))
# Task retries are for lost workers and transient trouble beyond the hook's own retries; a
# configuration or input error would fail the same way again, so it fails at once.
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
        )
    ]
)
# Every task but the report: a failed instance of any of them is reported (and fails the run).
WATCHED_TASKS = (
    "find_failed_jobs",
    "plan",
    "remediate_job",
    "review_requests",
    "wait_for_review",
    "person_requests",
    "ask_a_person",
    "apply_answers",
    "remediate_answered_job",
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
            items={"type": "string", "pattern": JOB_ID_PATTERN},
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
    @task
    def find_failed_jobs(params: dict) -> list[dict]:
        """List the verify-failed jobs (or the jobs named in the trigger form)."""
        from metastudio_provider.hooks.metastudio import MetaStudioHook
        from metastudio_remediation.steps import find_failed_jobs
        from metastudio_remediation.xcom import failures_recorded

        with failures_recorded():
            return find_failed_jobs(MetaStudioHook(CONN_ID), params["job_ids"])

    @task
    def plan(candidates: list[dict], params: dict) -> list[dict]:
        """Match jobs with the corrections manifest; skip and say why for the rest.

        Returns the jobs to fix (none in a dry run), which ``remediate_job`` is mapped over; the
        whole plan, for the report, is the XCom ``plan``.
        """
        from airflow.sdk import Variable, conf, get_current_context

        from metastudio_provider.hooks.metastudio import MetaStudioHook
        from metastudio_remediation.manifest import load_manifest
        from metastudio_remediation.settings import default_manifest_path
        from metastudio_remediation.steps import plan_remediation
        from metastudio_remediation.xcom import PLAN_KEY, failures_recorded

        path = params["corrections_path"] or Variable.get("metastudio_corrections_path", default_manifest_path())
        with failures_recorded():
            result = plan_remediation(
                MetaStudioHook(CONN_ID),
                candidates,
                load_manifest(path),
                max_jobs=params["max_jobs"],
                max_map_length=conf.getint("core", "max_map_length"),
                part_size=int(Variable.get("metastudio_part_size_mb", 256)) * 1024 * 1024,
                max_rejections=int(Variable.get("metastudio_max_rejections", 3)),
            )
        result["dry_run"] = params["dry_run"]
        get_current_context()["ti"].xcom_push(key=PLAN_KEY, value=result)
        return [] if params["dry_run"] else result["to_fix"]

    @task(pool=POOL, map_index_template="{{ job_label }}")
    def remediate_job(job: dict) -> dict:
        """Update one job, upload its files and parts, confirm and resubmit it; a retry resumes."""
        from airflow.sdk import Variable, get_current_context

        from metastudio_provider.hooks.metastudio import MetaStudioHook
        from metastudio_remediation import remediate
        from metastudio_remediation.checkpoint import checkpoint_from

        context = get_current_context()
        context["job_label"] = remediate.job_label(job)
        concurrency = int(Variable.get("metastudio_upload_concurrency", remediate.DEFAULT_CONCURRENCY))
        outcome = remediate.remediate_job(
            MetaStudioHook(CONN_ID), job, checkpoint_from(context), concurrency=concurrency
        )
        return {**outcome, "task_id": context["ti"].task_id, "map_index": context["ti"].map_index}

    @task(trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
    def review_requests(outcomes: list[dict], params: dict) -> list[str]:
        """The resubmitted jobs to watch, when the trigger asked to wait for the verdict."""
        if not params["wait_for_review"]:
            return []
        return [outcome["job_id"] for outcome in outcomes[:] if outcome.get("ok")]

    @task
    def person_requests(params: dict) -> list[dict]:
        """In a manual run with ask_a_person: one request per job needing a person (docs/remediation.md)."""
        from airflow.sdk import get_current_context

        from metastudio_remediation.human import person_requests
        from metastudio_remediation.xcom import PLAN_KEY, pull_one

        context = get_current_context()
        if not params["ask_a_person"] or params["dry_run"] or context["dag_run"].run_type != "manual":
            return []
        return person_requests(pull_one(context["ti"], "plan", key=PLAN_KEY) or {})

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def apply_answers(requests: list[dict]) -> list[dict]:
        """Each answer becomes a decision; the jobs sent back to review are remediated next."""
        from airflow.sdk import get_current_context

        from metastudio_remediation.human import DECISIONS_KEY, decide, jobs_needing_a_person, jobs_to_remediate
        from metastudio_remediation.xcom import PLAN_KEY, pull_one

        ti = get_current_context()["ti"]
        if not requests:
            return []
        items = jobs_needing_a_person(pull_one(ti, "plan", key=PLAN_KEY) or {})
        answers = [ti.xcom_pull(task_ids="ask_a_person", map_indexes=i, default=None) for i in range(len(items))]
        decisions = decide(items, answers)
        ti.xcom_push(key=DECISIONS_KEY, value=decisions)
        return jobs_to_remediate(items, decisions)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def alert_and_report(params: dict) -> dict:
        """Report every job, alert once on all errors, and fail the run if any job failed."""
        from airflow.sdk import Variable, conf, get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        from metastudio_provider.notifications.webhook import MetaStudioAlertNotifier
        from metastudio_remediation.human import (
            DECISIONS_KEY,
            jobs_needing_a_person,
            plan_with_answers,
            record_decisions,
        )
        from metastudio_remediation.media_repair.reporting import repaired_summary  # media repair (issue 19)
        from metastudio_remediation.report import build_report, render_table
        from metastudio_remediation.report_markdown import RUN_NOTE_XCOM_KEY, render_markdown, render_note
        from metastudio_remediation.settings import default_report_dir
        from metastudio_remediation.steps import alert_title, failed_task_instances, write_report
        from metastudio_remediation.xcom import PLAN_KEY, pull_all, pull_one, recorded_failure

        context = get_current_context()
        ti, dag_id, run_id = context["ti"], context["dag"].dag_id, context["run_id"]
        job_plan = pull_one(ti, "plan", key=PLAN_KEY) or {"to_fix": [], "failed": []}
        asked = pull_one(ti, "person_requests") or []
        job_ids = {  # per mapped task, the job of each map index
            "remediate_job": [job["job_id"] for job in pull_one(ti, "plan") or []],
            "wait_for_review": pull_one(ti, "review_requests") or [],
            "ask_a_person": [item["job_id"] for item in jobs_needing_a_person(job_plan)] if asked else [],
            "remediate_answered_job": [job["job_id"] for job in pull_one(ti, "apply_answers") or []],
        }
        decisions = pull_one(ti, "apply_answers", key=DECISIONS_KEY) or []
        states = ti.get_task_states(dag_id=dag_id, run_ids=[run_id]).get(run_id, {})
        report = build_report(
            plan=plan_with_answers(job_plan, decisions),
            dry_run=params["dry_run"],
            outcomes=pull_all(ti, "remediate_job") + pull_all(ti, "remediate_answered_job"),
            reviews=pull_all(ti, "wait_for_review"),
            task_failures=[
                {**failure, "error": recorded_failure(ti, failure["task_id"], failure["map_index"])}
                for failure in failed_task_instances(states, job_ids, WATCHED_TASKS)
            ],
        )
        record_decisions(report, decisions)
        path = write_report(report, Variable.get("metastudio_report_dir", default_report_dir()), dag_id, run_id)
        print(render_table(report))
        print(f"Report written to {path}")
        base_url = conf.get("api", "base_url", fallback=None)
        markdown = render_markdown(report, dag_id=dag_id, run_id=run_id, base_url=base_url)
        path.with_suffix(".md").write_text(markdown)
        print(markdown)
        ti.xcom_push(key=RUN_NOTE_XCOM_KEY, value=render_note(report, dag_id=dag_id, run_id=run_id))
        if report["errors"]:
            MetaStudioAlertNotifier(
                webhook_conn_id=ALERT_CONN_ID,
                title=alert_title(dag_id, run_id, report),
                errors=report["errors"],
                summary={"totals": report["totals"], "report": str(path), "repaired": repaired_summary(report)},
            ).notify(context)
        if report["failed"]:
            raise AirflowFailException(f"{report['totals'].get('failed', 0)} job(s) failed; see {path}")
        return {"totals": report["totals"], "report": str(path)}

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
    requests = person_requests()
    jobs >> requests
    answers = HITLOperator.partial(
        task_id="ask_a_person",
        options=OPTIONS,
        params={FIELDS_PARAM: Param(None, **fields_param_schema())},
        map_index_template="{{ task.subject.split(':')[0] }}",
    ).expand_kwargs(requests)
    decided = apply_answers(requests)
    answered = remediate_job.override(task_id="remediate_answered_job").expand(job=decided)
    answers >> decided
    # review_requests runs once every job's task settled and at least one succeeded, so a crashed
    # instance does not hold back the others. The report waits for every step (ALL_DONE), so it
    # sees failures anywhere in the run.
    [candidates, jobs, outcomes, to_watch, reviews, requests, answers, decided, answered] >> alert_and_report()


metastudio_training_remediation()
