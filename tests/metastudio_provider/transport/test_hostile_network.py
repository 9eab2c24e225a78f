"""Hostile network: every transport rule, over real HTTP, for each way the provider talks to a network.

The clients under test are the sync hook (an API call), the async hook (the triggerer's API
call), an upload (presigned PUT) and the alert webhook (sync and async). Each talks to a small
local server that answers the way a broken proxy, a misconfigured gateway or a hostile host
would: redirects, headers dripped byte by byte, a body that never ends, an oversized answer,
echoed credentials, an error inside a 2xx. Limits are set small so every test takes seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from metastudio_provider.exceptions import (
    MetaStudioApiError,
    MetaStudioConfigError,
    MetaStudioErrorAnswerError,
    MetaStudioInsecureUrlError,
    MetaStudioInvalidResponseError,
    MetaStudioRedirectError,
    MetaStudioResponseTooLargeError,
    MetaStudioTransportError,
)
from metastudio_provider.hooks.metastudio import MetaStudioHook
from metastudio_provider.hooks.metastudio_async import MetaStudioAsyncHook
from metastudio_provider.hooks.retry import RetryPolicy
from metastudio_provider.notifications.webhook import MetaStudioAlertNotifier
from tests.support.fixtures import ACCESS_KEY, PROJECT_ID, SECRET_KEY
from tests.support.local_server import ForwardingProxy, LocalServer, Recorded, Reply, self_signed_certificate

JOB_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
JOBS = f"/v1/{PROJECT_ID}/digital-human-training-manage/user/jobs"
WEBHOOK_TOKEN = "whk-Bearer-Token-0123456789"
UPLOAD_SIGNATURE = "UPLOADSIGNATURESECRET0123"
UPLOAD_QUERY = f"AccessKeyId=OBSAKIDSECRET&Expires=1900000000&Signature={UPLOAD_SIGNATURE}"
REDIRECT_SECRET = "REDIRECTQUERYSECRET"
NO_RETRY = RetryPolicy(retry_limit=0, base_delay=0.01, max_delay=0.01, deadline=30)
# Small limits: each request may take 1 s wall-clock; answers are capped at 64 KiB.
LIMITS = {"request_timeout": 1.0, "read_timeout": 0.8, "connect_timeout": 1.0, "max_response_bytes": 65536}
SECRETS = (SECRET_KEY, ACCESS_KEY, WEBHOOK_TOKEN, UPLOAD_SIGNATURE, "OBSAKIDSECRET", REDIRECT_SECRET)

KINDS = ["sync_hook", "async_hook", "upload", "webhook", "webhook_async"]


class Clients:
    """Runs one call of each kind against a server; the error (if any) propagates."""

    def __init__(self, metastudio_conn: Callable[..., str], monkeypatch: pytest.MonkeyPatch, upload_file: Path) -> None:
        self.metastudio_conn = metastudio_conn
        self.monkeypatch = monkeypatch
        self.upload_file = upload_file

    def hook(self, base_url: str, retry: RetryPolicy = NO_RETRY, **extra: Any) -> MetaStudioHook:
        return MetaStudioHook(self.metastudio_conn(base_url, **{**LIMITS, **extra}), retry_policy=retry)

    def async_hook(self, base_url: str, retry: RetryPolicy = NO_RETRY, **extra: Any) -> MetaStudioAsyncHook:
        return MetaStudioAsyncHook(self.metastudio_conn(base_url, **{**LIMITS, **extra}), retry_policy=retry)

    def notifier(self, base_url: str, *, password: str | None = WEBHOOK_TOKEN, **extra: Any) -> MetaStudioAlertNotifier:
        document = {"conn_type": "http", "host": f"{base_url}/hook", "password": password, "extra": extra}
        self.monkeypatch.setenv("AIRFLOW_CONN_METASTUDIO_ALERTS", json.dumps(document))
        errors = [{"job_id": "job-1", "operation": "update_training_job", "error_code": "MSS.1", "error_msg": "x"}]
        return MetaStudioAlertNotifier(errors=errors, timeout=LIMITS["request_timeout"], retries=0)

    def run(self, kind: str, base_url: str, **extra: Any) -> Any:
        """One call of ``kind`` to ``base_url``; ``extra`` goes into the connection's extras."""
        if kind == "sync_hook":
            return self.hook(base_url, **extra).get_training_job(JOB_ID)
        if kind == "async_hook":
            return asyncio.run(self.async_hook(base_url, **extra).get_training_job(JOB_ID))
        if kind == "upload":
            url = f"{base_url}/upload/bucket/video.mp4?{UPLOAD_QUERY}"
            return self.hook(base_url, **extra).upload_file(url, self.upload_file, asset="video")
        if kind == "webhook":
            return self.notifier(base_url, **extra).notify({"run_id": "manual__1"})
        if kind == "webhook_async":
            return asyncio.run(self.notifier(base_url, **extra).async_notify({"run_id": "manual__1"}))
        raise AssertionError(kind)


