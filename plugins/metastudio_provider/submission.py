"""Confirm a job's uploads and resubmit it for review, sending ``SUBMITVERIFYING`` exactly once.

Shared by :class:`~metastudio_provider.operators.training_job.MetaStudioExecuteCommandOperator`
(when its command is ``SUBMITVERIFYING``) and the remediation DAG's per-job task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from metastudio_provider.exceptions import (
    MetaStudioError,
    MetaStudioServerError,
    MetaStudioTransportError,
    error_record,
)

if TYPE_CHECKING:
    from metastudio_provider.hooks.metastudio import MetaStudioHook
    from metastudio_provider.models import CommandResult

# Commands that tell MetaStudio an upload is complete, per asset kind (sent before SUBMITVERIFYING).
CONFIRM_COMMANDS = {
    "training_video": "CONFIRM_MULTIPART_UPLOADED",
    "action_video": "CONFIRM_ACTION_VIDEO_MULTIPART_UPLOADED",
    "authorization_letter": "CONFIRM_AUTHORIZATION_LETTER",
}
SUBMIT = "SUBMITVERIFYING"


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
        _, note = submit_for_review(hook, job_id)
        done.append(SUBMIT)
    except MetaStudioError as exc:
        return {"job_id": job_id, "ok": False, "commands": done, "error": error_record(exc)}
    return {"job_id": job_id, "ok": True, "commands": done, **({"note": note} if note else {})}


def submit_for_review(
    hook: MetaStudioHook, job_id: str, *, command_message: str | None = None
) -> tuple[CommandResult | None, str | None]:
    """Send ``SUBMITVERIFYING`` exactly once, even when an answer is lost.

    A second ``SUBMITVERIFYING`` after one that did reach the job is refused (``MSS.10002002``:
    the job is already in review), so the hook must not blindly retry it. When the answer is lost
    (timeout, dropped connection, 5xx other than 503) we read the job: if its logs show a
    submission after its latest update, the command ran; otherwise it is sent again.

    Returns MetaStudio's answer (``None`` when it was lost but the job's logs show the submission)
    and a note saying so.
    """
    policy = hook.retry_policy
    attempts = policy.retry_limit + 1  # as many sends as the hook would make of an idempotent call
    for attempt in range(1, attempts + 1):
        try:
            return hook.execute_command(job_id, SUBMIT, command_message=command_message, idempotent=False), None
        except (MetaStudioTransportError, MetaStudioServerError) as exc:
            if not outcome_unknown(exc) or attempt == attempts:
                raise
            if submitted_since_update(hook.get_training_job(job_id)):
                note = f"the answer to {SUBMIT} was lost ({type(exc).__name__}); the job's logs show it was submitted"
                return None, note
            policy.sleep(policy.backoff(attempt, exc))
    raise AssertionError("unreachable: the last attempt returns or raises")


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
