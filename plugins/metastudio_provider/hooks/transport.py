"""The transport core: every rule about talking to a network that may be hostile, written once.

The sync hook, the async hook, uploads and the alert notifier all send through the thin
senders in ``send_sync`` (requests) and ``send_async`` (aiohttp), which apply what is defined
here:

- :class:`TransportPolicy`: timeouts, the wall-clock limit of one request, the answer size cap,
  TLS verification, retries and the connection's :class:`~metastudio_provider.redaction.Redactor`;
- :func:`environment_proxy`: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` are honoured, nothing
  else from the environment (no ``~/.netrc`` credentials, no ambient auth);
- :func:`check_reply`: success is a 2xx; a 3xx is never followed and is a typed error naming
  the redirect target's host; an error status is a typed error with code, message and request id;
- :func:`json_object`: a 2xx JSON answer with a non-empty ``error_code`` is an error too;
- :func:`require_upload_url`: an upload URL weaker than the API endpoint is refused before a byte
  is sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies

from metastudio_provider.auth import IamPasswordCredentials
from metastudio_provider.exceptions import (
    MetaStudioErrorAnswerError,
    MetaStudioInsecureUrlError,
    MetaStudioInvalidResponseError,
    MetaStudioRedirectError,
    MetaStudioResponseTooLargeError,
    MetaStudioTransportError,
    MetaStudioValidationError,
    api_error_from_reply,
    error_code_of,
)
from metastudio_provider.hooks.connection_config import MetaStudioConnectionConfig
from metastudio_provider.hooks.retry import RetryPolicy
from metastudio_provider.redaction import Redactor, redact_url, url_host

USER_AGENT = "metastudio-airflow-provider/0.1"
READ_CHUNK = 64 * 1024  # answers are read in pieces of this size, counted against the size cap
IAM_HEADERS = {"User-Agent": USER_AGENT, "Content-Type": "application/json;charset=utf8"}


def api_headers(config: MetaStudioConnectionConfig) -> dict[str, str]:
    """The headers of every MetaStudio API call, before auth (sync and async alike)."""
    headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
    if config.app_user_id:
        headers["X-App-UserId"] = config.app_user_id
    return headers


def iam_credentials(config: MetaStudioConnectionConfig) -> IamPasswordCredentials:
    """What IAM needs for this (``auth_method: token``) connection's project-scoped token."""
    return IamPasswordCredentials(
        iam_endpoint=str(config.iam_endpoint),
        domain_name=str(config.domain_name),
        user_name=str(config.user_name),
        password=str(config.iam_password),
        project_id=config.project_id,
    )


@dataclass(frozen=True)
class TransportPolicy:
    """How one connection talks to the network.

    :param connect_timeout: seconds to establish a connection
    :param read_timeout: longest silence while waiting for or reading an answer
    :param request_timeout: wall-clock limit of one request (slow headers and endless bodies
        included); the retry deadline still bounds the whole call
    :param max_response_bytes: answers larger than this are refused while streaming
    :param verify: ``True``, ``False`` or a CA bundle path, for every request
    :param retry: attempts, backoff and the whole-call deadline
    :param redactor: removes this connection's secrets from every error text
    """

    connect_timeout: float
    read_timeout: float
    request_timeout: float
    max_response_bytes: int
    verify: bool | str
    retry: RetryPolicy
    redactor: Redactor = field(default_factory=Redactor, repr=False, compare=False)

    @classmethod
    def from_config(
        cls, config: MetaStudioConnectionConfig, *, retry: RetryPolicy | None = None, redactor: Redactor | None = None
    ) -> TransportPolicy:
        return cls(
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            request_timeout=config.request_timeout,
            max_response_bytes=config.max_response_bytes,
            verify=config.verify,
            retry=retry
            or RetryPolicy(
                retry_limit=config.retry_limit,
                base_delay=config.retry_delay,
                max_delay=config.retry_max_delay,
                deadline=config.retry_deadline,
            ),
            redactor=redactor or Redactor((config.access_key, config.secret_key, config.iam_password)),
        )


