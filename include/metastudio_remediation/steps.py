"""The work behind each task of the remediation DAG, as plain functions of a hook and JSON data.

The DAG file only wires these together; keeping them here makes the DAG file cheap to parse
and lets the tests call each step directly against the sandbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from metastudio_provider.exceptions import (
    MetaStudioError,
    MetaStudioNotFoundError,
    MetaStudioServerError,
    MetaStudioTransportError,
    error_record,
)
from metastudio_provider.hooks.metastudio import MetaStudioHook
from metastudio_provider.models import VERIFY_FAILED_STATES
from metastudio_remediation.manifest import Manifest
from metastudio_remediation.planning import job_summary, plan_run

# Commands that tell MetaStudio an upload is complete, per asset kind (sent before SUBMITVERIFYING).
CONFIRM_COMMANDS = {
    "training_video": "CONFIRM_MULTIPART_UPLOADED",
    "action_video": "CONFIRM_ACTION_VIDEO_MULTIPART_UPLOADED",
    "authorization_letter": "CONFIRM_AUTHORIZATION_LETTER",
}
SUBMIT = "SUBMITVERIFYING"


def find_failed_jobs(hook: MetaStudioHook, job_ids: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Jobs to consider: the given ids (whatever their state), else every verify-failed job."""
    wanted = list(dict.fromkeys(job_ids))
    if not wanted:
        jobs = hook.iter_training_jobs(states=sorted(VERIFY_FAILED_STATES))
        return [{"job_id": job.job_id, "name": job.name, "state": job.state} for job in jobs]
    found = []
    for job_id in wanted:
        try:
            job = hook.get_training_job(job_id)
        except MetaStudioNotFoundError:
            found.append({"job_id": job_id, "name": None, "state": "NOT_FOUND"})
            continue
        found.append({"job_id": job.job_id, "name": job.name, "state": job.state})
    return found


def plan_remediation(
    hook: MetaStudioHook, candidates: Iterable[Mapping[str, Any]], manifest: Manifest, **limits: Any
) -> dict[str, list[dict[str, Any]]]:
    """Fetch details (review reason, rejection count) of the jobs the manifest corrects, then plan."""
    detailed = []
    failed = []
    for candidate in candidates:
        if candidate["state"] in VERIFY_FAILED_STATES and candidate["job_id"] in manifest.job_ids:
            try:
                detailed.append(job_summary(hook.get_training_job(candidate["job_id"])))
            except MetaStudioNotFoundError:  # deleted since it was listed: nothing to fix
                detailed.append({**candidate, "state": "NOT_FOUND", "review_failure": None, "rejections": 0})
            except MetaStudioError as exc:  # this job only; the others are still planned
                failed.append({**candidate, "review_failure": None, "error": error_record(exc)})
        else:
            detailed.append({**candidate, "review_failure": None, "rejections": 0})
    plan = plan_run(detailed, manifest, **limits)
    plan["failed"].extend(failed)
    return plan


def finalize_job(
    hook: MetaStudioHook, job: Mapping[str, Any], *, before_submit: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Confirm the uploads that need confirming, then resubmit the job for review.

    ``before_submit`` runs just before ``SUBMITVERIFYING`` is sent (to record that it may have been).
    """
    job_id = job["job_id"]
    done: list[str] = []
    commands = [CONFIRM_COMMANDS[asset] for asset in job["assets"] if asset in CONFIRM_COMMANDS]
    try:
        for command in commands:  # confirmations can be repeated safely: the hook retries them
            hook.execute_command(job_id, command)
            done.append(command)
        if before_submit is not None:
            before_submit()
        note = submit_for_review(hook, job_id)
        done.append(SUBMIT)
    except MetaStudioError as exc:
        return {"job_id": job_id, "ok": False, "commands": done, "error": error_record(exc)}
    return {"job_id": job_id, "ok": True, "commands": done, **({"note": note} if note else {})}


def submit_for_review(hook: MetaStudioHook, job_id: str) -> str | None:
    """Send ``SUBMITVERIFYING`` exactly once, even when an answer is lost.

    A second ``SUBMITVERIFYING`` after one that did reach the job is refused (``MSS.10002002``:
    the job is already in review), so the hook must not blindly retry it. When the answer is lost
    (timeout, dropped connection, 5xx other than 503) we read the job: if its logs show a
    submission after its latest update, the command ran; otherwise it is sent again.
    """
    policy = hook.retry_policy
    attempts = policy.retry_limit + 1  # as many sends as the hook would make of an idempotent call
    for attempt in range(1, attempts + 1):
        try:
            hook.execute_command(job_id, SUBMIT, idempotent=False)
            return None
        except (MetaStudioTransportError, MetaStudioServerError) as exc:
            if not outcome_unknown(exc) or attempt == attempts:
                raise
            if submitted_since_update(hook.get_training_job(job_id)):
                return f"the answer to {SUBMIT} was lost ({type(exc).__name__}); the job's logs show it was submitted"
            policy.sleep(policy.backoff(attempt, exc))
    return None  # unreachable: the last attempt returns or raises


def outcome_unknown(exc: MetaStudioError) -> bool:
    """True when the request may have been handled although no answer says so."""
    if isinstance(exc, MetaStudioTransportError):
        return not exc.connect_failed
    return isinstance(exc, MetaStudioServerError) and exc.status != 503


def submitted_since_update(job: Any) -> bool:
    """The job's newest ``USER_VERIFYING_SUBMITTED`` log entry is newer than its newest ``USER_UPDATE_VIDEO``."""
    logs = sorted(enumerate(job.operation_logs), key=lambda item: (item[1].operate_time or "", item[0]))
    last: dict[str | None, int] = {log.log_type: position for position, (_, log) in enumerate(logs)}
    return last.get("USER_VERIFYING_SUBMITTED", -1) > last.get("USER_UPDATE_VIDEO", -1)


def failed_task_instances(
    task_states: Mapping[str, str], job_ids: Mapping[str, Sequence[str]], watched: Iterable[str]
) -> list[dict[str, Any]]:
    """Task instances of ``watched`` tasks that failed, with the job they served.

    ``job_ids`` gives, per mapped task, the job id of each map index (the list it was expanded over).
    ``upstream_failed`` is left out: it is a consequence of a failure already reported.
    """
    failures = []
    watched = set(watched)
    for key, state in task_states.items():
        if state != "failed":
            continue
        task_id, map_index = key, None
        match = re.fullmatch(r"(.+)_(\d+)", key)
        if key not in watched and match and match.group(1) in watched:
            task_id, map_index = match.group(1), int(match.group(2))
        if task_id not in watched:
            continue
        served = job_ids.get(task_id, ())
        job_id = served[map_index] if map_index is not None and map_index < len(served) else None
        failures.append({"task_id": task_id, "map_index": map_index, "state": state, "job_id": job_id})
    return failures


def write_report(report: Mapping[str, Any], report_dir: str | Path, dag_id: str, run_id: str) -> Path:
    """Save the report as JSON under ``report_dir/dag_id/<run id>.json``."""
    safe_run_id = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    path = Path(report_dir) / dag_id / f"{safe_run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return path


def alert_title(dag_id: str, run_id: str, report: Mapping[str, Any]) -> str:
    failed = report["totals"].get("failed", 0)
    mss = sum(1 for error in report["errors"] if str(error.get("error_code") or "").startswith("MSS."))
    return f"[{dag_id}] {failed} job(s) failed, {len(report['errors'])} error(s) ({mss} MSS.*) in run {run_id}"