@pytest.fixture
def clients(metastudio_conn, monkeypatch, tmp_path) -> Clients:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    upload_file = tmp_path / "video.bin"
    upload_file.write_bytes(bytes(range(256)) * 64)  # 16 KiB of known bytes
    return Clients(metastudio_conn, monkeypatch, upload_file)


def good_answer(request: Recorded) -> Reply:
    if request.path.startswith("/upload"):
        return Reply(200, headers={"ETag": '"etag-1"'})
    if request.path == "/hook":
        return Reply(200, body=b"ok")
    return Reply(200, {"job_id": JOB_ID, "name": "avatar", "state": "AUTO_VERIFYING"})


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {text!r}"


# ---------------------------------------------------------------------------------------------
# 2. Success means 2xx, and nothing is followed
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_an_error_naming_status_and_host_never_followed(clients, kind, status) -> None:
    location = f"https://elsewhere.example:8443/bucket/obj?X-Sig={REDIRECT_SECRET}"
    with LocalServer(lambda request: Reply(status, headers={"Location": location})) as server:
        with pytest.raises(MetaStudioRedirectError) as excinfo:
            clients.run(kind, server.base_url)
    error = excinfo.value
    assert (error.status, error.location_host) == (status, "elsewhere.example:8443")
    assert str(status) in str(error) and "elsewhere.example:8443" in str(error)
    assert_no_secret(str(error), repr(error), json.dumps(error.to_dict()))
    assert len(server.requests) == 1  # asked once, not followed (and a redirect is not retried)


def test_a_redirected_upload_is_not_reported_as_uploaded(clients) -> None:
    """The loss this issue started from: a 307 on the PUT used to count as success."""
    with LocalServer(lambda request: Reply(307, headers={"Location": "http://127.0.0.1:9/elsewhere"})) as server:
        with pytest.raises(MetaStudioRedirectError):
            clients.run("upload", server.base_url)
    assert server.requests[0].body_size == clients.upload_file.stat().st_size  # the bytes went, yet no success


