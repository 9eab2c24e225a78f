"""One job from start to finish, as one task: Update, upload every part concurrently, confirm, resubmit.

The DAG maps this over the jobs of the plan, so a 50-job run needs 50 task instances for the work
instead of one per API call or file (see ``docs/remediation.md``, "Design: task granularity").
A task can die anywhere and be retried, so every step that MetaStudio cannot take back is
recorded in the task instance's checkpoint (``task_state_store``) before the next one starts:

* the Update's URLs (sealed): a retry uses them instead of sending another Update, which would
  drop the parts already uploaded;
* each part, as soon as MetaStudio accepted it: a retry sends only the others;
* ``SUBMITVERIFYING`` about to be sent: a retry that finds the mark reads the job's logs instead of
  sending it a second time (so a retry after the end sends nothing but that one read).

If MetaStudio refuses URLs as already used or expired (a part accepted by a worker that died
before recording it, or a retry long after the Update), the job gets one more Update and every
part is sent again: a new Update drops the staged parts, so nothing from before can be relied on.

MetaStudio refusals come back as data (``{"ok": False, "error": ...}``): the task around this
(:mod:`metastudio_remediation.job_task`) records that outcome for the report and then fails its
own task instance; anything else (a lost worker, a bug) fails the task and the retry resumes from
the checkpoint. The Update's URLs are sealed, each part uploaded and ``SUBMITVERIFYING`` sent once
by the provider's shared steps (:mod:`metastudio_provider.update_targets`,
:mod:`metastudio_provider.checkpointed_upload`, :mod:`metastudio_provider.submission`), the same
ones its operators use.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from metastudio_provider.checkpoint import Checkpoint
from metastudio_provider.exceptions import MetaStudioConfigError, MetaStudioError, error_record
from metastudio_provider.hooks.metastudio import MetaStudioHook
from metastudio_provider.submission import finalize_job, submitted_since_update
from metastudio_provider.update_targets import sealed_targets
from metastudio_provider.url_vault import ensure_sealing_available
from metastudio_remediation.media_repair.remediation import remediate_with_repairs
from metastudio_remediation.planning import upload_tasks
from metastudio_remediation.uploads import check_sources, upload_parts

log = logging.getLogger(__name__)

MAX_UPDATES = 2  # the Update, plus one more when URLs were refused as used or expired
# Upload refusals that a fresh Update cures: the URL was used up or has expired (the sandbox's codes;
# OBS itself says "Request has expired").
SPENT_URL_CODES = frozenset({"OBS.0410", "OBS.0419"})
DEFAULT_CONCURRENCY = 4


def job_label(job: Mapping[str, Any]) -> str:
    """``<job id>: training_video (3 parts), id_card_front`` — the task instance's name in the UI."""
    counts: dict[str, int] = {}
    for upload in job["uploads"]:
        counts[upload["asset"]] = counts.get(upload["asset"], 0) + 1
    assets = ", ".join(f"{asset} ({n} parts)" if n > 1 else asset for asset, n in counts.items())
    return f"{job['job_id']}: {assets or 'no files'}"


