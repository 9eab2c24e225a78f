"""``MetaStudioAsyncHook``: the asyncio client that the deferrable sensor's trigger polls with.

Same connection, signing, token auth, retry rules and typed errors as :class:`MetaStudioHook`, on
aiohttp, with the connection read without blocking the triggerer's event loop. It only covers what
runs in the triggerer (reading a job); everything else stays on the sync hook.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeVar
from urllib.parse import quote

import aiohttp
import tenacity
import yarl
from airflow.providers.common.compat.connection import get_async_connection
from airflow.sdk import BaseHook
from airflow.sdk.log import amask_secret

from metastudio_provider.auth import (
    HEADER_AUTH_TOKEN,
    HEADER_PROJECT_ID,
    IamPasswordCredentials,
    SdkHmacSha256Signer,
    TokenCache,
    token_expiry,
)
from metastudio_provider.exceptions import (
    MetaStudioApiError,
    MetaStudioInvalidResponseError,
    MetaStudioTransportError,
    api_error_from_reply,
)
from metastudio_provider.hooks.connection_config import MetaStudioConnectionConfig, config_from_connection
from metastudio_provider.hooks.metastudio import (
    JOBS_PATH,
    USER_AGENT,
    checked_job_id,
    job_from_api,
)
from metastudio_provider.hooks.retry import RetryPolicy, is_retryable
from metastudio_provider.models import TrainingJob
from metastudio_provider.redaction import redact_url, scrub_text

T = TypeVar("T")


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    description: str,
    logger: logging.Logger,
    retryable: Callable[[BaseException], bool] = is_retryable,
) -> T:
    """The async twin of :meth:`RetryPolicy.call`: same predicate, backoff, ``Retry-After`` and bounds."""
    options = policy.tenacity_options(description=description, logger=logger, retryable=retryable)
    retrying = tenacity.AsyncRetrying(**options)
    return await retrying(fn)


@dataclass(frozen=True)
class HttpReply:
    """A fully read response (aiohttp responses cannot outlive their ``async with``)."""

    status: int
    reason: str | None
    headers: Mapping[str, str]
    body: bytes

    @property
    def request_id(self) -> str | None:
        return self.headers.get("X-Request-Id")


async def send_request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    operation: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> HttpReply:
    """One HTTP exchange; transport failures become :class:`MetaStudioTransportError`, scrubbed.

    ``url`` is sent exactly as given (``encoded=True``), so a signed canonical query is not re-encoded.
    """
    try:
        async with session.request(
            method, yarl.URL(url, encoded=True), headers=dict(headers or {}), data=body, allow_redirects=False
        ) as response:
            return HttpReply(response.status, response.reason, response.headers, await response.read())
    except asyncio.TimeoutError as exc:  # aiohttp's timeouts derive from it (TimeoutError from Python 3.11 on)
        raise MetaStudioTransportError(
            f"timed out calling {redact_url(url)} ({type(exc).__name__})",
            operation=operation,
            timeout=True,
            connect_failed=isinstance(exc, aiohttp.ConnectionTimeoutError),
        ) from None
    except aiohttp.ClientError as exc:
        raise MetaStudioTransportError(
            f"{type(exc).__name__} calling {redact_url(url)}: {scrub_text(str(exc))}",
            operation=operation,
            connect_failed=isinstance(exc, aiohttp.ClientConnectorError),
        ) from None


def api_error(reply: HttpReply, *, operation: str) -> MetaStudioApiError:
    """The typed error for an HTTP error reply (the body is parsed, never logged)."""
    return api_error_from_reply(reply.status, reply.reason, reply.headers, reply.body, operation=operation)


class MetaStudioAsyncHook(BaseHook):
    """Read MetaStudio training jobs from asyncio code (triggers), with the sync hook's guarantees.

    :param metastudio_conn_id: a ``metastudio`` connection (see ``docs/configuration.md``).
    :param retry_policy: overrides the retry settings taken from the connection.
    """

    conn_name_attr = "metastudio_conn_id"
    default_conn_name = "metastudio_default"
    conn_type = "metastudio"
    hook_name = "Huawei Cloud MetaStudio (async)"

    def __init__(self, metastudio_conn_id: str = default_conn_name, *, retry_policy: RetryPolicy | None = None) -> None:
        super().__init__()
        self.metastudio_conn_id = metastudio_conn_id
        self._retry_policy_override = retry_policy
        self._config: MetaStudioConnectionConfig | None = None
        self._tokens = TokenCache()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(metastudio_conn_id={self.metastudio_conn_id!r})"

    async def get_config(self) -> MetaStudioConnectionConfig:
        """The validated connection, read once; secrets are registered with the masker first."""
        if self._config is None:
            conn = await get_async_connection(self.metastudio_conn_id, hook=self)
            config = config_from_connection(conn)
            for secret in (config.access_key, config.secret_key, config.iam_password):
                if secret:
                    await amask_secret(secret)
            self._config = config
        return self._config

    def retry_policy(self, config: MetaStudioConnectionConfig) -> RetryPolicy:
        return self._retry_policy_override or RetryPolicy(
            retry_limit=config.retry_limit,
            base_delay=config.retry_delay,
            max_delay=config.retry_max_delay,
            deadline=config.retry_deadline,
        )

    async def get_training_job(self, job_id: str) -> TrainingJob:
        """Show one job, including its ``operation_logs``."""
        operation = "get_training_job"
        checked = quote(checked_job_id(job_id, operation), safe="")
        config = await self.get_config()
        path = JOBS_PATH.format(project_id=quote(config.project_id, safe="")) + f"/{checked}"
        reply = await self._call(config, operation, "GET", config.base_url + path)
        try:
            data = json.loads(reply.body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise MetaStudioInvalidResponseError(
                f"HTTP {reply.status} response is not a JSON object", operation=operation, request_id=reply.request_id
            )
        return job_from_api(data, operation, reply.request_id)

    # ------------------------------------------------------------------------------------------
    # Plumbing
    # ------------------------------------------------------------------------------------------

    def _session(self, config: MetaStudioConnectionConfig) -> aiohttp.ClientSession:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=config.connect_timeout, sock_read=config.read_timeout)
        verify = config.verify
        tls: bool | ssl.SSLContext = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        return aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(ssl=tls))

    async def _call(
        self, config: MetaStudioConnectionConfig, operation: str, method: str, url: str, *, body: bytes | None = None
    ) -> HttpReply:
        """Send with retries; refresh the IAM token once on a 401; raise typed errors."""
        async with self._session(config) as session:

            async def exchange() -> HttpReply:
                sent_url, headers = await self._authenticate(config, session, method, url, body)
                return await send_request(session, method, sent_url, operation=operation, headers=headers, body=body)

            async def attempt() -> HttpReply:
                reply = await exchange()
                if reply.status == 401 and config.auth_method == "token":
                    self.log.info("%s got 401; refreshing the IAM token once", operation)
                    self._tokens.invalidate()
                    reply = await exchange()
                if reply.status >= 400:
                    raise api_error(reply, operation=operation)
                return reply

            return await call_with_retries(
                attempt,
                policy=self.retry_policy(config),
                description=f"{operation} ({method} {redact_url(url)})",
                logger=self.log,
            )

    async def _authenticate(
        self,
        config: MetaStudioConnectionConfig,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        body: bytes | None,
    ) -> tuple[str, dict[str, str]]:
        """The URL to send and every header, signed (AK/SK, fresh per attempt) or with the IAM token."""
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
        if config.app_user_id:
            headers["X-App-UserId"] = config.app_user_id
        if config.auth_method == "token":
            headers[HEADER_AUTH_TOKEN] = await self._get_token(config, session)
            return url, headers
        headers[HEADER_PROJECT_ID] = config.project_id
        signed = SdkHmacSha256Signer(str(config.access_key), str(config.secret_key)).sign(method, url, headers, body)
        return signed.url, signed.headers

    async def _get_token(self, config: MetaStudioConnectionConfig, session: aiohttp.ClientSession) -> str:
        """The cached project-scoped IAM token, fetched again shortly before it expires."""
        token = self._tokens.current()
        if token is None:
            token, expires_at = await self._fetch_token(config, session)
            self._tokens.store(token, expires_at)
        return token

    async def _fetch_token(
        self, config: MetaStudioConnectionConfig, session: aiohttp.ClientSession
    ) -> tuple[str, datetime]:
        operation = "iam_token"
        credentials = IamPasswordCredentials(
            iam_endpoint=str(config.iam_endpoint),
            domain_name=str(config.domain_name),
            user_name=str(config.user_name),
            password=str(config.iam_password),
            project_id=config.project_id,
        )
        url = credentials.token_url
        body = json.dumps(credentials.token_request_body()).encode()
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json;charset=utf8"}

        async def attempt() -> HttpReply:
            reply = await send_request(session, "POST", url, operation=operation, headers=headers, body=body)
            if reply.status >= 400:
                raise api_error(reply, operation=operation)
            return reply

        reply = await call_with_retries(
            attempt, policy=self.retry_policy(config), description="IAM token request", logger=self.log
        )
        token = reply.headers.get("X-Subject-Token")
        if not token:
            raise MetaStudioInvalidResponseError(
                "IAM answered without an X-Subject-Token header", operation=operation, request_id=reply.request_id
            )
        await amask_secret(token)
        try:
            document = json.loads(reply.body)
        except ValueError:
            document = None
        return token, token_expiry(document, datetime.now(timezone.utc))
