"""Keep credentials out of log lines and exception text.

Presigned upload URLs are bearer credentials: whoever holds the query string can write the
object. We therefore log URLs as scheme, host and path only, and scrub query strings from any
third-party text (``requests``/``urllib3`` exception messages and debug logs quote the full URL).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

REDACTED = "<redacted>"

# "...://host/path?query" or "/path?query" as it appears in requests/urllib3 messages.
_QUERY_AFTER_PATH = re.compile(r"((?:[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#\"'<>]+)?/[^\s?#\"'<>]*)\?[^\s\"'<>)]+")
_SIGNATURE_VALUE = re.compile(r"(Signature=)[0-9A-Za-z+/=_-]+")
_TOKEN_HEADER = re.compile(r"(X-(?:Auth|Subject|Security)-Token['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``https://host:8443/a/b?sig=...`` -> ``https://host:8443/a/b`` (no user info, query or fragment)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if not parts.scheme:
        return parts.path or "/"
    return f"{parts.scheme}://{host}{parts.path}"


def scrub_text(text: str) -> str:
    """Remove URL query strings, signatures and token header values from free text."""
    text = _QUERY_AFTER_PATH.sub(rf"\1?{REDACTED}", text)
    text = _SIGNATURE_VALUE.sub(rf"\1{REDACTED}", text)
    return _TOKEN_HEADER.sub(rf"\1{REDACTED}", text)


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
