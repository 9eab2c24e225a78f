"""The ``remediate_job`` task around :func:`metastudio_remediation.remediate.remediate_job`.

* **The grid tells the truth.** A job whose remediation failed ends its own task instance failed:
  its outcome is pushed as the instance's return value first (so the final task reports it once,
  with every file), then :class:`JobRemediationFailed` is raised with the error's code, message and
  request id, the last lines of the log. The DAG's retry policy does not retry it: MetaStudio
  refused, and the hook already retried what a retry could cure. The sibling jobs go on.
* **Stopping a task stops its work.** Airflow calls ``ti.task.on_kill()`` when a running instance
  is marked failed or success (or times out). A TaskFlow task has no ``on_kill`` of its own, so
  for the length of the work the operator's ``on_kill`` sets this job's stop event: running
  uploads give up at their next read, no new part starts, and the checkpoint keeps exactly the
  parts MetaStudio accepted, from which a retry resumes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from metastudio_provider.checkpoint import Checkpoint
from metastudio_provider.hooks.metastudio import MetaStudioHook
from metastudio_remediation import remediate, settings

log = logging.getLogger(__name__)


class JobRemediationFailed(Exception):
    """MetaStudio refused a step of this job; its outcome (with the error) is the task's return value."""


def run_job_task(hook: MetaStudioHook, job: Mapping[str, Any], ti: Any, checkpoint: Checkpoint) -> dict[str, Any]:
    """Remediate ``job`` in the task instance ``ti``; return its outcome, or record it and fail."""
    with stopped_by_on_kill(ti.task) as stop:
        outcome = remediate.remediate_job(
            hook,
            job,
            checkpoint,
            concurrency=settings.upload_concurrency(remediate.DEFAULT_CONCURRENCY),
            stop=stop,
        )
    outcome = {**outcome, "task_id": ti.task_id, "map_index": ti.map_index}
    if not outcome["ok"]:
        ti.xcom_push(key="return_value", value=outcome)  # the report's record of this job
        raise JobRemediationFailed(failure_message(outcome))
    return outcome


def failure_message(outcome: Mapping[str, Any]) -> str:
    """``job J failed at upload: OBS.0403 Forbidden (request id R)``: the error, or the first refused file."""
    error = outcome.get("error") or next(
        ({**row["error"], "asset": row["label"]} for row in outcome.get("uploads", []) if "error" in row), {}
    )
    code = error.get("error_code") or error.get("status") or error.get("error_type") or "error"
    where = f" ({error['asset']})" if error.get("asset") else ""
    step = outcome.get("step", "upload")
    text = f"job {outcome['job_id']} failed at {step}{where}: {code} {error.get('error_msg') or ''}"
    request_id = error.get("request_id") or outcome.get("request_id")
    return text.rstrip() + (f" (request id {request_id})" if request_id else "")


@contextmanager
def stopped_by_on_kill(operator: Any) -> Iterator[threading.Event]:
    """An event set by ``operator.on_kill()`` while the block runs (the operator's own ``on_kill`` is kept)."""
    stop = threading.Event()
    original = operator.on_kill

    def on_kill() -> None:
        log.warning("Stopping: the task instance was told to stop; accepted parts stay recorded for a retry")
        stop.set()
        original()

    operator.on_kill = on_kill
    try:
        yield stop
    finally:
        operator.on_kill = original
