"""One exception family for everything the MetaStudio integration can raise.

Every API failure carries what an on-call engineer needs to open a ticket with Huawei: the HTTP
status, MetaStudio's ``error_code`` and ``error_msg``, the ``X-Request-Id`` and the operation that
failed. Messages never contain credentials or presigned URL query strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from airflow.sdk.exceptions import AirflowException

from metastudio_provider.redaction import scrub_text

# Keys under which Huawei services put the error code / message, in order of preference
# (mirrors huaweicloudsdkcore's DefaultExceptionHandler, which accepts all three spellings).
_CODE_MSG_KEYS = (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message"))
_MAX_BODY_EXCERPT = 200


class MetaStudioError(AirflowException):
    """Base class of every error raised by the MetaStudio provider."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record of the failure (for XCom, reports and alerts)."""
        return {
            "error_type": type(self).__name__,
            "operation": getattr(self, "operation", None),
            "status": None,
            "error_code": None,
            "error_msg": scrub_text(str(self)),
            "request_id": getattr(self, "request_id", None),
        }


class MetaStudioConfigError(MetaStudioError, ValueError):
    """The Airflow connection (or another setting) is missing, malformed or has unknown keys."""


class MetaStudioValidationError(MetaStudioError, ValueError):
    """A request body failed validation before anything was sent.

    :param operation: the hook operation whose input was rejected
    :param field: dotted path of the offending field (``voice_properties.sex``), if known
    """

    def __init__(self, message: str, *, operation: str, field: str | None = None) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.field = field


class MetaStudioTransportError(MetaStudioError):
    """No HTTP response: connection refused or dropped, DNS failure, timeout, TLS error."""

    def __init__(self, message: str, *, operation: str, timeout: bool = False, connect_failed: bool = False) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.timeout = timeout
        self.connect_failed = connect_failed


class MetaStudioInvalidResponseError(MetaStudioError):
    """A 2xx response whose body is not what the API documents (not JSON, missing or mistyped fields)."""

    def __init__(self, message: str, *, operation: str, request_id: str | None) -> None:
        super().__init__(f"{operation}: {message} (request id {request_id or 'unknown'})")
        self.operation = operation
        self.request_id = request_id