def remediate_job(
    hook: MetaStudioHook,
    job: Mapping[str, Any],
    checkpoint: Checkpoint,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Fix one planned job (a ``to_fix`` entry of the plan); resumes from ``checkpoint`` on a retry.

    Returns ``{"job_id", "ok", "updates", "uploads": [one row per file or part], "commands", ...}``
    with ``"error"`` (and ``"step"``) when the Update, the URLs or a command failed; a refused part
    has its error in its own row. Nothing secret is returned. ``stop`` (set by the task's
    ``on_kill``) ends the uploads early with ``UploadStopped``.

    Kept as one function (just over 60 lines): the Update/upload loop and its resume rules read best together.
    """
    ensure_sealing_available()  # an Update invalidates the old URLs: never send one we could not keep
    if job.get("repairs"):  # media repair (issue 19): repair into a private work area, send that, delete it
        return remediate_with_repairs(
            job,
            checkpoint,
            lambda repaired: remediate_job(hook, repaired, checkpoint, concurrency=concurrency, stop=stop),
        )
    job_id = job["job_id"]
    outcome: dict[str, Any] = {"job_id": job_id, "ok": False, "updates": 0, "uploads": [], "commands": []}
    notes: list[str] = []
    step = "update"
    try:
        issued = checkpoint.get("update")
        if not issued:
            check_sources(job)  # a file swapped or edited since the plan: this job's error, nothing sent
        if issued:
            log.info("Resuming job %s with the URLs of Update %d (no new Update)", job_id, issued["generation"])
        while True:
            step = "update"
            if not issued:
                issued = _update(hook, job, checkpoint, generation=outcome["updates"] + 1)
            outcome.update(updates=issued["generation"], request_id=issued["request_id"])
            step = "upload"
            try:
                tasks = upload_tasks(job, {"upload_targets": issued["targets"]})
            except LookupError as exc:  # the Update's answer lacks a URL the plan needs
                return _with_notes({**outcome, "step": "update", "error": _missing_url(exc, issued)}, notes)
            rows = upload_parts(
                hook, tasks, checkpoint, generation=issued["generation"], concurrency=concurrency, stop=stop
            )
            outcome["uploads"] = rows
            if all(row["ok"] for row in rows):
                break
            refused = [row["error"] for row in rows if "error" in row]
            if issued["generation"] < MAX_UPDATES and any(_spent(error) for error in refused):
                notes.append(f"URLs refused as used or expired ({_codes(refused)}); fresh URLs from another Update")
                log.warning("Job %s: %s", job_id, notes[-1])
                issued = None
                continue
            outcome["step"] = step
            return _with_notes(outcome, notes)
        step = "submit"
        final = _confirm_and_submit(hook, job, checkpoint, issued["generation"])
    except MetaStudioConfigError:
        raise
    except MetaStudioError as exc:
        log.error("Job %s: %s", job_id, exc)
        return _with_notes({**outcome, "step": step, "error": error_record(exc)}, notes)
    outcome["commands"] = final["commands"]
    if final.get("note"):
        notes.append(final["note"])
    if not final["ok"]:
        return _with_notes({**outcome, "step": "submit", "error": final["error"]}, notes)
    return _with_notes({**outcome, "ok": True}, notes)


def _update(hook: MetaStudioHook, job: Mapping[str, Any], checkpoint: Checkpoint, generation: int) -> dict[str, Any]:
    urls = hook.update_training_job(job["job_id"], dict(job["body"]))
    wanted = {(upload["asset"], upload["part_number"]) for upload in job["uploads"]}
    issued = {  # only the URLs this job will use are kept
        "generation": generation,
        "request_id": urls.request_id,
        "targets": sealed_targets(urls, wanted),
    }
    checkpoint.set("update", issued)
    log.info("Updated job %s: %d upload URL(s) (request id %s)", job["job_id"], len(urls.targets), urls.request_id)
    return issued


def _confirm_and_submit(
    hook: MetaStudioHook, job: Mapping[str, Any], checkpoint: Checkpoint, generation: int
) -> dict[str, Any]:
    """Confirmations then ``SUBMITVERIFYING``, which an earlier attempt may already have sent."""
    job_id = job["job_id"]
    mark = f"submit/{generation}"
    if checkpoint.get(mark) and submitted_since_update(hook.get_training_job(job_id)):
        note = "an earlier attempt's SUBMITVERIFYING reached the job; not sent again"
        log.info("Job %s: %s", job_id, note)
        return {"job_id": job_id, "ok": True, "commands": [], "note": note}
    assets = sorted({upload["asset"] for upload in job["uploads"]})
    return finalize_job(
        hook, {"job_id": job_id, "assets": assets}, before_submit=lambda: checkpoint.set(mark, "sending")
    )


def _missing_url(exc: LookupError, issued: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "error_type": "MissingUploadUrl",
        "operation": "update_training_job",
        "status": None,
        "error_code": None,
        "error_msg": str(exc),
        "request_id": issued.get("request_id"),
    }


def _spent(error: Mapping[str, Any]) -> bool:
    if error.get("status") != 403:
        return False
    return error.get("error_code") in SPENT_URL_CODES or "expired" in str(error.get("error_msg") or "").lower()


def _codes(errors: list[Mapping[str, Any]]) -> str:
    return ", ".join(sorted({str(error.get("error_code") or error.get("status")) for error in errors}))


def _with_notes(outcome: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    return {**outcome, "note": "; ".join(notes)} if notes else outcome
