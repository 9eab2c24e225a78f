"""Keep credentials out of log lines, exception text, reports and alerts.

Presigned upload URLs are bearer credentials: whoever holds the query string can write the
object. We therefore log URLs as scheme, host and path only, and scrub every form a credential
takes in third-party text: URL query strings, ``Signature=`` and ``Access=`` values of a signed
``Authorization`` header (a gateway may echo it), whole ``Authorization`` header values, token
headers, ``"password"`` fields and the credential elements of OBS/S3-style XML error bodies.
A :class:`Redactor` additionally removes the literal secrets of one connection (SK, IAM password,
current token), whatever the text around them looks like.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

REDACTED = "<redacted>"

# "...://host/path?query" or "/path?query" as it appears in requests/urllib3 messages.
_QUERY_AFTER_PATH = re.compile(r"((?:[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#\"'<>]+)?/[^\s?#\"'<>]*)\?[^\s\"'<>)]+")
# Signed-header parts: "Access=AK, SignedHeaders=..., Signature=..." (also URL-encoded "Access%3D").
_SIGNED_HEADER_PART = re.compile(r"((?:Access|Signature|Credential)(?:=|%3D))[^\s,;&\"'<>]+", re.IGNORECASE)
# An echoed "Authorization: <anything>" header, in HTTP, JSON or Python-repr form.
_AUTHORIZATION = re.compile(r"(Authorization['\"]?\s*[:=]\s*['\"]?)[^\r\n'\"}]+", re.IGNORECASE)
_TOKEN_HEADER = re.compile(r"(X-(?:Auth|Subject|Security)-Token['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+", re.IGNORECASE)
_PASSWORD_FIELD = re.compile(r"(\b(?:password|secret_key|secret)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+", re.IGNORECASE)
# Elements of OBS/S3 error documents that carry signing material or key ids.
_XML_SECRET_ELEMENT = re.compile(
    r"<(StringToSign|StringToSignBytes|SignatureProvided|CanonicalRequest|CanonicalRequestBytes|"
    r"AWSAccessKeyId|AccessKeyId|HostId|Signature)>.*?</\1>",
    re.IGNORECASE | re.DOTALL,
)


def redact_url(url: str) -> str:
    """``https://host:8443/a/b?sig=...`` -> ``https://host:8443/a/b`` (no user info, query or fragment)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if not parts.scheme:
        return parts.path or "/"
    return f"{parts.scheme}://{host}{parts.path}"


def url_host(url: str | None) -> str:
    """The host (and port) of ``url`` alone, for naming a redirect target without its query."""
    if not url:
        return "an unnamed location"
    parts = urlsplit(url)
    if not parts.hostname:
        return "the same host"
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def scrub_text(text: str) -> str:
    """Remove every credential form listed in the module docstring from free text."""
    text = _XML_SECRET_ELEMENT.sub(rf"<\1>{REDACTED}</\1>", text)
    text = _QUERY_AFTER_PATH.sub(rf"\1?{REDACTED}", text)
    text = _AUTHORIZATION.sub(rf"\1{REDACTED}", text)
    text = _SIGNED_HEADER_PART.sub(rf"\1{REDACTED}", text)
    text = _PASSWORD_FIELD.sub(rf"\1{REDACTED}", text)
    return _TOKEN_HEADER.sub(rf"\1{REDACTED}", text)


class Redactor:
    """:func:`scrub_text` plus the literal secrets of one connection (added as they become known)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4:  # shorter values would blank ordinary words
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return scrub_text(text)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secret(s))"


class QueryStringScrubber(logging.Filter):
    """Logging filter that scrubs query strings from records of ``urllib3`` (which logs full URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub_text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


def install_urllib3_scrubber() -> None:
    """Attach :class:`QueryStringScrubber` to urllib3's connection-pool logger, once per process."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(existing, QueryStringScrubber) for existing in logger.filters):
        logger.addFilter(QueryStringScrubber())
