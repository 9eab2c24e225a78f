"""The aiohttp sender of the transport core: the async twin of ``send_sync``, same rules.

Each exchange runs under ``asyncio.wait_for`` (wall-clock: connect, headers and body), the body is
read in pieces up to the size cap, redirects are not followed, the session ignores the
environment (``trust_env`` off: no ``~/.netrc``) and the proxy from ``HTTPS_PROXY``/``NO_PROXY``
is passed per request.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping

import aiohttp
import yarl

from metastudio_provider.hooks.retry import call_with_retries
from metastudio_provider.hooks.transport import (
    READ_CHUNK,
    Deadline,
    Reply,
    TransportPolicy,
    check_reply,
    environment_proxy,
    reply_headers,
    timed_out,
    too_large,
    transport_failure,
)


def tls_setting(verify: bool | str) -> bool | ssl.SSLContext:
    """``verify`` as aiohttp takes it (a CA bundle path becomes a context trusting that bundle)."""
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify


def new_session(policy: TransportPolicy) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=policy.connect_timeout, sock_read=policy.read_timeout)
    return aiohttp.ClientSession(
        timeout=timeout, connector=aiohttp.TCPConnector(ssl=tls_setting(policy.verify)), trust_env=False
    )


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    operation: str,
    policy: TransportPolicy,
    seconds: float,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> Reply:
    """One exchange, bounded to ``seconds`` wall-clock and the policy's answer size.

    ``url`` is sent exactly as given (``encoded=True``), so a signed canonical query is not re-encoded.
    """
    try:
        return await asyncio.wait_for(
            _exchange(session, method, url, operation, policy, headers, body), timeout=seconds
        )
    except asyncio.TimeoutError as exc:  # not the built-in TimeoutError before Python 3.11
        connect_failed = isinstance(exc, aiohttp.ConnectionTimeoutError)
        raise timed_out(url, seconds, operation, connect_failed=connect_failed) from None
    except aiohttp.ClientError as exc:
        raise transport_failure(
            exc, url, operation, policy.redactor, connect_failed=isinstance(exc, aiohttp.ClientConnectorError)
        ) from None


async def post_checked(
    session: aiohttp.ClientSession,
    url: str,
    *,
    operation: str,
    policy: TransportPolicy,
    headers: Mapping[str, str],
    body: bytes,
    description: str,
    logger: logging.Logger,
) -> Reply:
    """POST ``body`` with the policy's retries, all under one deadline; the checked 2xx reply (IAM token, alert)."""
    deadline = Deadline(policy.retry.deadline)

    async def attempt() -> Reply:
        seconds = deadline.request_limit(policy, operation, url)
        reply = await send(
            session, "POST", url, operation=operation, policy=policy, seconds=seconds, headers=headers, body=body
        )
        return check_reply(reply, operation=operation, redactor=policy.redactor)

    return await call_with_retries(attempt, policy=policy.retry, description=description, logger=logger)


async def _exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    operation: str,
    policy: TransportPolicy,
    headers: Mapping[str, str] | None,
    body: bytes | None,
) -> Reply:
    limit = policy.max_response_bytes
    async with session.request(
        method,
        yarl.URL(url, encoded=True),
        headers=dict(headers or {}),
        data=body,
        allow_redirects=False,
        proxy=environment_proxy(url),
    ) as response:
        request_id = response.headers.get("X-Request-Id")
        if response.content_length is not None and response.content_length > limit:
            raise too_large(limit, url, operation, request_id)
        received = bytearray()
        async for chunk in response.content.iter_chunked(READ_CHUNK):
            received += chunk
            if len(received) > limit:
                raise too_large(limit, url, operation, request_id)
        return Reply(response.status, response.reason, reply_headers(response.headers), bytes(received))
