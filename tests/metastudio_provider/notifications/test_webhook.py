"""MetaStudioAlertNotifier posting to a real local webhook: payload, callback use, retries, no secrets."""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace

import pytest

from metastudio_provider.exceptions import (
    MetaStudioClientError,
    MetaStudioConfigError,
    MetaStudioTransportError,
)
from metastudio_provider.notifications.webhook import MetaStudioAlertNotifier
from tests.support.local_server import LocalServer, Recorded, Reply

WEBHOOK_TOKEN = "whk-Bearer-Token-0123456789"
PRESIGNED = "https://obs.example.com/bucket/video.mp4?AccessKeyId=OBSAK&Expires=1900000000&Signature=PRESIGNEDSIG"

ERRORS = [
    {
        "job_id": "job-1",
        "operation": "update_training_job",
        "error_code": "MSS.00000003",
        "error_msg": "Invalid parameter voice_properties.sex",
        "request_id": "req-a",
        "task_id": "update_job",
        "map_index": 0,
    },
    {
        "job_id": "job-2",
        "operation": "upload",
        "error_code": "OBS.0403",
        "error_msg": f"PUT {PRESIGNED} refused",
        "request_id": "req-b",
        "task_id": "upload_asset",
        "map_index": 7,
    },
]


@pytest.fixture
def webhook_conn(monkeypatch):
    """Register ``metastudio_alerts`` as an http connection to ``url``."""

    def make(url: str, **fields) -> None:
        document = {"conn_type": "http", "host": url, "password": WEBHOOK_TOKEN, **fields}
        monkeypatch.setenv("AIRFLOW_CONN_METASTUDIO_ALERTS", json.dumps(document))

    return make


def task_context(exception: BaseException | None = None) -> dict:
    ti = SimpleNamespace(
        dag_id="metastudio_training_remediation", run_id="manual__1", task_id="update_job", map_index=3
    )
    return {
        "ti": ti,
        "run_id": "manual__1",
        "task": SimpleNamespace(task_id="update_job", job_id="job-9"),
        "exception": exception,
    }


def test_posts_slack_text_and_structured_fields(webhook_conn) -> None:
    with LocalServer(lambda request: Reply(200, body=b"ok")) as server:
        webhook_conn(server.base_url)
        notifier = MetaStudioAlertNotifier(
            title="MetaStudio remediation: 2 job(s) failed",
            errors=ERRORS,
            summary={"remediated": 3, "failed": 2},
            endpoint="/hooks/metastudio",
        )
        notifier.notify(task_context())

    (request,) = server.requests
    assert request.method == "POST" and request.path == "/hooks/metastudio"
    assert request.header("Authorization") == f"Bearer {WEBHOOK_TOKEN}"
    assert request.header("Content-Type") == "application/json"
    body = request.json
    lines = body["text"].split("\n")
    assert lines[0] == "MetaStudio remediation: 2 job(s) failed"
    assert len(lines) == 3
    assert lines[1] == (
        "• job job-1 | update_training_job | MSS.00000003: Invalid parameter voice_properties.sex "
        "(request id req-a, task update_job[0])"
    )
    assert body["title"] == lines[0]
    assert (body["dag_id"], body["run_id"], body["task_id"]) == (
        "metastudio_training_remediation",
        "manual__1",
        "update_job",
    )
    assert body["summary"] == {"remediated": 3, "failed": 2}
    assert body["errors"][0] == ERRORS[0]
    assert [error["job_id"] for error in body["errors"]] == ["job-1", "job-2"]


def test_as_failure_callback_reports_the_task_and_its_metastudio_error(webhook_conn) -> None:
    exc = MetaStudioClientError(
        status=400,
        error_code="MSS.00000011",
        error_msg="job state does not allow update",
        request_id="req-42",
        operation="update_training_job",
    )
    with LocalServer(lambda request: Reply(204)) as server:
        webhook_conn(server.base_url.removeprefix("http://"), schema="http")  # host + schema, as for HttpHook
        MetaStudioAlertNotifier()(task_context(exc))  # how Airflow calls on_failure_callback

    body = server.requests[0].json
    assert body["errors"] == [
        {
            "job_id": "job-9",
            "error_type": "MetaStudioClientError",
            "operation": "update_training_job",
            "status": 400,
            "error_code": "MSS.00000011",
            "error_msg": "job state does not allow update",
            "request_id": "req-42",
            "task_id": "update_job",
            "map_index": 3,
        }
    ]
    assert body["title"] == "MetaStudio alert: 1 error(s) in metastudio_training_remediation run manual__1"
    assert "MSS.00000011: job state does not allow update (request id req-42, task update_job[3])" in body["text"]