# ---------------------------------------------------------------------------------------------
# 3. No ambient credentials; proxies from the environment still work
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_netrc_in_home_is_never_used(clients, kind, tmp_path, monkeypatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    netrc = home / ".netrc"
    netrc.write_text("default login netrcuser password NETRCSECRET\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NETRC", str(netrc))
    extra = {"password": None} if kind.startswith("webhook") else {}
    with LocalServer(good_answer) as server:
        clients.run(kind, server.base_url, **extra)
    (request,) = server.requests
    authorization = request.header("Authorization") or ""
    assert "Basic" not in authorization and "NETRCSECRET" not in json.dumps(request.headers)


@pytest.mark.parametrize("kind", KINDS)
def test_the_proxy_from_the_environment_is_used_and_no_proxy_is_honoured(clients, kind, monkeypatch) -> None:
    with LocalServer(good_answer) as server, ForwardingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        clients.run(kind, server.base_url)
        assert len(proxy.forwarded) == 1 and proxy.forwarded[0].startswith(server.base_url)
        assert len(server.requests) == 1

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        clients.run(kind, server.base_url)
        assert len(proxy.forwarded) == 1 and len(server.requests) == 2  # straight to the server this time


# ---------------------------------------------------------------------------------------------
# 4. Transport security
# ---------------------------------------------------------------------------------------------


def test_an_http_upload_url_under_an_https_endpoint_is_refused_before_a_byte_is_sent(clients) -> None:
    with LocalServer(good_answer) as storage:
        hook = clients.hook("https://metastudio.example")
        url = f"{storage.base_url}/upload/bucket/id-photo.jpg?{UPLOAD_QUERY}"
        with pytest.raises(MetaStudioInsecureUrlError, match="plain http") as excinfo:
            hook.upload_file(url, clients.upload_file, asset="id_photo")
    assert storage.requests == [] and excinfo.value.field == "url"
    assert_no_secret(str(excinfo.value))


@pytest.mark.parametrize("kind", KINDS)
def test_verify_is_honoured(clients, kind, tmp_path) -> None:
    """A self-signed server is refused by default and accepted with its certificate as the CA bundle."""
    certificate, key = self_signed_certificate(tmp_path)
    with LocalServer(good_answer, tls=(certificate, key)) as server:
        with pytest.raises(MetaStudioTransportError):
            clients.run(kind, server.base_url)
        clients.run(kind, server.base_url, verify=certificate)
        clients.run(kind, server.base_url, verify=False)
    assert len(server.requests) == 2


# ---------------------------------------------------------------------------------------------
# 5. Bounded answers: size cap, wall-clock per request, deadline of the whole call
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_oversized_answer_is_refused_at_the_limit(clients, kind, chunked) -> None:
    big = b'{"job_id": "' + b"x" * (1024 * 1024) + b'"}'
    with LocalServer(lambda request: Reply(200, body=big, chunked=chunked)) as server:
        with pytest.raises(MetaStudioResponseTooLargeError, match="larger than the"):
            clients.run(kind, server.base_url)


@pytest.mark.parametrize("kind", KINDS)
def test_headers_dripped_byte_by_byte_are_cut_at_the_request_limit(clients, kind) -> None:
    # ~150 header bytes at 0.1 s each would take 15 s; every byte arrives well within read_timeout.
    with LocalServer(lambda request: Reply(200, body=b"{}", drip_headers=0.1)) as server:
        started = time.monotonic()
        with pytest.raises(MetaStudioTransportError) as excinfo:
            clients.run(kind, server.base_url)
        elapsed = time.monotonic() - started
    assert excinfo.value.timeout
    assert elapsed < 8  # the 1 s limit plus generous slack, far below the 15 s the server would take


@pytest.mark.parametrize("kind", KINDS)
def test_an_endless_body_is_cut_at_the_request_limit(clients, kind) -> None:
    # 20 KiB/s forever: never silent for read_timeout, and under the 64 KiB cap within the 1 s limit.
    with LocalServer(lambda request: Reply(200, endless_body=True)) as server:
        with pytest.raises(MetaStudioTransportError) as excinfo:
            clients.run(kind, server.base_url)
    assert excinfo.value.timeout


@pytest.mark.parametrize("kind", ["sync_hook", "async_hook"])
def test_the_retry_deadline_bounds_the_whole_call(clients, kind) -> None:
    """Ten retries of a 0.5 s slow answer would take 5.5 s; the 1.5 s call deadline ends it."""
    retry = RetryPolicy(retry_limit=10, base_delay=0.01, max_delay=0.01, deadline=1.5)
    with LocalServer(lambda request: Reply(200, body=b"{}", drip_headers=0.1)) as server:
        started = time.monotonic()
        with pytest.raises(MetaStudioTransportError):
            if kind == "sync_hook":
                clients.hook(server.base_url, retry=retry, request_timeout=0.5).get_training_job(JOB_ID)
            else:
                asyncio.run(
                    clients.async_hook(server.base_url, retry=retry, request_timeout=0.5).get_training_job(JOB_ID)
                )
        elapsed = time.monotonic() - started
    assert 2 <= len(server.requests) <= 5  # retried, but only while the deadline allowed
    assert elapsed < 4.5


# ---------------------------------------------------------------------------------------------
# 6. Errors are errors
# ---------------------------------------------------------------------------------------------

ERROR_IN_200 = {"error_code": "MSS.00000003", "error_msg": "Invalid parameter", "request_id": "body-req-1"}


@pytest.mark.parametrize(
    "operation",
    ["get", "get_async", "list", "create", "update", "command", "delete"],
)
def test_a_2xx_with_an_error_code_is_a_typed_error_for_every_operation(clients, operation) -> None:
    with LocalServer(lambda request: Reply(200, ERROR_IN_200, headers={"X-Request-Id": "hdr-req-1"})) as server:
        hook = clients.hook(server.base_url)
        calls: dict[str, Callable[[], Any]] = {
            "get": lambda: hook.get_training_job(JOB_ID),
            "get_async": lambda: asyncio.run(clients.async_hook(server.base_url).get_training_job(JOB_ID)),
            "list": hook.list_training_jobs,
            "create": lambda: hook.create_training_job({"name": "avatar"}),
            "update": lambda: hook.update_training_job(JOB_ID, {"name": "avatar"}),
            "command": lambda: hook.execute_command(JOB_ID, "SUBMITVERIFYING"),
            "delete": lambda: hook.delete_training_job(JOB_ID),
        }
        with pytest.raises(MetaStudioErrorAnswerError) as excinfo:
            calls[operation]()
    error = excinfo.value
    assert (error.status, error.error_code, error.error_msg, error.request_id) == (
        200,
        "MSS.00000003",
        "Invalid parameter",
        "hdr-req-1",
    )


@pytest.mark.parametrize("answer", [{}, {"commond_result": "SOMETHING_ELSE"}, {"commond_result": None}])
def test_a_command_succeeds_only_when_the_answer_says_so(clients, answer) -> None:
    with LocalServer(lambda request: Reply(200, answer)) as server:
        with pytest.raises(MetaStudioInvalidResponseError, match="EXCUTE_SUCCESS"):
            clients.hook(server.base_url).execute_command(JOB_ID, "SUBMITVERIFYING")


def iam_without_token(request: Recorded) -> Reply:
    if request.path == "/v3/auth/tokens":
        return Reply(201, {"token": {"expires_at": "2099-01-01T00:00:00Z"}})  # no X-Subject-Token header
    return good_answer(request)


@pytest.mark.parametrize("kind", ["sync_hook", "async_hook"])
def test_an_iam_answer_without_a_token_is_a_typed_error(clients, kind) -> None:
    with LocalServer(iam_without_token) as server:
        extra = {
            "login": None,
            "password": "iam-Password-123!",
            "auth_method": "token",
            "iam_endpoint": server.base_url,
            "domain_name": "acme",
            "user_name": "airflow-bot",
        }
        with pytest.raises(MetaStudioInvalidResponseError, match="X-Subject-Token") as excinfo:
            clients.run(kind, server.base_url, **extra)
    assert excinfo.value.operation == "iam_token"
    assert server.requests_to("/digital-human") == []


# ---------------------------------------------------------------------------------------------
# 7. Redaction covers every form
# ---------------------------------------------------------------------------------------------


def echo_everything(request: Recorded) -> Reply:
    """A gateway that puts the request's headers and URL into its error answer."""
    echoed = {"headers": request.headers, "url": f"{request.path}?{request.query}"}
    return Reply(400, {"error_code": "APIGW.0101", "error_msg": f"rejected request {json.dumps(echoed)}"})


def xml_error(request: Recorded) -> Reply:
    """An OBS/S3-style error document carrying the string to sign, the key id and the signature."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code>'
        "<Message>The request signature we calculated does not match</Message>"
        f"<RequestId>obs-req-9</RequestId><AWSAccessKeyId>OBSAKIDSECRET</AWSAccessKeyId>"
        f"<SignatureProvided>{UPLOAD_SIGNATURE}</SignatureProvided>"
        f"<StringToSign>PUT\n\n{SECRET_KEY}\n{request.header('Authorization')}</StringToSign></Error>"
    ).encode()
    return Reply(403, body=body, headers={"Content-Type": "application/xml"})


def echo_in_reason_and_text(request: Recorded) -> Reply:
    text = f"Authorization: {request.header('Authorization')}\nurl: {request.path}?{request.query}"
    return Reply(502, body=text.encode(), headers={"Content-Type": "text/plain"})


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("responder", [echo_everything, xml_error, echo_in_reason_and_text])
def test_echoed_credentials_never_reach_an_error_text_repr_record_or_log(clients, kind, responder, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with LocalServer(responder) as server, pytest.raises(MetaStudioApiError) as excinfo:
        clients.run(kind, server.base_url)
    error = excinfo.value
    assert_no_secret(str(error), repr(error), json.dumps(error.to_dict()), caplog.text)
    if responder is xml_error:
        assert error.error_code == "SignatureDoesNotMatch" and "does not match" in str(error.error_msg)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"login": "AKWITHNEWLINE\n"}, "login field (access key"),
        ({"login": "AK WITH SPACE"}, "login field (access key"),
        ({"password": "sk-with-ümlaut"}, "password field (secret key"),
        ({"password": "sk\x00control"}, "password field (secret key"),
        (
            {"login": None, "password": "pw\n", "auth_method": "token", "domain_name": "acme", "user_name": "bot"},
            "password field (IAM password)",
        ),
        (
            {"login": None, "password": "pw", "auth_method": "token", "domain_name": "acmé", "user_name": "bot"},
            "'domain_name'",
        ),
        (
            {"login": None, "password": "pw", "auth_method": "token", "domain_name": "acme", "user_name": "bot\t"},
            "'user_name'",
        ),
    ],
)
@pytest.mark.parametrize("kind", ["sync_hook", "async_hook"])
def test_bad_credential_characters_are_a_config_error_naming_the_field_not_the_value(
    clients, kind, fields, named
) -> None:
    with LocalServer(good_answer) as server, pytest.raises(MetaStudioConfigError) as excinfo:
        clients.run(kind, server.base_url, **fields)
    message = str(excinfo.value)
    assert named in message
    for value in fields.values():
        if isinstance(value, str) and value not in ("token", "acme", "bot", "pw"):
            assert value not in message and value.strip() not in message
    assert server.requests == []
