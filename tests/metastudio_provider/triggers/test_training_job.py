"""MetaStudioTrainingJobTrigger against a scripted server: one event per run, JSON-safe, every outcome."""

from __future__ import annotations

import asyncio
import importlib
import json
import time

from airflow.triggers.base import TriggerEvent

from metastudio_provider.triggers.training_job import MetaStudioTrainingJobTrigger
from tests.support.fixtures import PROJECT_ID
from tests.support.local_server import LocalServer, Recorded, Reply

JOB_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
JOB_PATH = f"/v1/{PROJECT_ID}/digital-human-training-manage/user/jobs/{JOB_ID}"
REJECTION = {
    "operate_time": "2026-11-02T00:00:00Z",
    "log_type": "SYSTEM_VERIFY_FAILED",
    "log_description": "resolution 1280x720 not accepted",
    "error_code": "44005901",
    "operate_user": "SYSTEM",
}
# Fast in-connection retries, so that transient errors reach the trigger quickly.
FAST_EXTRAS = {"retry_limit": 0, "retry_delay": 0.01, "retry_max_delay": 0.01}


def job(state: str, **fields) -> dict:
    return {"job_id": JOB_ID, "name": "avatar", "state": state, **fields}


class Script:
    """Answers each request with the next reply; the last one repeats."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def __call__(self, request: Recorded) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def run_trigger(trigger: MetaStudioTrainingJobTrigger) -> list[TriggerEvent]:
    async def collect() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


def make_trigger(conn_id: str, *, within: float = 10.0, poll_interval: float = 0.01) -> MetaStudioTrainingJobTrigger:
    return MetaStudioTrainingJobTrigger(
        job_id=JOB_ID, end_time=time.time() + within, metastudio_conn_id=conn_id, poll_interval=poll_interval
    )


def test_serialize_round_trip() -> None:
    trigger = MetaStudioTrainingJobTrigger(
        job_id=JOB_ID, end_time=1_900_000_000, metastudio_conn_id="ms", poll_interval=30
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "metastudio_provider.triggers.training_job.MetaStudioTrainingJobTrigger"
    assert kwargs == {"job_id": JOB_ID, "end_time": 1_900_000_000.0, "metastudio_conn_id": "ms", "poll_interval": 30.0}
    assert json.loads(json.dumps(kwargs)) == kwargs
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_polls_until_the_job_leaves_review(metastudio_conn) -> None:
    script = Script(
        Reply(200, job("AUTO_VERIFYING")),
        Reply(200, job("AUTO_VERIFYING")),
        Reply(200, job("AUTO_VERIFY_FAILED", operation_logs=[REJECTION])),
    )
    with LocalServer(script) as server:
        events = run_trigger(make_trigger(metastudio_conn(server.base_url)))

    assert len(server.requests) == 3
    assert all(request.path == JOB_PATH and request.header("Authorization") for request in server.requests)
    assert [event.payload for event in events] == [
        {
            "status": "success",
            "job_id": JOB_ID,
            "state": "AUTO_VERIFY_FAILED",
            "review_failure": {
                "log_type": "SYSTEM_VERIFY_FAILED",
                "reason": "resolution 1280x720 not accepted",
                "error_code": "44005901",
                "operate_time": "2026-11-02T00:00:00Z",
                "operate_user": "SYSTEM",
            },
            "message": f"job {JOB_ID} left review in state AUTO_VERIFY_FAILED",
            "error": None,
        }
    ]
    assert json.loads(json.dumps(events[0].payload)) == events[0].payload


def test_a_passed_review_is_a_success_without_review_failure(metastudio_conn) -> None:
    with LocalServer(Script(Reply(200, job("MANUAL_VERIFYING")), Reply(200, job("JOB_SUCCESS")))) as server:
        (event,) = run_trigger(make_trigger(metastudio_conn(server.base_url)))
    assert event.payload["status"] == "success"
    assert event.payload["state"] == "JOB_SUCCESS"
    assert event.payload["review_failure"] is None


def test_times_out_when_the_job_stays_in_review(metastudio_conn) -> None:
    with LocalServer(Script(Reply(200, job("MANUAL_VERIFYING")))) as server:
        (event,) = run_trigger(make_trigger(metastudio_conn(server.base_url), within=0.3, poll_interval=0.1))
    assert event.payload["status"] == "timeout"
    assert event.payload["state"] == "MANUAL_VERIFYING"
    assert event.payload["error"] is None
    assert "still MANUAL_VERIFYING" in event.payload["message"]
    # At least one poll; and the trigger sleeps poll_interval between polls, so at most
    # within / poll_interval + 1 = 4 of them (5 for float rounding). How many fit depends on the
    # machine's speed, so the lower bound is 1, not 3.
    assert 1 <= len(server.requests) <= 5


def test_unknown_job_ends_with_an_error_event(metastudio_conn) -> None:
    not_found = Reply(404, {"error_code": "MSS.00000004", "error_msg": "Job not found"})
    with LocalServer(Script(not_found)) as server:
        (event,) = run_trigger(make_trigger(metastudio_conn(server.base_url)))
    assert len(server.requests) == 1  # not retried, not polled again
    assert event.payload["status"] == "error"
    assert event.payload["state"] is None
    assert event.payload["error"] == {
        "error_type": "MetaStudioNotFoundError",
        "operation": "get_training_job",
        "status": 404,
        "error_code": "MSS.00000004",
        "error_msg": "Job not found",
        "request_id": "req-1",
    }
    assert "MSS.00000004" in event.payload["message"]


def test_transient_errors_keep_polling(metastudio_conn) -> None:
    script = Script(
        Reply(200, job("AUTO_VERIFYING")),
        Reply(503, {"error_code": "APIGW.0202", "error_msg": "busy"}),
        Reply(drop=True),
        Reply(200, job("AUTO_VERIFY_FAILED")),
    )
    with LocalServer(script) as server:
        (event,) = run_trigger(make_trigger(metastudio_conn(server.base_url, **FAST_EXTRAS)))
    assert len(server.requests) == 4
    assert event.payload["status"] == "success"
    assert event.payload["state"] == "AUTO_VERIFY_FAILED"
    assert event.payload["review_failure"] is None  # no operation log: no reason to report


def test_a_transient_error_at_the_deadline_times_out_and_says_why(metastudio_conn) -> None:
    with LocalServer(Script(Reply(503, {"error_code": "APIGW.0202", "error_msg": "busy"}))) as server:
        (event,) = run_trigger(make_trigger(metastudio_conn(server.base_url, **FAST_EXTRAS), within=0.1))
    assert event.payload["status"] == "timeout"
    assert event.payload["state"] is None
    assert "APIGW.0202" in event.payload["message"]


def test_a_broken_connection_ends_with_an_error_event(metastudio_conn) -> None:
    (event,) = run_trigger(make_trigger(metastudio_conn("http://127.0.0.1:9", projectid="typo")))
    assert event.payload["status"] == "error"
    assert event.payload["error"]["error_type"] == "MetaStudioConfigError"
    assert "projectid" in event.payload["error"]["error_msg"]


def test_trigger_and_notifier_are_registered_with_the_providers_manager() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    manager.initialize_providers_list()
    assert "metastudio_provider.triggers.training_job" in {info.trigger_class_name for info in manager.trigger}
    assert "metastudio_provider.notifications.webhook.MetaStudioAlertNotifier" in manager.notification
