"""Trigger that waits, in the triggerer, for a training job to leave the review states."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from metastudio_provider.exceptions import error_record
from metastudio_provider.hooks.metastudio_async import MetaStudioAsyncHook
from metastudio_provider.hooks.retry import is_retryable
from metastudio_provider.models import REVIEW_STATES, latest_review_failure
from metastudio_provider.redaction import scrub_text


class MetaStudioTrainingJobTrigger(BaseTrigger):
    """Poll a job until its state is no longer ``AUTO_VERIFYING``/``MANUAL_VERIFYING``.

    Yields exactly one event, a JSON-safe dict: ``status`` (``success``, ``error`` or ``timeout``),
    ``job_id``, ``state`` (last seen, or None), ``review_failure`` (the newest review rejection from
    ``operation_logs`` when the job left review, else None), ``message`` and ``error``
    (``MetaStudioApiError.to_dict()`` shape, or None). ``success`` only means the review is over:
    the verdict, pass or fail, is in ``state`` and ``review_failure``.

    Errors the hook still could not get past with its own retries are handled by kind: a retryable
    one (transport, 429, 5xx) is logged and polled again, anything else ends with ``error``.

    :param job_id: the training job to watch.
    :param end_time: epoch seconds after which the trigger gives up with ``timeout``.
    :param metastudio_conn_id: the ``metastudio`` connection.
    :param poll_interval: seconds between two reads of the job.
    """

    def __init__(
        self,
        *,
        job_id: str,
        end_time: float,
        metastudio_conn_id: str = MetaStudioAsyncHook.default_conn_name,
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.end_time = float(end_time)
        self.metastudio_conn_id = metastudio_conn_id
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "end_time": self.end_time,
                "metastudio_conn_id": self.metastudio_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = MetaStudioAsyncHook(self.metastudio_conn_id)
        state: str | None = None
        last_problem = ""
        while True:
            try:
                job = await hook.get_training_job(self.job_id)
            except Exception as exc:
                if not is_retryable(exc):
                    message = f"reading job {self.job_id} failed: {scrub_text(str(exc))}"
                    yield TriggerEvent(self._event("error", state, message, exc))
                    return
                last_problem = f"; last error: {scrub_text(str(exc))}"
                self.log.warning("Job %s could not be read, polling again: %s", self.job_id, scrub_text(str(exc)))
            else:
                state = job.state
                if state not in REVIEW_STATES:
                    failure = latest_review_failure(job)
                    event = self._event("success", state, f"job {self.job_id} left review in state {state}")
                    event["review_failure"] = failure.to_dict() if failure else None
                    yield TriggerEvent(event)
                    return
                last_problem = ""
                self.log.info("Job %s is %s; next check in %.0f s", self.job_id, state, self.poll_interval)
            remaining = self.end_time - time.time()
            if remaining <= 0:
                message = f"job {self.job_id} was still {state or 'unknown'} at the deadline{last_problem}"
                yield TriggerEvent(self._event("timeout", state, message))
                return
            await asyncio.sleep(min(self.poll_interval, remaining))

    def _event(self, status: str, state: str | None, message: str, exc: BaseException | None = None) -> dict[str, Any]:
        return {
            "status": status,
            "job_id": self.job_id,
            "state": state,
            "review_failure": None,
            "message": message,
            "error": error_record(exc) if exc is not None else None,
        }
