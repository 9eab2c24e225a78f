"""MetaStudioTrainingJobSensor: poke, classic waiting, deferral and the trigger event's outcomes."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from metastudio_provider.exceptions import MetaStudioError, MetaStudioNotFoundError
from metastudio_provider.sensors.training_job import MetaStudioTrainingJobSensor
from metastudio_provider.triggers.training_job import MetaStudioTrainingJobTrigger
from tests.metastudio_provider.triggers.test_training_job import JOB_ID, REJECTION, Script, job
from tests.support.local_server import LocalServer, Reply

VERDICT = {
    "log_type": "SYSTEM_VERIFY_FAILED",
    "reason": "resolution 1280x720 not accepted",
    "error_code": "44005901",
    "operate_time": "2026-11-02T00:00:00Z",
    "operate_user": "SYSTEM",
}


def make_sensor(conn_id: str = "metastudio_test", **kwargs) -> MetaStudioTrainingJobSensor:
    kwargs.setdefault("poke_interval", 0.01)
    return MetaStudioTrainingJobSensor(task_id="wait_for_review", job_id=JOB_ID, metastudio_conn_id=conn_id, **kwargs)


def test_templated_fields_and_a_declarative_constructor() -> None:
    sensor = make_sensor(conn_id="{{ var.value.conn }}")  # no connection exists: nothing is read here
    assert sensor.template_fields == ("job_id", "metastudio_conn_id")
    assert sensor.metastudio_conn_id == "{{ var.value.conn }}"


def test_poke_is_false_in_review_and_true_with_the_verdict_after(metastudio_conn) -> None:
    script = Script(
        Reply(200, job("AUTO_VERIFYING")), Reply(200, job("AUTO_VERIFY_FAILED", operation_logs=[REJECTION]))
    )
    with LocalServer(script) as server:
        sensor = make_sensor(metastudio_conn(server.base_url))
        first, second = sensor.poke({}), sensor.poke({})
    assert not first
    assert second
    assert second.xcom_value == {"job_id": JOB_ID, "state": "AUTO_VERIFY_FAILED", "review_failure": VERDICT}


def test_a_failed_review_is_returned_not_raised(metastudio_conn) -> None:
    script = Script(Reply(200, job("MANUAL_VERIFYING")), Reply(200, job("MANUAL_VERIFY_FAILED")))
    with LocalServer(script) as server:
        result = make_sensor(metastudio_conn(server.base_url), deferrable=False).execute({})
    assert result == {"job_id": JOB_ID, "state": "MANUAL_VERIFY_FAILED", "review_failure": None}
    assert len(server.requests) == 2


def test_api_errors_fail_the_poke(metastudio_conn) -> None:
    with LocalServer(Script(Reply(404, {"error_code": "MSS.00000004", "error_msg": "no job"}))) as server:
        with pytest.raises(MetaStudioNotFoundError):
            make_sensor(metastudio_conn(server.base_url)).poke({})


def test_deferrable_checks_once_then_defers_to_the_trigger(metastudio_conn) -> None:
    with LocalServer(Script(Reply(200, job("AUTO_VERIFYING")))) as server:
        sensor = make_sensor(metastudio_conn(server.base_url), deferrable=True, poke_interval=45, timeout=3600)
        before = time.time()
        with pytest.raises(TaskDeferred) as excinfo:
            sensor.execute({})
    assert len(server.requests) == 1
    deferred = excinfo.value
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=3600)
    trigger = deferred.trigger
    assert isinstance(trigger, MetaStudioTrainingJobTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["job_id"] == JOB_ID and kwargs["metastudio_conn_id"] == "metastudio_test"
    assert kwargs["poll_interval"] == 45.0
    assert before + 3600 <= kwargs["end_time"] <= time.time() + 3600


def test_deferrable_returns_at_once_when_the_review_is_already_over(metastudio_conn) -> None:
    with LocalServer(Script(Reply(200, job("JOB_SUCCESS")))) as server:
        result = make_sensor(metastudio_conn(server.base_url), deferrable=True).execute({})
    assert result == {"job_id": JOB_ID, "state": "JOB_SUCCESS", "review_failure": None}


def _event(status: str, **fields) -> dict:
    return {
        "status": status,
        "job_id": JOB_ID,
        "state": None,
        "review_failure": None,
        "message": f"{status} message",
        "error": None,
    } | fields


def test_execute_complete_returns_the_verdict() -> None:
    event = _event("success", state="AUTO_VERIFY_FAILED", review_failure=VERDICT)
    assert make_sensor().execute_complete({}, event) == {
        "job_id": JOB_ID,
        "state": "AUTO_VERIFY_FAILED",
        "review_failure": VERDICT,
    }


def test_execute_complete_raises_a_typed_error_for_error_events() -> None:
    error = {
        "error_type": "MetaStudioNotFoundError",
        "operation": "get_training_job",
        "status": 404,
        "error_code": "MSS.00000004",
        "error_msg": "Job not found",
        "request_id": "req-9",
    }
    with pytest.raises(MetaStudioNotFoundError) as excinfo:
        make_sensor().execute_complete({}, _event("error", error=error))
    assert excinfo.value.to_dict() == error


def test_execute_complete_raises_on_non_api_errors_timeouts_and_bad_events() -> None:
    sensor = make_sensor()
    with pytest.raises(MetaStudioError, match="error message"):
        sensor.execute_complete({}, _event("error", error={"error_type": "MetaStudioConfigError", "status": None}))
    with pytest.raises(AirflowSensorTimeout, match="timeout message"):
        sensor.execute_complete({}, _event("timeout", state="MANUAL_VERIFYING"))
    for bad in (None, "success", _event("success"), _event("success", job_id="other"), _event("cancelled")):
        with pytest.raises(MetaStudioError, match="unexpected trigger event"):
            sensor.execute_complete({}, bad)
