"""Authentication for MetaStudio: SDK-HMAC-SHA256 request signing (AK/SK) and IAM tokens.

The signer reproduces ``huaweicloudsdkcore.signer.Signer`` step by step (see
``docs/configuration.md`` and the published test vectors in ``tests/``), as a
``requests.auth.AuthBase`` so that every request the hook prepares is signed right before it is
sent, with a fresh ``X-Sdk-Date`` per attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from metastudio_provider.exceptions import MetaStudioInvalidResponseError


class TokenReply(Protocol):
    """What IAM's answer must offer (the transport's ``Reply`` does); auth needs no transport import."""

    headers: Mapping[str, str]
    body: bytes

    @property
    def request_id(self) -> str | None: ...

ALGORITHM = "SDK-HMAC-SHA256"
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_BODY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
HEADER_DATE = "X-Sdk-Date"
HEADER_CONTENT_SHA256 = "X-Sdk-Content-Sha256"
HEADER_PROJECT_ID = "X-Project-Id"
HEADER_AUTH_TOKEN = "X-Auth-Token"  # noqa: S105

# Headers that ``requests``/``urllib3`` add or rewrite on the way out. Huawei's SDK signs the
# headers it set itself before its HTTP library adds these, so we leave them out as well.
UNSIGNED_HEADERS = frozenset(
    {"accept", "accept-encoding", "authorization", "connection", "content-length", "expect", "transfer-encoding"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _encode(value: str) -> str:
    return quote(value, safe="~")


def canonical_query_string(params: Iterable[tuple[str, Any]]) -> str:
    """Canonical query: pairs sorted by key then value, RFC 3986 encoded, booleans lowercase.

    A list value becomes one ``key=value`` pair per element, as in the SDK. This string is
    also what the hook puts on the wire, so the server sees exactly what was signed.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params:
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            text = str(item).lower() if isinstance(item, bool) else str(item)
            pairs.append((key, text))
    pairs.sort()
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in pairs)


def canonical_uri(path: str) -> str:
    """Unquote, re-quote each segment with ``safe='~'`` and end with ``/`` (SDK behaviour)."""
    uri = "/".join(_encode(segment) for segment in unquote(path or "/").split("/"))
    return uri if uri.endswith("/") else uri + "/"


def host_header_value(url: str) -> str:
    """``netloc`` without user info, keeping the port unless it is the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """Lower-cased names of every header to sign: all but transport headers and names with ``_``."""
    return sorted({name.lower() for name in headers if "_" not in name and name.lower() not in UNSIGNED_HEADERS})


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: list[str],
    body: bytes | None,
) -> str:
    lowered = {name.lower(): str(value).strip() for name, value in headers.items()}
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in signed_headers)
    content_sha256 = lowered.get(HEADER_CONTENT_SHA256.lower())
    if not body:
        payload_hash = EMPTY_BODY_SHA256
    elif content_sha256:
        payload_hash = content_sha256
    else:
        payload_hash = hashlib.sha256(body).hexdigest()
    return "\n".join(
        [method.upper(), canonical_uri(path), query, canonical_headers, ";".join(signed_headers), payload_hash]
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    return f"{ALGORITHM}\n{sdk_date}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def signature(secret_key: str, to_sign: str) -> str:
    return hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    """The URL to send (with the canonical query) and the complete header set."""

    url: str
    headers: dict[str, str]


class SdkHmacSha256Signer:
    """Sign requests like ``huaweicloudsdkcore``'s ``Signer`` (SDK-HMAC-SHA256, raw SK as key)."""

    def __init__(self, access_key: str, secret_key: str, clock: Callable[[], datetime] | None = None) -> None:
        if not access_key or not secret_key:
            raise ValueError("AK/SK signing needs both an access key and a secret key")
        self._access_key = access_key
        self._secret_key = secret_key
        self._clock = clock or (lambda: datetime.now(timezone.utc))

    def __repr__(self) -> str:  # never show the keys
        return f"{type(self).__name__}(access_key=<redacted>)"

    def sign(self, method: str, url: str, headers: Mapping[str, str], body: bytes | str | None) -> SignedRequest:
        payload = body.encode("utf-8") if isinstance(body, str) else body
        out = dict(headers)
        content_type = _get_ignore_case(out, "Content-Type")
        if content_type and not content_type.startswith(("application/json", "application/bson")):
            out[HEADER_CONTENT_SHA256] = "UNSIGNED-PAYLOAD"
        sdk_date = _get_ignore_case(out, HEADER_DATE)
        if sdk_date is None:
            sdk_date = self._clock().strftime(SDK_DATE_FORMAT)
            out[HEADER_DATE] = sdk_date
        if _get_ignore_case(out, "Host") is None:
            out["Host"] = host_header_value(url)

        parts = urlsplit(url)
        query = canonical_query_string(parse_qsl(parts.query, keep_blank_values=True))
        names = signed_header_names(out)
        canonical = canonical_request(method, parts.path, query, out, names, payload)
        digest = signature(self._secret_key, string_to_sign(canonical, sdk_date))
        out["Authorization"] = (
            f"{ALGORITHM} Access={self._access_key}, SignedHeaders={';'.join(names)}, Signature={digest}"
        )
        sent_url = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
        return SignedRequest(url=sent_url, headers=out)


