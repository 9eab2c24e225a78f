"""MetaStudioAsyncHook over real HTTP: signatures checked with Huawei's SDK, token auth, retries, errors."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from metastudio_provider.exceptions import (
    MetaStudioClientError,
    MetaStudioConfigError,
    MetaStudioInvalidResponseError,
    MetaStudioTransportError,
    MetaStudioValidationError,
)
from metastudio_provider.hooks.metastudio_async import MetaStudioAsyncHook
from metastudio_provider.hooks.retry import RetryPolicy
from tests.metastudio_provider.hooks.test_token_auth import IAM_PASSWORD, FakeCloud
from tests.support.fixtures import ACCESS_KEY, PROJECT_ID, SECRET_KEY
from tests.support.local_server import LocalServer, Recorded, Reply
from tests.support.sdk_verifier import make_verifier

JOBS = f"/v1/{PROJECT_ID}/digital-human-training-manage/user/jobs"
JOB_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
FAST = RetryPolicy(retry_limit=3, base_delay=0.01, max_delay=0.02, deadline=10)


def job(state: str = "AUTO_VERIFYING", **fields) -> dict:
    return {"job_id": JOB_ID, "name": "avatar", "state": state, **fields}


@pytest.fixture
def async_hook(metastudio_conn):
    def make(host: str, *, retry_policy: RetryPolicy | None = FAST, **conn_kwargs) -> MetaStudioAsyncHook:
        return MetaStudioAsyncHook(metastudio_conn(host, **conn_kwargs), retry_policy=retry_policy)

    return make


def test_get_training_job_is_signed_as_huaweis_sdk_expects(async_hook) -> None:
    detail = job(
        "AUTO_VERIFY_FAILED",
        operation_logs=[{"operate_time": "2026-11-02T00:00:00Z", "log_type": "SYSTEM_VERIFY_FAILED"}],
    )
    with LocalServer(lambda request: Reply(200, detail), verify=make_verifier(ACCESS_KEY, SECRET_KEY, PROJECT_ID)) as s:
        result = asyncio.run(async_hook(s.base_url, app_user_id="ops-bot").get_training_job(JOB_ID))

    assert result.state == "AUTO_VERIFY_FAILED"
    assert result.operation_logs[0].log_type == "SYSTEM_VERIFY_FAILED"
    (request,) = s.requests
    assert request.signature_ok
    assert request.path == f"{JOBS}/{JOB_ID}"
    assert request.header("X-App-UserId") == "ops-bot"
    assert "x-project-id" in request.header("Authorization")


def test_canonical_query_is_sent_exactly_as_signed(async_hook) -> None:
    """aiohttp must not re-encode the query the signer produced (``%2C`` stays ``%2C``)."""
    with LocalServer(lambda request: Reply(200, {}), verify=make_verifier(ACCESS_KEY, SECRET_KEY, PROJECT_ID)) as s:
        hook = async_hook(s.base_url)

        async def call() -> None:
            config = await hook.get_config()
            url = f"{s.base_url}{JOBS}?state=AUTO_VERIFY_FAILED,MANUAL_VERIFY_FAILED&limit=1&name=a b~"
            await hook._call(config, "list_training_jobs", "GET", url)

        asyncio.run(call())
    (request,) = s.requests
    assert request.signature_ok
    assert request.query == "limit=1&name=a%20b~&state=AUTO_VERIFY_FAILED%2CMANUAL_VERIFY_FAILED"


def test_token_auth_fetches_once_and_refreshes_once_on_401(async_hook) -> None:
    cloud = FakeCloud(revoke_first_tokens=1)  # the first token is refused by the API: one refresh

    def respond(request: Recorded) -> Reply:
        reply = cloud(request)
        return Reply(200, job()) if reply.status == 200 and "/user/jobs/" in request.path else reply

    with LocalServer(respond) as s:
        hook = async_hook(
            s.base_url,
            login=None,
            password=IAM_PASSWORD,
            auth_method="token",
            iam_endpoint=s.base_url,
            domain_name="acme",
            user_name="airflow-bot",
        )

        async def twice() -> None:
            await hook.get_training_job(JOB_ID)
            await hook.get_training_job(JOB_ID)

        asyncio.run(twice())

    token_requests = s.requests_to("/v3/auth/tokens")
    assert len(token_requests) == 2
    assert token_requests[0].query == "nocatalog=true"
    assert token_requests[0].json["auth"]["scope"] == {"project": {"id": PROJECT_ID}}
    api = s.requests_to("/user/jobs/")
    assert [r.header("X-Auth-Token") for r in api] == [cloud.issued[0], cloud.issued[1], cloud.issued[1]]
    assert all(r.header("Authorization") is None for r in api)


def test_server_errors_are_retried_then_succeed(async_hook) -> None:
    replies = iter([Reply(503, {"error_code": "APIGW.0202"}, headers={"Retry-After": "0"}), Reply(drop=True)])

    def respond(request: Recorded) -> Reply:
        return next(replies, Reply(200, job("JOB_SUCCESS")))

    with LocalServer(respond, verify=make_verifier(ACCESS_KEY, SECRET_KEY, PROJECT_ID)) as s:
        assert asyncio.run(async_hook(s.base_url).get_training_job(JOB_ID)).state == "JOB_SUCCESS"
    assert len(s.requests) == 3
    assert all(r.signature_ok for r in s.requests)  # each attempt is signed again


def test_client_errors_are_typed_and_not_retried(async_hook) -> None:
    error = {"error_code": "MSS.00000003", "error_msg": "Invalid parameter", "request_id": "body-id"}
    with LocalServer(lambda request: Reply(400, error)) as s, pytest.raises(MetaStudioClientError) as excinfo:
        asyncio.run(async_hook(s.base_url).get_training_job(JOB_ID))
    assert len(s.requests) == 1
    assert excinfo.value.to_dict() == {
        "error_type": "MetaStudioClientError",
        "operation": "get_training_job",
        "status": 400,
        "error_code": "MSS.00000003",
        "error_msg": "Invalid parameter",
        "request_id": "req-1",
    }


def test_transport_errors_are_retried_and_scrubbed(async_hook, capfd) -> None:
    hook = async_hook("http://127.0.0.1:9", retry_policy=RetryPolicy(1, 0.01, 0.01, 10))

    async def call() -> None:
        config = await hook.get_config()
        await hook._call(config, "get_training_job", "GET", "http://127.0.0.1:9/x?Signature=TOPSECRETSIG&a=b")

    with pytest.raises(MetaStudioTransportError) as excinfo:
        asyncio.run(call())
    logged = "".join(capfd.readouterr())
    assert logged.count("retry 1/1") == 1 and "TOPSECRETSIG" not in logged  # one retry (retry_limit 1), then fail
    assert excinfo.value.connect_failed
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__
    assert "TOPSECRETSIG" not in str(excinfo.value)
    assert "http://127.0.0.1:9/x" in str(excinfo.value)


def test_read_timeout_comes_from_the_connection(async_hook) -> None:
    def slow(request: Recorded) -> Reply:
        time.sleep(0.5)
        return Reply(200, job())

    with LocalServer(slow) as s, pytest.raises(MetaStudioTransportError) as excinfo:
        asyncio.run(
            async_hook(s.base_url, read_timeout=0.1, retry_policy=RetryPolicy(0, 0, 0, 10)).get_training_job(JOB_ID)
        )
    assert excinfo.value.timeout


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(200, body=b"<html>"), MetaStudioInvalidResponseError),
        (Reply(200, {"job_id": JOB_ID}), MetaStudioInvalidResponseError),
    ],
)
def test_bad_bodies_are_reported_with_the_request_id(async_hook, reply: Reply, error: type) -> None:
    with LocalServer(lambda request: reply) as s, pytest.raises(error) as excinfo:
        asyncio.run(async_hook(s.base_url).get_training_job(JOB_ID))
    assert "req-1" in str(excinfo.value)


def test_bad_input_and_bad_connections_fail_before_sending(async_hook) -> None:
    with LocalServer(lambda request: Reply(200, job())) as s:
        with pytest.raises(MetaStudioValidationError):
            asyncio.run(async_hook(s.base_url).get_training_job("../etc"))
        with pytest.raises(MetaStudioConfigError, match="projectid"):
            asyncio.run(async_hook(s.base_url, projectid="x").get_training_job(JOB_ID))
    assert s.requests == []


def test_config_is_read_once_per_hook(async_hook, monkeypatch) -> None:
    replies = itertools.repeat(Reply(200, job()))
    with LocalServer(lambda request: next(replies)) as s:
        hook = async_hook(s.base_url)

        async def poll() -> None:
            await hook.get_training_job(JOB_ID)
            monkeypatch.delenv("AIRFLOW_CONN_METASTUDIO_TEST")
            await hook.get_training_job(JOB_ID)

        asyncio.run(poll())
    assert len(s.requests) == 2
