"""Upload one job's files and video parts concurrently, recording each part the moment it is accepted.

Presigned URLs are single-use, so what matters on a retry is exactly which parts MetaStudio has
already accepted: each accepted part is written to the checkpoint as soon as its PUT is answered
2xx (from the uploading thread), and a later attempt re-sends only the parts without a record.
A part that was accepted but not yet recorded when the worker died is the one gap: its retry
finds the URL used, and the caller decides what to do (see :mod:`metastudio_remediation.remediate`).

Each part goes through the provider's checkpointed upload
(:func:`metastudio_provider.checkpointed_upload.upload_once`), the same step the upload operator
uses; this module adds the concurrency and the "one refused part stops the others" rule. When the
task is stopped (``stop`` set by ``on_kill``), running parts give up at their next read, parts not
started are not sent, and :class:`~metastudio_provider.checkpointed_upload.UploadStopped` is raised
once the running ones have ended (each accepted part recorded).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from metastudio_provider.checkpoint import Checkpoint
from metastudio_provider.checkpointed_upload import UploadStopped, upload_once
from metastudio_provider.exceptions import MetaStudioConfigError, MetaStudioError, error_record
from metastudio_provider.file_identity import pinned_source
from metastudio_provider.hooks.metastudio import MetaStudioHook

log = logging.getLogger(__name__)


def part_key(generation: int, label: str) -> str:
    """Checkpoint key of one part; ``generation`` counts the Updates, since each one issues new URLs."""
    return f"upload/{generation}/{label}"


def upload_parts(
    hook: MetaStudioHook,
    tasks: Sequence[Mapping[str, Any]],
    checkpoint: Checkpoint,
    *,
    generation: int,
    concurrency: int,
    stop: threading.Event | None = None,
) -> list[dict[str, Any]]:
    """Send every part of ``tasks`` (from :func:`planning.upload_tasks`) not yet recorded as accepted.

    Returns one row per task, in order: ``{"label", "ok": True, "bytes_sent", "sha256", ...}`` for an
    accepted part (``"resumed": True`` when an earlier attempt sent it), ``{"label", "ok": False,
    "error"}`` for a refused one, ``{"label", "ok": False, "not_sent": reason}`` for a part not started
    because another was refused (the job cannot be submitted with these URLs any more, so its other
    parts would only waste the link). Any other exception fails the call after the running parts
    finished (and were recorded); so does :class:`UploadStopped` when ``stop`` is set.
    """
    rows: dict[str, dict[str, Any]] = {}
    pending = []
    for task in tasks:
        recorded = checkpoint.get(part_key(generation, task["asset_label"]))
        if recorded:
            rows[task["asset_label"]] = {**recorded, "resumed": True}
        else:
            pending.append(task)
    if rows:
        log.info("%d of %d part(s) were accepted in an earlier attempt; not re-sending them", len(rows), len(tasks))
    workers = max(1, min(usable_concurrency(concurrency), len(pending)))
    if pending:
        log.info("Uploading %d part(s), %d at a time", len(pending), workers)
    refused = threading.Event()
    stop = stop or threading.Event()
    if workers == 1:
        for task in pending:
            rows[task["asset_label"]] = _upload_one(hook, task, checkpoint, generation, refused, stop)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upload") as pool:
            futures = [pool.submit(_upload_one, hook, task, checkpoint, generation, refused, stop) for task in pending]
        for task, future in zip(pending, futures, strict=True):
            rows[task["asset_label"]] = future.result()  # re-raises what is not a MetaStudio refusal
    return [rows[task["asset_label"]] for task in tasks]


def usable_concurrency(requested: int) -> int:
    """``requested``, or 1 under Airflow's in-process test supervisor (``airflow dags test``, ``dag.test()``).

    The uploading threads talk to the task's supervisor (checkpoints, secret masks). The real
    supervisor channel serialises requests with a lock; the in-process one used by ``dags test``
    serves one request at a time and, while serving it, removes the channel, so a second thread
    talking at that moment fails.
    """
    from airflow.sdk.execution_time import task_runner

    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return 1 if type(comms).__name__ == "InProcessSupervisorComms" else requested


def check_sources(job_plan: Mapping[str, Any]) -> None:
    """Raise ``FileIdentityError`` unless every pinned file of the plan is still the file that was checked.

    Called before the Update, so a file swapped or edited since the plan fails its job with nothing sent.
    """
    for upload in job_plan.get("uploads", ()):
        if upload.get("identity"):
            pinned_source(upload["identity"]).stat()


def _source(task: Mapping[str, Any]) -> Any:
    """The file to send: pinned to what the plan checked when it recorded an identity (see ``file_identity``)."""
    identity = task.get("identity")
    return pinned_source(identity) if identity else task["source"]


def _upload_one(
    hook: MetaStudioHook,
    task: Mapping[str, Any],
    checkpoint: Checkpoint,
    generation: int,
    refused: threading.Event,
    stop: threading.Event,
) -> dict[str, Any]:
    label = task["asset_label"]
    if refused.is_set():
        return {"label": label, "ok": False, "not_sent": "another part of the job was refused"}
    try:
        return upload_once(
            hook,
            checkpoint,
            part_key(generation, label),
            sealed_url=task["sealed_url"],
            source=_source(task),
            offset=task["offset"],
            length=task["length"],
            content_type=task["content_type"],
            label=label,
            stop=stop,
        )
    except (MetaStudioConfigError, UploadStopped):
        raise  # not this part's problem: fail the task (and fail fast, see the DAG's retry policy)
    except MetaStudioError as exc:
        refused.set()
        log.error("%s: %s", label, exc)
        return {"label": label, "ok": False, "error": error_record(exc)}