class SdkHmacSha256Auth(AuthBase):
    """``requests`` auth that adds ``X-Project-Id`` and signs the prepared request.

    The URL is rewritten to carry the canonical query string, so what is sent is what was signed.
    """

    def __init__(self, signer: SdkHmacSha256Signer, project_id: str | None = None) -> None:
        self._signer = signer
        self._project_id = project_id

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._project_id and HEADER_PROJECT_ID not in request.headers:
            request.headers[HEADER_PROJECT_ID] = self._project_id
        signed = self._signer.sign(request.method or "GET", request.url or "", request.headers, request.body)
        request.url = signed.url
        request.headers.clear()
        request.headers.update(signed.headers)
        return request


def _get_ignore_case(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


# ---------------------------------------------------------------------------------------------
# IAM tokens
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IamPasswordCredentials:
    """What IAM needs for a project-scoped password token."""

    iam_endpoint: str
    domain_name: str
    user_name: str
    password: str
    project_id: str

    def __repr__(self) -> str:
        return (
            f"IamPasswordCredentials(iam_endpoint={self.iam_endpoint!r}, domain_name={self.domain_name!r}, "
            f"user_name={self.user_name!r}, password=<redacted>, project_id={self.project_id!r})"
        )

    @property
    def token_url(self) -> str:
        return self.iam_endpoint.rstrip("/") + "/v3/auth/tokens?nocatalog=true"

    def token_request_body(self) -> dict[str, Any]:
        return {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "domain": {"name": self.domain_name},
                            "name": self.user_name,
                            "password": self.password,
                        }
                    },
                },
                "scope": {"project": {"id": self.project_id}},
            }
        }


IAM_TOKEN_LIFETIME = timedelta(hours=24)
IAM_REFRESH_MARGIN = timedelta(minutes=10)


def token_expiry(document: Any, now: datetime) -> datetime:
    """``token.expires_at`` of IAM's JSON answer; ``now`` + 24 h when it is missing or malformed."""
    try:
        return datetime.fromisoformat(document["token"]["expires_at"].replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return now + IAM_TOKEN_LIFETIME


def token_from_reply(reply: TokenReply, now: datetime) -> tuple[str, datetime]:
    """The ``X-Subject-Token`` of IAM's answer and its expiry; a typed error when there is none."""
    token = reply.headers.get("X-Subject-Token")
    if not token:
        raise MetaStudioInvalidResponseError(
            "IAM answered without an X-Subject-Token header", operation="iam_token", request_id=reply.request_id
        )
    try:
        document = json.loads(reply.body)
    except ValueError:
        document = None
    return token, token_expiry(document, now)


class TokenCache:
    """One IAM token and its expiry; the sync provider and the async hook both keep theirs here.

    :meth:`current` answers None once the token is within ``refresh_margin`` of ``expires_at``,
    so callers fetch a new one before IAM would refuse the old one.
    """

    def __init__(
        self, refresh_margin: timedelta = IAM_REFRESH_MARGIN, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.refresh_margin = refresh_margin
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._token: str | None = None
        self.expires_at: datetime | None = None

    def current(self) -> str | None:
        if self._token is None or self.expires_at is None:
            return None
        return self._token if self.clock() < self.expires_at - self.refresh_margin else None

    def store(self, token: str, expires_at: datetime) -> None:
        self._token, self.expires_at = token, expires_at

    def invalidate(self) -> None:
        self._token, self.expires_at = None, None


# (url, json body) -> checked 2xx reply; the hook supplies it with its retries, limits and error mapping.
TokenTransport = Callable[[str, dict[str, Any]], TokenReply]


class IamTokenProvider:
    """Fetch, cache and refresh a project-scoped IAM token.

    The token is refreshed ``refresh_margin`` before its ``expires_at`` (IAM tokens live 24 h),
    and on demand after a 401 (:meth:`invalidate`). ``on_new_token`` lets the caller register
    each token with Airflow's secret masker before anything could log it.
    """

    def __init__(
        self,
        credentials: IamPasswordCredentials,
        transport: TokenTransport,
        *,
        refresh_margin: timedelta = IAM_REFRESH_MARGIN,
        clock: Callable[[], datetime] | None = None,
        on_new_token: Callable[[str], None] | None = None,
    ) -> None:
        self._credentials = credentials
        self._transport = transport
        self._cache = TokenCache(refresh_margin, clock)
        self._on_new_token = on_new_token
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"IamTokenProvider({self._credentials!r}, expires_at={self._cache.expires_at})"

    def get_token(self) -> str:
        with self._lock:
            token = self._cache.current()
            if token is None:
                token = self._fetch()
            return token

    def invalidate(self) -> None:
        with self._lock:
            self._cache.invalidate()

    def _fetch(self) -> str:
        reply = self._transport(self._credentials.token_url, self._credentials.token_request_body())
        token, expires_at = token_from_reply(reply, self._cache.clock())
        if self._on_new_token:
            self._on_new_token(token)
        self._cache.store(token, expires_at)
        return token


class IamTokenAuth(AuthBase):
    """``requests`` auth that sends the cached IAM token as ``X-Auth-Token``."""

    def __init__(self, provider: IamTokenProvider) -> None:
        self.provider = provider

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[HEADER_AUTH_TOKEN] = self.provider.get_token()
        return request
