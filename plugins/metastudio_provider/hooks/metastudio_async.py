"""``MetaStudioAsyncHook``: the asyncio client that the deferrable sensor's trigger polls with.

Same connection, signing, token auth, retry rules, limits and typed errors as
:class:`MetaStudioHook` (both send through the transport core, ``hooks/transport.py``), on
aiohttp, with the connection read without blocking the triggerer's event loop. It only covers
what runs in the triggerer (reading a job); everything else stays on the sync hook.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import aiohttp
from airflow.providers.common.compat.connection import get_async_connection
from airflow.sdk import BaseHook
from airflow.sdk.log import amask_secret

from metastudio_provider.auth import (
    HEADER_AUTH_TOKEN,
    HEADER_PROJECT_ID,
    SdkHmacSha256Signer,
    TokenCache,
    token_from_reply,
)
from metastudio_provider.hooks import send_async
from metastudio_provider.hooks.connection_config import MetaStudioConnectionConfig, config_from_connection
from metastudio_provider.hooks.metastudio import checked_job_id, job_from_api, job_path
from metastudio_provider.hooks.retry import RetryPolicy, call_with_retries
from metastudio_provider.hooks.transport import (
    IAM_HEADERS,
    Deadline,
    Reply,
    TransportPolicy,
    api_headers,
    check_reply,
    iam_credentials,
    json_object,
)
from metastudio_provider.models import TrainingJob
from metastudio_provider.redaction import redact_url


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
        self._policy: TransportPolicy | None = None
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

    def policy(self, config: MetaStudioConnectionConfig) -> TransportPolicy:
        """Timeouts, limits, TLS, retries and redaction of this connection (see ``hooks/transport.py``)."""
        if self._policy is None:
            self._policy = TransportPolicy.from_config(config, retry=self._retry_policy_override)
        return self._policy

    def retry_policy(self, config: MetaStudioConnectionConfig) -> RetryPolicy:
        return self.policy(config).retry

    async def get_training_job(self, job_id: str) -> TrainingJob:
        """Show one job, including its ``operation_logs``."""
        operation = "get_training_job"
        checked_job_id(job_id, operation)  # before the connection is read
        config = await self.get_config()
        path = job_path(config.project_id, job_id, operation)
        reply = await self._call(config, operation, "GET", config.base_url + path)
        data = json_object(reply, operation=operation, redactor=self.policy(config).redactor)
        return job_from_api(data, operation, reply.request_id)

    # ------------------------------------------------------------------------------------------
    # Plumbing
    # ------------------------------------------------------------------------------------------

    async def _call(
        self, config: MetaStudioConnectionConfig, operation: str, method: str, url: str, *, body: bytes | None = None
    ) -> Reply:
        """Send with retries; refresh the IAM token once on a 401; raise typed errors.

        Each request is limited to ``request_timeout`` and the whole call to ``retry_deadline``.
        """
        policy = self.policy(config)
        deadline = Deadline(policy.retry.deadline)
        async with send_async.new_session(policy) as session:

            async def exchange() -> Reply:
                sent_url, headers = await self._authenticate(config, session, method, url, body)
                seconds = deadline.request_limit(policy, operation, url)
                return await send_async.send(
                    session,
                    method,
                    sent_url,
                    operation=operation,
                    policy=policy,
                    seconds=seconds,
                    headers=headers,
                    body=body,
                )

            async def attempt() -> Reply:
                reply = await exchange()
                if reply.status == 401 and config.auth_method == "token":
                    self.log.info("%s got 401; refreshing the IAM token once", operation)
                    self._tokens.invalidate()
                    reply = await exchange()
                return check_reply(reply, operation=operation, redactor=policy.redactor)

            return await call_with_retries(
                attempt,
                policy=policy.retry,
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
        headers = api_headers(config)
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
        policy = self.policy(config)
        credentials = iam_credentials(config)
        url = credentials.token_url
        body = json.dumps(credentials.token_request_body()).encode()
        reply = await send_async.post_checked(
            session,
            url,
            operation=operation,
            policy=policy,
            headers=IAM_HEADERS,
            body=body,
            description="IAM token request",
            logger=self.log,
        )
        token, expires_at = token_from_reply(reply, datetime.now(timezone.utc))
        await amask_secret(token)
        policy.redactor.add(token)
        return token, expires_at