def test_callback_for_a_non_metastudio_failure(webhook_conn) -> None:
    with LocalServer(lambda request: Reply(200)) as server:
        webhook_conn(server.base_url)
        MetaStudioAlertNotifier(title="{{ ti.task_id }} failed")(task_context(KeyError("corrections.yaml: job-3")))
    body = server.requests[0].json
    assert body["title"] == "update_job failed"  # templated
    (error,) = body["errors"]
    assert error["error_type"] == "KeyError"
    assert error["error_code"] is None
    assert "job-3" in error["error_msg"]


def test_errors_rendered_to_text_by_jinja_are_parsed_back(webhook_conn) -> None:
    context = task_context() | {"failures": ERRORS[:1]}
    with LocalServer(lambda request: Reply(200)) as server:
        webhook_conn(server.base_url)
        MetaStudioAlertNotifier(errors="{{ failures }}", summary='{{ {"failed": 1} }}')(context)
    body = server.requests[0].json
    assert body["errors"] == ERRORS[:1]
    assert body["summary"] == {"failed": 1}


def test_no_secret_reaches_the_alert_or_the_logs(webhook_conn, caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    exc = MetaStudioTransportError(f"ConnectionError calling {PRESIGNED}", operation="upload")
    with LocalServer(lambda request: Reply(200)) as server:
        webhook_conn(f"{server.base_url}/hook?token=WEBHOOKQUERYSECRET")
        MetaStudioAlertNotifier(errors=ERRORS, summary={"note": f"see {PRESIGNED}"}).notify(task_context())
        MetaStudioAlertNotifier()(task_context(exc))

    posted = " ".join(request.body.decode() for request in server.requests)
    assert "PRESIGNEDSIG" not in posted and "OBSAK" not in posted
    assert "https://obs.example.com/bucket/video.mp4?<redacted>" in posted
    assert all(request.query == "token=WEBHOOKQUERYSECRET" for request in server.requests)
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    for secret in ("WEBHOOKQUERYSECRET", WEBHOOK_TOKEN, "PRESIGNEDSIG"):
        assert secret not in logged
    assert "Sent MetaStudio alert" in logged


def test_server_errors_are_retried_client_errors_are_not(webhook_conn) -> None:
    replies = iter([Reply(503), Reply(drop=True), Reply(200)])
    with LocalServer(lambda request: next(replies)) as server:
        webhook_conn(server.base_url)
        MetaStudioAlertNotifier(errors=ERRORS, retries=2, retry_delay=0.01).notify(task_context())
    assert len(server.requests) == 3

    with LocalServer(lambda request: Reply(400, {"code": "invalid_payload", "message": "bad"})) as server:
        webhook_conn(server.base_url)
        with pytest.raises(MetaStudioClientError, match="invalid_payload"):
            MetaStudioAlertNotifier(errors=ERRORS, retry_delay=0.01).notify(task_context())
    assert len(server.requests) == 1


def test_connection_failures_are_reported_without_the_url_query(webhook_conn) -> None:
    webhook_conn("http://127.0.0.1:9/hook?token=WEBHOOKQUERYSECRET")
    with pytest.raises(MetaStudioTransportError) as excinfo:
        MetaStudioAlertNotifier(retries=0, timeout=2).notify(task_context())
    assert "WEBHOOKQUERYSECRET" not in str(excinfo.value)


def test_a_connection_without_a_url_is_refused(webhook_conn) -> None:
    webhook_conn("")
    with pytest.raises(MetaStudioConfigError, match="webhook URL"):
        MetaStudioAlertNotifier().notify(task_context())


def test_async_notify_posts_the_same_payload(webhook_conn) -> None:
    replies = iter([Reply(502), Reply(200)])

    def respond(request: Recorded) -> Reply:
        return next(replies)

    notifier = MetaStudioAlertNotifier(errors=ERRORS, summary={"failed": 2}, endpoint="alerts", retry_delay=0.01)
    with LocalServer(respond) as server:
        webhook_conn(server.base_url + "/")
        asyncio.run(notifier.async_notify(task_context()))
    assert [request.path for request in server.requests] == ["/alerts", "/alerts"]
    assert server.requests[1].json == notifier.build_payload(task_context())
    assert server.requests[1].header("Authorization") == f"Bearer {WEBHOOK_TOKEN}"
