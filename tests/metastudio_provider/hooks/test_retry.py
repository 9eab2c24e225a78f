"""The retry matrix over real HTTP: what is retried, what is not, Retry-After honoured, bounds kept."""

from __future__ import annotations

import itertools

import pytest

from metastudio_provider.exceptions import (
    MetaStudioClientError,
    MetaStudioNotFoundError,
    MetaStudioServerError,
    MetaStudioThrottledError,
    MetaStudioTransportError,
)
from metastudio_provider.hooks.retry import RetryPolicy
from tests.support.local_server import LocalServer, Recorded, Reply

OK = Reply(200, {"count": 0, "jobs": []})


def scripted(*replies: Reply):
    """Answer with ``replies`` in order, then OK forever."""
    queue = itertools.chain(replies, itertools.repeat(OK))
    return lambda request: next(queue)


@pytest.mark.parametrize(
    "failure",
    [
        Reply(500, {"error_code": "MSS.00000001", "error_msg": "internal"}),
        Reply(502, body=b"bad gateway"),
        Reply(503, {"error_code": "APIGW.0202", "error_msg": "unavailable"}),
        Reply(429, {"error_code": "APIGW.0308", "error_msg": "throttled"}),
        Reply(drop=True),
    ],
    ids=["500", "502-non-json", "503", "429", "dropped-connection"],
)
def test_transient_failures_are_retried_until_success(make_hook, sleeps, failure: Reply) -> None:
    with LocalServer(scripted(failure, failure)) as server:
        assert make_hook(server.base_url).list_training_jobs() == []
    assert len(server.requests) == 3
    assert len(sleeps.waits) == 2


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (Reply(400, {"error_code": "MSS.00000003", "error_msg": "Invalid parameter"}), MetaStudioClientError),
        (Reply(404, {"error_code": "MSS.00000404", "error_msg": "no such job"}), MetaStudioNotFoundError),
        (Reply(409, {"error_code": "MSS.00000409", "error_msg": "state"}), MetaStudioClientError),
    ],
)
def test_other_client_errors_are_never_retried(make_hook, sleeps, failure: Reply, error: type) -> None:
    with LocalServer(scripted(failure)) as server, pytest.raises(error) as excinfo:
        make_hook(server.base_url).get_training_job("a" * 32)
    assert len(server.requests) == 1 and sleeps.waits == []
    assert excinfo.value.request_id == "req-1" and excinfo.value.operation == "get_training_job"


def test_retry_after_is_honoured(make_hook, sleeps) -> None:
    throttled = Reply(429, {"error_code": "APIGW.0308", "error_msg": "throttled"}, headers={"Retry-After": "7"})
    with LocalServer(scripted(throttled)) as server:
        make_hook(server.base_url).list_training_jobs()
    assert len(sleeps.waits) == 1 and 7 <= sleeps.waits[0] < 7.2  # not the 0.01 s computed backoff


def test_retry_after_http_date_is_understood(make_hook, sleeps) -> None:
    throttled = Reply(503, {"error_code": "APIGW.0202"}, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    with LocalServer(scripted(throttled)) as server:
        make_hook(server.base_url).list_training_jobs()
    assert sleeps.waits and sleeps.waits[0] < 1  # a date in the past means "now"


def test_real_wait_follows_retry_after(make_hook) -> None:
    """Without an injected sleep: the second request really arrives >= Retry-After seconds later."""
    throttled = Reply(429, {"error_code": "APIGW.0308"}, headers={"Retry-After": "1"})
    times: list[float] = []

    def respond(request: Recorded) -> Reply:
        import time

        times.append(time.monotonic())
        return throttled if len(times) == 1 else OK

    policy = RetryPolicy(retry_limit=2, base_delay=0.01, max_delay=0.05, deadline=10)
    with LocalServer(respond) as server:
        make_hook(server.base_url, retry_policy=policy).list_training_jobs()
    assert times[1] - times[0] >= 1.0


def test_attempts_are_bounded(make_hook, sleeps) -> None:
    always = Reply(503, {"error_code": "APIGW.0202", "error_msg": "down"})
    with LocalServer(lambda request: always) as server, pytest.raises(MetaStudioServerError) as excinfo:
        make_hook(server.base_url).list_training_jobs()
    assert len(server.requests) == 4  # first attempt + retry_limit (3)
    assert excinfo.value.status == 503 and excinfo.value.error_code == "APIGW.0202"


def test_total_time_is_bounded_by_the_deadline(make_hook, sleeps) -> None:
    throttled = Reply(429, {"error_code": "APIGW.0308"}, headers={"Retry-After": "120"})
    policy = RetryPolicy(retry_limit=10, base_delay=0.01, max_delay=1, deadline=60, sleep=sleeps)
    with LocalServer(lambda request: throttled) as server, pytest.raises(MetaStudioThrottledError):
        make_hook(server.base_url, retry_policy=policy).list_training_jobs()
    assert len(server.requests) == 1 and sleeps.waits == []  # waiting 120 s would break the 60 s budget


def test_read_timeout_is_retried_then_reported(make_hook, sleeps) -> None:
    import time

    def slow(request: Recorded) -> Reply:
        time.sleep(0.5)
        return OK

    with LocalServer(slow) as server, pytest.raises(MetaStudioTransportError) as excinfo:
        make_hook(server.base_url, read_timeout=0.1).list_training_jobs()
    assert excinfo.value.timeout and len(server.requests) == 4


def test_connection_refused_is_retried_and_reported_without_the_url_query(make_hook, sleeps) -> None:
    with LocalServer(lambda request: OK) as server:
        base_url = server.base_url
    with pytest.raises(MetaStudioTransportError) as excinfo:
        make_hook(base_url).list_training_jobs()
    assert excinfo.value.connect_failed and len(sleeps.waits) == 3
    assert "limit=" not in str(excinfo.value) and "offset=" not in str(excinfo.value)


def test_create_is_not_retried_when_a_job_may_exist(make_hook, sleeps) -> None:
    with LocalServer(scripted(Reply(500, {"error_code": "MSS.00000001"}))) as server:
        with pytest.raises(MetaStudioServerError):
            make_hook(server.base_url).create_training_job({"name": "x"})
    assert len(server.requests) == 1


def test_create_is_retried_when_throttled(make_hook, sleeps) -> None:
    created = Reply(200, {"job_id": "c" * 32})
    with LocalServer(scripted(Reply(429, {"error_code": "APIGW.0308"}), created)) as server:
        assert make_hook(server.base_url).create_training_job({"name": "x"}).job_id == "c" * 32
    assert len(server.requests) == 2