class MetaStudioApiError(MetaStudioError):
    """MetaStudio (or the API gateway / IAM / the upload endpoint in front of it) answered an error.

    :param status: HTTP status code
    :param error_code: ``MSS.*``, ``APIGW.*`` or another service code, if the body had one
    :param error_msg: the service's message (or an excerpt of a non-JSON body)
    :param request_id: the ``X-Request-Id`` of the failed call, for Huawei support
    :param operation: the hook operation, e.g. ``update_training_job``
    :param retry_after: seconds from a ``Retry-After`` header, if any
    """

    def __init__(
        self,
        *,
        status: int,
        error_code: str | None,
        error_msg: str | None,
        request_id: str | None,
        operation: str,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg
        self.request_id = request_id
        self.operation = operation
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        code = self.error_code or "no error code"
        text = f"{self.operation} failed: HTTP {self.status} {code}"
        if self.error_msg:
            text += f": {self.error_msg}"
        return f"{text} (request id {self.request_id or 'unknown'})"

    @property
    def is_mss(self) -> bool:
        """True when MetaStudio itself rejected the call (an ``MSS.*`` code), the alerting trigger."""
        return bool(self.error_code and self.error_code.startswith("MSS."))

    @property
    def retryable(self) -> bool:
        """Throttling and server-side errors are worth retrying; other 4xx never are."""
        return self.status == 429 or self.status >= 500

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record of the failure (for XCom, alerts and reports)."""
        return {
            "error_type": type(self).__name__,
            "operation": self.operation,
            "status": self.status,
            "error_code": self.error_code,
            "error_msg": self.error_msg,
            "request_id": self.request_id,
        }


class MetaStudioAuthError(MetaStudioApiError):
    """401/403: bad AK/SK, clock skew, expired or refused token, missing permission."""


class MetaStudioNotFoundError(MetaStudioApiError):
    """404: unknown job (or endpoint)."""


class MetaStudioThrottledError(MetaStudioApiError):
    """429 (``APIGW.0308``): the per-tenant rate limit was hit."""


class MetaStudioServerError(MetaStudioApiError):
    """5xx: a server-side failure, usually transient."""


class MetaStudioClientError(MetaStudioApiError):
    """Any other 4xx: the request was refused (wrong state, invalid parameter, ...)."""


class MetaStudioCommandFailedError(MetaStudioApiError):
    """A command answered HTTP 200 but ``commond_result: EXCUTE_FAILED`` (spelling as in the API)."""


def error_record(exc: BaseException) -> dict[str, Any]:
    """``to_dict()`` of a MetaStudio error; the same shape, scrubbed, for any other exception."""
    if isinstance(exc, MetaStudioError):
        return exc.to_dict()
    return {
        "error_type": type(exc).__name__,
        "operation": getattr(exc, "operation", None),
        "status": None,
        "error_code": None,
        "error_msg": scrub_text(str(exc)),
        "request_id": None,
    }


def exception_class_for_status(status: int) -> type[MetaStudioApiError]:
    if status in (401, 403):
        return MetaStudioAuthError
    if status == 404:
        return MetaStudioNotFoundError
    if status == 429:
        return MetaStudioThrottledError
    if status >= 500:
        return MetaStudioServerError
    return MetaStudioClientError


def parse_error_body(body: bytes | str | None) -> tuple[str | None, str | None, str | None]:
    """Return ``(error_code, error_msg, request_id)`` from any error body Huawei services send.

    Accepts ``error_code``/``error_msg``, ``errorCode``/``errorMsg`` and ``code``/``message``, at the top
    level or nested (``{"error": {"code": ..., "message": ...}}``, ``{"error_info": {...}}``). A body
    that is not JSON yields its first characters, scrubbed of URL query strings, as the message.
    """
    if not body:
        return None, None, None
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        document = json.loads(text)
    except ValueError:
        return None, _excerpt(text), None
    if not isinstance(document, Mapping):
        return None, _excerpt(text), None
    code, message = _find_code_and_message(document)
    request_id = document.get("request_id") or document.get("requestId")
    return code, message, str(request_id) if request_id else None


def _find_code_and_message(document: Mapping[str, Any], depth: int = 0) -> tuple[str | None, str | None]:
    for code_key, msg_key in _CODE_MSG_KEYS:
        code, message = document.get(code_key), document.get(msg_key)
        if isinstance(code, (str, int)) and code != "" and not isinstance(code, bool):
            return str(code), _excerpt(str(message)) if message is not None else None
        if code is None and isinstance(message, str) and code_key == "code" and message:
            return None, _excerpt(message)
    if depth < 3:
        for value in document.values():
            if isinstance(value, Mapping):
                code, message = _find_code_and_message(value, depth + 1)
                if code or message:
                    return code, message
    return None, None


def _excerpt(text: str) -> str:
    single_line = re.sub(r"\s+", " ", scrub_text(text)).strip()
    if len(single_line) > _MAX_BODY_EXCERPT:
        return single_line[:_MAX_BODY_EXCERPT] + "..."
    return single_line


def api_error_from_reply(
    status: int, reason: str | None, headers: Mapping[str, str], body: bytes | None, *, operation: str
) -> MetaStudioApiError:
    """The typed error for an HTTP error response, from any client library (the body is parsed, never logged)."""
    code, message, body_request_id = parse_error_body(body)
    return exception_class_for_status(status)(
        status=status,
        error_code=code,
        error_msg=message or reason,
        request_id=headers.get("X-Request-Id") or body_request_id,
        operation=operation,
        retry_after=retry_after_seconds(headers.get("Retry-After")),
    )


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent or malformed."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
