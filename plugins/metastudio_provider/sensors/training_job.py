"""Sensor that waits for a training job's review verdict, in a worker slot or deferred."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowSensorTimeout

from metastudio_provider.exceptions import MetaStudioError, exception_class_for_status
from metastudio_provider.models import REVIEW_STATES, TrainingJob, latest_review_failure

if TYPE_CHECKING:
    from metastudio_provider.hooks.metastudio import MetaStudioHook

# The hook and the trigger are imported where they are used: importing them pulls in requests,
# the HTTP provider and aiohttp (~0.4 s), which DAG files that use this sensor must not pay at parse time.
DEFAULT_CONN_ID = "metastudio_default"


class MetaStudioTrainingJobSensor(BaseSensorOperator):
    """Wait until a job is no longer ``AUTO_VERIFYING``/``MANUAL_VERIFYING``.

    Returns ``{"job_id", "state", "review_failure"}`` (``review_failure`` is the newest review
    rejection from the job's ``operation_logs``, or None). A failed review does not fail the
    sensor: the verdict is data for the DAG to report. API errors and timeouts do fail it.

    :param job_id: training job id (templated)
    :param metastudio_conn_id: MetaStudio connection (templated)
    :param deferrable: wait in the triggerer (:class:`MetaStudioTrainingJobTrigger`) instead of a
        worker slot; ``poke_interval`` is then the trigger's polling interval and ``timeout`` its deadline.
    """

    template_fields: Sequence[str] = ("job_id", "metastudio_conn_id")

    def __init__(
        self,
        *,
        job_id: str,
        metastudio_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.metastudio_conn_id = metastudio_conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> MetaStudioHook:
        from metastudio_provider.hooks.metastudio import MetaStudioHook

        return MetaStudioHook(self.metastudio_conn_id)

    def poke(self, context: Context) -> PokeReturnValue:
        job = self.hook.get_training_job(self.job_id)
        if job.state in REVIEW_STATES:
            self.log.info("Job %s is %s", self.job_id, job.state)
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self._verdict(job))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        from metastudio_provider.triggers.training_job import MetaStudioTrainingJobTrigger

        self.defer(
            trigger=MetaStudioTrainingJobTrigger(
                job_id=self.job_id,
                end_time=time.time() + self.timeout,
                metastudio_conn_id=self.metastudio_conn_id,
                poll_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Turn the trigger's event into the return value, or into the error it reports."""
        if not isinstance(event, dict) or event.get("job_id") != self.job_id:
            raise MetaStudioError(f"unexpected trigger event for job {self.job_id}: {event!r}")
        status = event.get("status")
        if status == "timeout":
            raise AirflowSensorTimeout(event.get("message") or f"job {self.job_id} is still in review")
        if status == "error":
            raise _error_from_event(event)
        if status != "success" or not isinstance(event.get("state"), str):
            raise MetaStudioError(f"unexpected trigger event for job {self.job_id}: {event!r}")
        result = {"job_id": self.job_id, "state": event["state"], "review_failure": event.get("review_failure")}
        self._log_verdict(result)
        return result

    def _verdict(self, job: TrainingJob) -> dict[str, Any]:
        failure = latest_review_failure(job)
        result = {"job_id": job.job_id, "state": job.state, "review_failure": failure.to_dict() if failure else None}
        self._log_verdict(result)
        return result

    def _log_verdict(self, result: dict[str, Any]) -> None:
        failure = result["review_failure"]
        if failure and result["state"].endswith("VERIFY_FAILED"):
            self.log.warning(
                "Job %s left review as %s: %s (%s)",
                result["job_id"],
                result["state"],
                failure.get("reason"),
                failure.get("error_code"),
            )
        else:
            self.log.info("Job %s left review as %s", result["job_id"], result["state"])


def _error_from_event(event: dict[str, Any]) -> MetaStudioError:
    """Rebuild a typed error, so failure callbacks (the alert notifier) see its code and request id."""
    error = event.get("error") or {}
    status = error.get("status")
    if isinstance(status, int):
        return exception_class_for_status(status)(
            status=status,
            error_code=error.get("error_code"),
            error_msg=error.get("error_msg"),
            request_id=error.get("request_id"),
            operation=error.get("operation") or "get_training_job",
        )
    return MetaStudioError(event.get("message") or f"waiting for job {event.get('job_id')} failed")