class Deadline:
    """A point in (monotonic) time; every request of one call is limited by what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._ends - time.monotonic()

    def request_limit(self, policy: TransportPolicy | None, operation: str, url: str) -> float:
        """Seconds the next request may take: its own limit, cut to what the call has left."""
        left = self.remaining()
        if left <= 0:
            raise MetaStudioTransportError(
                f"gave up calling {redact_url(url)}: the {self.seconds:g} s deadline of this call has passed",
                operation=operation,
                timeout=True,
            )
        return left if policy is None else min(policy.request_timeout, left)


@dataclass(frozen=True)
class Reply:
    """A fully read, size-checked answer; ``headers`` are case-insensitive."""

    status: int
    reason: str | None
    headers: CaseInsensitiveDict[str]
    body: bytes

    @property
    def request_id(self) -> str | None:
        return self.headers.get("X-Request-Id")


def environment_proxy(url: str) -> str | None:
    """The proxy ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` name for ``url``, unless ``NO_PROXY`` excludes it.

    Sessions are created with ``trust_env`` off (so nothing else from the environment is used,
    above all not ``~/.netrc`` credentials); this puts the proxy settings back.
    """
    proxies = get_environ_proxies(url)
    scheme = urlsplit(url).scheme
    return proxies.get(scheme) or proxies.get("all")


def too_large(limit: int, url: str, operation: str, request_id: str | None) -> MetaStudioResponseTooLargeError:
    return MetaStudioResponseTooLargeError(
        f"answer from {redact_url(url)} is larger than the {limit}-byte limit (max_response_bytes); not read",
        operation=operation,
        request_id=request_id,
    )


def timed_out(url: str, seconds: float, operation: str, *, connect_failed: bool = False) -> MetaStudioTransportError:
    return MetaStudioTransportError(
        f"no complete answer from {redact_url(url)} within the {seconds:.3g} s request limit",
        operation=operation,
        timeout=True,
        connect_failed=connect_failed,
    )


def transport_failure(
    exc: BaseException, url: str, operation: str, redactor: Redactor, *, connect_failed: bool = False
) -> MetaStudioTransportError:
    return MetaStudioTransportError(
        f"{type(exc).__name__} calling {redact_url(url)}: {redactor(str(exc))}",
        operation=operation,
        connect_failed=connect_failed,
    )


def check_reply(reply: Reply, *, operation: str, redactor: Redactor) -> Reply:
    """Success is a 2xx: a 3xx is a :class:`MetaStudioRedirectError`, 4xx/5xx the typed API error."""
    if 300 <= reply.status < 400:
        raise MetaStudioRedirectError(
            status=reply.status,
            location_host=url_host(reply.headers.get("Location")),
            request_id=reply.request_id,
            operation=operation,
        )
    if not 200 <= reply.status < 300:
        raise api_error_from_reply(
            reply.status, reply.reason, reply.headers, reply.body, operation=operation, redact=redactor
        )
    return reply


def json_object(reply: Reply, *, operation: str, redactor: Redactor, check_errors: bool = True) -> dict[str, Any]:
    """The JSON object of a 2xx answer; an ``error_code`` in it is a :class:`MetaStudioErrorAnswerError`.

    ``check_errors=False`` lets a caller look at the answer first (a failed command has its own
    error type) and call :func:`check_error_answer` itself.
    """
    try:
        data = json.loads(reply.body)
    except ValueError:
        raise MetaStudioInvalidResponseError(
            f"HTTP {reply.status} response is not JSON", operation=operation, request_id=reply.request_id
        ) from None
    if not isinstance(data, dict):
        raise MetaStudioInvalidResponseError(
            f"HTTP {reply.status} response is not a JSON object", operation=operation, request_id=reply.request_id
        )
    if check_errors:
        check_error_answer(reply, data, operation=operation, redactor=redactor)
    return data


def check_error_answer(reply: Reply, data: Any = None, *, operation: str, redactor: Redactor) -> None:
    """Raise :class:`MetaStudioErrorAnswerError` when a 2xx answer's JSON object carries an ``error_code``.

    ``data`` is the parsed body when the caller has it; otherwise a JSON body is parsed here and
    any other body (empty, text) passes.
    """
    if data is None:
        try:
            data = json.loads(reply.body) if reply.body.strip() else None
        except ValueError:
            return
    if isinstance(data, dict) and error_code_of(data) is not None:
        raise api_error_from_reply(
            reply.status,
            reply.reason,
            reply.headers,
            reply.body,
            operation=operation,
            redact=redactor,
            error_class=MetaStudioErrorAnswerError,
        )


def require_upload_url(url: str, endpoint: str, *, operation: str) -> None:
    """An upload URL must be http(s), and https whenever the API endpoint is https."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MetaStudioValidationError("upload URL must be an http(s) URL", operation=operation, field="url")
    if parts.scheme == "http" and urlsplit(endpoint).scheme == "https":
        raise MetaStudioInsecureUrlError(
            f"refusing to upload over plain http to {redact_url(url)}: the API endpoint uses https, "
            "so the file would travel unencrypted",
            operation=operation,
            field="url",
        )


def reply_headers(headers: Mapping[str, str]) -> CaseInsensitiveDict[str]:
    return CaseInsensitiveDict(headers)
