"""Error bodies in every shape Huawei services use, parsed into one typed exception family."""

from __future__ import annotations

import pytest

from metastudio_provider.exceptions import (
    MetaStudioAuthError,
    MetaStudioClientError,
    MetaStudioNotFoundError,
    MetaStudioServerError,
    MetaStudioThrottledError,
    exception_class_for_status,
    parse_error_body,
)
from metastudio_provider.redaction import Redactor, scrub_text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error_code": "MSS.00000003", "error_msg": "Invalid parameter"}',
            ("MSS.00000003", "Invalid parameter", None),
        ),
        (
            b'{"errorCode": "MSS.10000002", "errorMsg": "Request JSON exception"}',
            ("MSS.10000002", "Request JSON exception", None),
        ),
        (b'{"code": "APIGW.0308", "message": "throttled"}', ("APIGW.0308", "throttled", None)),
        (
            b'{"error": {"code": "401", "title": "Unauthorized", "message": "bad password"}}',
            ("401", "bad password", None),
        ),
        (b'{"error_info": {"error_code": "MSS.1", "error_msg": "nested"}}', ("MSS.1", "nested", None)),
        (
            b'{"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication", "request_id": "r-9"}',
            ("APIGW.0301", "Incorrect IAM authentication", "r-9"),
        ),
        (b"<html><body>502 Bad Gateway</body></html>", (None, "<html><body>502 Bad Gateway</body></html>", None)),
        (b"", (None, None, None)),
        (b"[1, 2]", (None, "[1, 2]", None)),
    ],
)
def test_parse_error_body_shapes(body: bytes, expected: tuple) -> None:
    assert parse_error_body(body) == expected


def test_non_json_body_is_cut_and_scrubbed() -> None:
    body = ("upstream failed for https://obs.example/bucket/obj?AccessKeyId=AK&Signature=abc " + "x" * 500).encode()
    _, message, _ = parse_error_body(body)
    assert "Signature=abc" not in message and "AccessKeyId" not in message
    assert len(message) <= 203 and message.endswith("...")


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, MetaStudioClientError, False),
        (401, MetaStudioAuthError, False),
        (403, MetaStudioAuthError, False),
        (404, MetaStudioNotFoundError, False),
        (409, MetaStudioClientError, False),
        (429, MetaStudioThrottledError, True),
        (500, MetaStudioServerError, True),
        (503, MetaStudioServerError, True),
    ],
)
def test_status_decides_class_and_retryability(status: int, cls: type, retryable: bool) -> None:
    error = exception_class_for_status(status)(
        status=status, error_code="MSS.00000003", error_msg="m", request_id="r", operation="op"
    )
    assert isinstance(error, cls) and error.retryable is retryable
    assert str(error) == f"op failed: HTTP {status} MSS.00000003: m (request id r)"
    assert error.is_mss
    assert error.to_dict()["request_id"] == "r"


def test_gateway_codes_are_not_mss() -> None:
    error = MetaStudioThrottledError(status=429, error_code="APIGW.0308", error_msg="", request_id=None, operation="x")
    assert not error.is_mss


def test_every_credential_form_is_redacted() -> None:
    text = (
        "Authorization: SDK-HMAC-SHA256 Access=MYACCESSKEY, SignedHeaders=host, Signature=abc123\n"
        '{"X-Auth-Token": "MIItoken", "password": "hunter2!"} '
        "<StringToSign>PUT\nsecret</StringToSign><AWSAccessKeyId>OBSAK</AWSAccessKeyId> "
        "GET /bucket/obj?AccessKeyId=OBSAK2&Signature=sig2 "
        "Access%3DENCODEDAK"
    )
    scrubbed = scrub_text(text)
    for secret in ("MYACCESSKEY", "abc123", "MIItoken", "hunter2!", "OBSAK", "sig2", "ENCODEDAK", "secret"):
        assert secret not in scrubbed, secret
    assert "Redactor" in repr(Redactor(["LITERALSK-123"])) and "LITERALSK" not in repr(Redactor(["LITERALSK-123"]))
    assert Redactor(["LITERALSK-123"])("oops LITERALSK-123 in a body") == "oops <redacted> in a body"


def test_an_xml_error_body_keeps_only_code_message_and_request_id() -> None:
    body = (
        b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Denied</Message>"
        b"<RequestId>r-9</RequestId><SignatureProvided>SIGVALUE</SignatureProvided></Error>"
    )
    assert parse_error_body(body) == ("AccessDenied", "Denied", "r-9")
