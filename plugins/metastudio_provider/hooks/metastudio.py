"""``MetaStudioHook``: the one client every MetaStudio operator, sensor and DAG task uses.

It is an ``HttpHook`` (so ``HttpOperator`` and ``Connection.get_hook()`` work with a
``metastudio`` connection), but it owns the parts plain ``HttpHook`` gets wrong for this API:
connection extras are an allowlist and never become headers; requests are signed with
SDK-HMAC-SHA256 or carry an IAM token; every call has timeouts and bounded retries; errors are
typed; uploads stream from disk and are re-opened at the right offset on each attempt.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk.log import mask_secret

from metastudio_provider.auth import (
    IamPasswordCredentials,
    IamTokenAuth,
    IamTokenProvider,
    SdkHmacSha256Auth,
    SdkHmacSha256Signer,
)
from metastudio_provider.exceptions import (
    MetaStudioApiError,
    MetaStudioCommandFailedError,
    MetaStudioInvalidResponseError,
    MetaStudioTransportError,
    MetaStudioValidationError,
    api_error_from_reply,
)
from metastudio_provider.hooks.connection_config import MetaStudioConnectionConfig, config_from_connection
from metastudio_provider.hooks.retry import RetryPolicy, is_retryable, is_retryable_non_idempotent
from metastudio_provider.hooks.upload import (
    LargeBlockAdapter,
    ProgressReporter,
    SegmentReader,
    Source,
    open_source,
    source_size,
)
from metastudio_provider.models import (
    COMMAND_FAILED,
    OCTET_STREAM,
    CommandResult,
    TrainingJob,
    UploadResult,
    UploadUrls,
)
from metastudio_provider.redaction import install_urllib3_scrubber, redact_url, scrub_text
from metastudio_provider.validation import (
    COMMAND_BODY_SCHEMA,
    CREATE_BODY_SCHEMA,
    UPDATE_BODY_SCHEMA,
    validate_body,
)

USER_AGENT = "metastudio-airflow-provider/0.1"
JOBS_PATH = "/v1/{project_id}/digital-human-training-manage/user/jobs"
PAGE_SIZE = 100
SORT_KEYS = frozenset({"create_time", "update_time", "asset_order"})
SORT_DIRS = frozenset({"asc", "desc"})

_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STATE = re.compile(r"^[A-Z0-9_]{1,64}$")
_TIME_FILTER = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class MetaStudioHook(HttpHook):
    """Interact with the Huawei Cloud MetaStudio training-job API.

    :param metastudio_conn_id: a connection of type ``metastudio``: host = endpoint URL,
        login = AK, password = SK (or the IAM password for token auth), extras listed in
        ``docs/configuration.md``.
    :param retry_policy: overrides the retry settings taken from the connection.
    :param progress_interval: seconds between upload progress log lines.
    """

    conn_name_attr = "metastudio_conn_id"
    default_conn_name = "metastudio_default"
    conn_type = "metastudio"
    hook_name = "Huawei Cloud MetaStudio"

    def __init__(
        self,
        metastudio_conn_id: str = default_conn_name,
        *,
        method: str = "GET",
        retry_policy: RetryPolicy | None = None,
        progress_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("http_conn_id", None)
        super().__init__(method=method, http_conn_id=metastudio_conn_id, **kwargs)
        self.metastudio_conn_id = metastudio_conn_id
        self.progress_interval = progress_interval
        self._retry_policy_override = retry_policy
        install_urllib3_scrubber()

    # ------------------------------------------------------------------------------------------
    # Connection, sessions, auth
    # ------------------------------------------------------------------------------------------

    @cached_property
    def config(self) -> MetaStudioConnectionConfig:
        """The validated connection; secrets are registered with the masker before any use."""
        config = config_from_connection(self.get_connection(self.metastudio_conn_id))
        for secret in (config.access_key, config.secret_key, config.iam_password):
            if secret:
                mask_secret(secret)
        return config

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        if self._retry_policy_override is not None:
            return self._retry_policy_override
        config = self.config
        return RetryPolicy(
            retry_limit=config.retry_limit,
            base_delay=config.retry_delay,
            max_delay=config.retry_max_delay,
            deadline=config.retry_deadline,
        )

    @cached_property
    def token_provider(self) -> IamTokenProvider | None:
        """The IAM token cache, for ``auth_method: token`` connections."""
        config = self.config
        if config.auth_method != "token":
            return None
        credentials = IamPasswordCredentials(
            iam_endpoint=str(config.iam_endpoint),
            domain_name=str(config.domain_name),
            user_name=str(config.user_name),
            password=str(config.iam_password),
            project_id=config.project_id,
        )
        return IamTokenProvider(credentials, self._post_token_request, on_new_token=mask_secret)

    def get_conn(
        self, headers: dict[str, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """A new ``requests.Session`` that authenticates every request it prepares.

        Unlike ``HttpHook.get_conn`` no connection extra becomes a header. ``extra_options`` is
        accepted for ``HttpHook`` compatibility; only ``verify`` is honoured.
        """
        config = self.config
        session = requests.Session()
        session.headers.update({"User-Agent": USER_AGENT, "Content-Type": "application/json"})
        if config.app_user_id:
            session.headers["X-App-UserId"] = config.app_user_id
        if headers:
            session.headers.update(headers)
        session.verify = (extra_options or {}).get("verify", config.verify)
        if config.auth_method == "token":
            session.auth = IamTokenAuth(self.token_provider)  # type: ignore[arg-type]
        else:
            signer = SdkHmacSha256Signer(str(config.access_key), str(config.secret_key))
            session.auth = SdkHmacSha256Auth(signer, project_id=config.project_id)
        self.base_url = config.base_url
        self._base_url_initialized = True
        return session

    @cached_property
    def _api_session(self) -> requests.Session:
        return self.get_conn()

    @cached_property
    def _upload_session(self) -> requests.Session:
        """No auth at all: presigned URLs carry their own signature and must not get ours."""
        session = requests.Session()
        session.headers.update({"User-Agent": USER_AGENT})
        session.verify = self.config.verify
        adapter = LargeBlockAdapter(pool_maxsize=8)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def url_from_endpoint(self, endpoint: str | None) -> str:
        base = self.config.base_url
        if not endpoint:
            return base
        return base + (endpoint if endpoint.startswith("/") else "/" + endpoint)

    # ------------------------------------------------------------------------------------------
    # HttpHook API, routed through the signed, typed, retrying path
    # ------------------------------------------------------------------------------------------

    def run(
        self,
        endpoint: str | None = None,
        data: dict[str, Any] | str | None = None,
        headers: dict[str, Any] | None = None,
        extra_options: dict[str, Any] | None = None,
        **request_kwargs: Any,
    ) -> requests.Response:
        """``HttpHook.run`` with MetaStudio auth, retries and typed errors (``HttpOperator`` uses this)."""
        url = self.url_from_endpoint(endpoint)
        if self.method in ("GET", "HEAD", "DELETE"):
            request = requests.Request(self.method, url, params=data, headers=headers, **request_kwargs)
        else:
            request = requests.Request(self.method, url, data=data, headers=headers, **request_kwargs)
        check = (extra_options or {}).get("check_response", True)
        return self._call("run", request, check=check)

    def check_response(self, response: requests.Response) -> None:
        """Raise the typed error for a failed response (without logging its body, unlike ``HttpHook``)."""
        if response.status_code >= 400:
            raise _api_error(response, operation="request")

    def test_connection(self) -> tuple[bool, str]:
        """List one job: proves endpoint, credentials and project id together."""
        try:
            page, _ = self._call_json("test_connection", "GET", self._jobs_path(), params=[("limit", 1), ("offset", 0)])
        except Exception as exc:
            return False, scrub_text(str(exc))
        return True, f"Connected to MetaStudio; {page.get('count', 0)} training job(s) visible"

    # ------------------------------------------------------------------------------------------
    # Training-job operations
    # ------------------------------------------------------------------------------------------

    def iter_training_jobs(
        self,
        *,
        states: str | Iterable[str] | None = None,
        batch_name: str | None = None,
        tag: str | None = None,
        job_id: str | None = None,
        name: str | None = None,
        model_resolution: str | None = None,
        create_since: datetime | str | None = None,
        create_until: datetime | str | None = None,
        update_since: datetime | str | None = None,
        update_until: datetime | str | None = None,
        sort_key: str = "create_time",
        sort_dir: str = "asc",
        is_flexus: bool | None = None,
        is_live_copy: bool | None = None,
        is_ondemand_resource: bool | None = None,
        train_location: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[TrainingJob]:
        """Yield every matching job, fetching pages of ``page_size`` (max 100) as needed.

        ``states`` takes one state or several (sent comma-separated). Time filters take aware
        datetimes or ``YYYY-MM-DDTHH:MM:SSZ`` strings. Paging stops at ``count`` so N jobs cost
        ``ceil(N / page_size)`` requests.
        """
        operation = "list_training_jobs"
        if not 1 <= page_size <= PAGE_SIZE:
            raise MetaStudioValidationError(f"page_size must be 1-{PAGE_SIZE}", operation=operation, field="limit")
        if sort_key not in SORT_KEYS:
            raise MetaStudioValidationError(
                f"sort_key must be one of {', '.join(sorted(SORT_KEYS))}", operation=operation, field="sort_key"
            )
        if sort_dir not in SORT_DIRS:
            raise MetaStudioValidationError("sort_dir must be 'asc' or 'desc'", operation=operation, field="sort_dir")
        filters: list[tuple[str, Any]] = [("sort_key", sort_key), ("sort_dir", sort_dir)]
        if states is not None:
            filters.append(("state", _join_states(states, operation)))
        if job_id is not None:
            filters.append(("job_id", checked_job_id(job_id, operation)))
        for key, value in (
            ("batch_name", batch_name),
            ("tag", tag),
            ("name", name),
            ("model_resolution", model_resolution),
            ("train_location", train_location),
        ):
            if value is not None:
                filters.append((key, _checked_text(value, key, operation)))
        for key, value in (
            ("create_since", create_since),
            ("create_until", create_until),
            ("update_since", update_since),
            ("update_until", update_until),
        ):
            if value is not None:
                filters.append((key, _time_filter(value, key, operation)))
        for key, flag in (
            ("is_flexus", is_flexus),
            ("is_live_copy", is_live_copy),
            ("is_ondemand_resource", is_ondemand_resource),
        ):
            if flag is not None:
                filters.append((key, "true" if flag else "false"))

        offset = 0
        while True:
            params = [*filters, ("limit", page_size), ("offset", offset)]
            page, request_id = self._call_json(operation, "GET", self._jobs_path(), params=params)
            jobs = page.get("jobs")
            count = page.get("count")
            if not isinstance(jobs, list) or not isinstance(count, int) or isinstance(count, bool):
                raise MetaStudioInvalidResponseError(
                    "list response must have an integer 'count' and a 'jobs' array",
                    operation=operation,
                    request_id=request_id,
                )
            for item in jobs:
                yield job_from_api(item, operation, request_id)
            offset += len(jobs)
            if not jobs or len(jobs) < page_size or offset >= count:
                return

    def list_training_jobs(self, **filters: Any) -> list[TrainingJob]:
        """Every matching job as a list; see :meth:`iter_training_jobs` for the filters."""
        return list(self.iter_training_jobs(**filters))

    def get_training_job(self, job_id: str) -> TrainingJob:
        """Show one job, including its ``operation_logs`` (see ``models.latest_review_failure``)."""
        operation = "get_training_job"
        path = self._job_path(job_id, operation)
        data, request_id = self._call_json(operation, "GET", path)
        return job_from_api(data, operation, request_id)

    def create_training_job(self, body: Mapping[str, Any]) -> UploadUrls:
        """Create a job; returns its id and upload URLs. Not retried where a job may have been created."""
        operation = "create_training_job"
        validate_body(body, CREATE_BODY_SCHEMA, operation=operation)
        data, request_id = self._call_json(operation, "POST", self._jobs_path(), json_body=dict(body), idempotent=False)
        job_id = data.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise MetaStudioInvalidResponseError(
                "create response has no 'job_id'", operation=operation, request_id=request_id
            )
        return self._upload_urls(data, job_id, request_id)

    def update_training_job(self, job_id: str, body: Mapping[str, Any]) -> UploadUrls:
        """Update a job in ``AUTO_VERIFY_FAILED``/``MANUAL_VERIFY_FAILED``; returns every fresh upload URL.

        The body is validated against the documented fields, enums and ranges before sending.
        """
        operation = "update_training_job"
        path = self._job_path(job_id, operation)
        validate_body(body, UPDATE_BODY_SCHEMA, operation=operation)
        data, request_id = self._call_json(operation, "PUT", path, json_body=dict(body))
        return self._upload_urls(data, job_id, request_id)

    def execute_command(
        self,
        job_id: str,
        command: str,
        *,
        command_message: str | None = None,
        comment_data: Mapping[str, Any] | None = None,
        operation_reason: str | None = None,
        idempotent: bool = True,
    ) -> CommandResult:
        """Run a job command (``SUBMITVERIFYING``, ``CONFIRM_MULTIPART_UPLOADED``, ...).

        A 200 answer with ``commond_result: EXCUTE_FAILED`` raises :class:`MetaStudioCommandFailedError`.
        ``idempotent=False`` (for commands that change the job's state, like ``SUBMITVERIFYING``) retries
        only failures that cannot have reached the job (like ``create_training_job``): after a lost
        answer the caller has to look at the job to know whether the command ran.
        """
        operation = f"execute_command:{command}"
        path = self._job_path(job_id, operation) + "/command"
        body: dict[str, Any] = {"command": command}
        if command_message is not None:
            body["command_message"] = command_message
        if comment_data is not None:
            body["comment_data"] = dict(comment_data)
        if operation_reason is not None:
            body["operation_reason"] = operation_reason
        validate_body(body, COMMAND_BODY_SCHEMA, operation=operation)
        data, request_id = self._call_json(operation, "POST", path, json_body=body, idempotent=idempotent)
        if data.get("commond_result") == COMMAND_FAILED:
            error_info = data.get("error_info") if isinstance(data.get("error_info"), Mapping) else {}
            raise MetaStudioCommandFailedError(
                status=200,
                error_code=_str_or_none(error_info.get("error_code")),
                error_msg=_str_or_none(data.get("excute_failed_msg")) or _str_or_none(error_info.get("error_msg")),
                request_id=request_id,
                operation=operation,
            )
        return CommandResult.from_api(data, job_id=job_id, command=command, request_id=request_id)

    def delete_training_job(self, job_id: str) -> str | None:
        """Delete a job *and its model asset*; returns the request id."""
        operation = "delete_training_job"
        response = self._call(operation, requests.Request("DELETE", self._url(self._job_path(job_id, operation))))
        return _request_id(response)

    # ------------------------------------------------------------------------------------------
    # Uploads
    # ------------------------------------------------------------------------------------------

    def upload_file(
        self,
        url: str,
        source: Source,
        *,
        offset: int = 0,
        length: int | None = None,
        content_type: str = OCTET_STREAM,
        asset: str | None = None,
    ) -> UploadResult:
        """PUT ``source`` (or ``length`` bytes of it from ``offset``) to a presigned URL, streaming.

        Memory stays flat whatever the size. Every attempt re-opens the source and seeks to
        ``offset``. The result reports the bytes sent, their SHA-256 and the server's ETag; a
        short read raises instead of reporting success. No auth header is ever added.
        """
        operation = "upload"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MetaStudioValidationError("upload URL must be an http(s) URL", operation=operation, field="url")
        if parts.query:
            mask_secret(parts.query)
        size = source_size(source)
        if length is None:
            length = size - offset
        if offset < 0 or length < 0 or offset + length > size:
            raise MetaStudioValidationError(
                f"byte range offset={offset} length={length} is outside the {size}-byte source",
                operation=operation,
                field="offset",
            )
        label = asset or "file"
        safe_url = redact_url(url)
        attempts = 0

        def emit(sent: int, total: int, speed: float) -> None:
            self.log.info(
                "Uploading %s: %.1f / %.1f MiB (%.0f%%) at %.1f MB/s",
                label,
                sent / 2**20,
                total / 2**20,
                100 * sent / total if total else 100,
                speed,
            )

        def attempt() -> UploadResult:
            nonlocal attempts
            attempts += 1
            started = time.monotonic()
            with open_source(source, offset) as stream:
                reader = SegmentReader(stream, length, ProgressReporter(length, self.progress_interval, emit))
                try:
                    request = requests.Request("PUT", url, data=reader, headers={"Content-Type": content_type})
                    response = self._send(self._upload_session, request, operation)
                finally:
                    reader.close()
            if response.status_code >= 400:
                raise _api_error(response, operation=operation)
            if reader.bytes_sent != length:
                raise MetaStudioTransportError(
                    f"only {reader.bytes_sent} of {length} bytes were sent to {safe_url}", operation=operation
                )
            return UploadResult(
                asset=asset,
                bytes_sent=reader.bytes_sent,
                sha256=reader.sha256,
                etag=(response.headers.get("ETag") or "").strip('"') or None,
                status=response.status_code,
                seconds=round(time.monotonic() - started, 3),
                offset=offset,
                attempts=attempts,
            )

        self.log.info("Uploading %s: %d bytes from offset %d to %s", label, length, offset, safe_url)
        result = self.retry_policy.call(attempt, description=f"upload of {label} to {safe_url}", logger=self.log)
        self.log.info(
            "Uploaded %s: %d bytes in %.1f s (%.1f MB/s), sha256 %s",
            label,
            result.bytes_sent,
            result.seconds,
            result.mb_per_second,
            result.sha256,
        )
        return result

    # ------------------------------------------------------------------------------------------
    # Plumbing
    # ------------------------------------------------------------------------------------------

    def _jobs_path(self) -> str:
        return JOBS_PATH.format(project_id=quote(self.config.project_id, safe=""))

    def _job_path(self, job_id: str, operation: str) -> str:
        return f"{self._jobs_path()}/{quote(checked_job_id(job_id, operation), safe='')}"

    def _url(self, path: str) -> str:
        return self.config.base_url + path

    def _upload_urls(self, data: Mapping[str, Any], job_id: str, request_id: str | None) -> UploadUrls:
        urls = UploadUrls.from_api(data, job_id=job_id, request_id=request_id)
        for target in urls.targets:
            query = urlsplit(target.url).query
            if query:
                mask_secret(query)
        return urls

    def _call_json(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: list[tuple[str, Any]] | None = None,
        json_body: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> tuple[dict[str, Any], str | None]:
        request = requests.Request(method, self._url(path), params=params, json=json_body)
        response = self._call(operation, request, idempotent=idempotent)
        request_id = _request_id(response)
        try:
            data = response.json()
        except ValueError:
            raise MetaStudioInvalidResponseError(
                f"HTTP {response.status_code} response is not JSON", operation=operation, request_id=request_id
            ) from None
        if not isinstance(data, dict):
            raise MetaStudioInvalidResponseError(
                "response is not a JSON object", operation=operation, request_id=request_id
            )
        return data, request_id

    def _call(
        self, operation: str, request: requests.Request, *, idempotent: bool = True, check: bool = True
    ) -> requests.Response:
        """Send with retries; refresh the IAM token once on a 401; raise typed errors."""

        def attempt() -> requests.Response:
            response = self._send(self._api_session, request, operation)
            provider = self.token_provider
            if response.status_code == 401 and provider is not None:
                self.log.info("%s got 401; refreshing the IAM token once", operation)
                provider.invalidate()
                response = self._send(self._api_session, request, operation)
            if check and response.status_code >= 400:
                raise _api_error(response, operation=operation)
            return response

        description = f"{operation} ({request.method} {redact_url(request.url)})"
        retryable = is_retryable if idempotent else is_retryable_non_idempotent
        return self.retry_policy.call(attempt, description=description, logger=self.log, retryable=retryable)

    def _send(self, session: requests.Session, request: requests.Request, operation: str) -> requests.Response:
        """One HTTP exchange; transport failures become :class:`MetaStudioTransportError` (scrubbed)."""
        prepared = session.prepare_request(request)
        settings = session.merge_environment_settings(prepared.url, {}, None, session.verify, None)
        try:
            return session.send(prepared, timeout=self.config.timeout, allow_redirects=False, **settings)
        except requests.Timeout as exc:
            raise MetaStudioTransportError(
                f"timed out calling {redact_url(request.url)} ({type(exc).__name__})",
                operation=operation,
                timeout=True,
                connect_failed=isinstance(exc, requests.ConnectTimeout),
            ) from None
        except requests.RequestException as exc:
            raise MetaStudioTransportError(
                f"{type(exc).__name__} calling {redact_url(request.url)}: {scrub_text(str(exc))}",
                operation=operation,
                connect_failed=_is_connect_failure(exc),
            ) from None

    def _post_token_request(self, url: str, body: dict[str, Any]) -> requests.Response:
        """Transport for :class:`IamTokenProvider`: plain session, retries, typed errors."""
        session = requests.Session()
        session.headers.update({"User-Agent": USER_AGENT, "Content-Type": "application/json;charset=utf8"})
        session.verify = self.config.verify
        request = requests.Request("POST", url, json=body)

        def attempt() -> requests.Response:
            response = self._send(session, request, "iam_token")
            if response.status_code >= 400:
                raise _api_error(response, operation="iam_token")
            return response

        return self.retry_policy.call(attempt, description="IAM token request", logger=self.log)


def _api_error(response: requests.Response, *, operation: str) -> MetaStudioApiError:
    return api_error_from_reply(
        response.status_code, response.reason, response.headers, response.content, operation=operation
    )


def _request_id(response: requests.Response) -> str | None:
    return response.headers.get("X-Request-Id")  # headers are case-insensitive


def _is_connect_failure(exc: requests.RequestException) -> bool:
    """True when the request never reached the server (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return type(reason).__name__ in ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError")


def job_from_api(item: Any, operation: str, request_id: str | None) -> TrainingJob:
    try:
        return TrainingJob.from_api(item)
    except (TypeError, ValueError) as exc:
        raise MetaStudioInvalidResponseError(str(exc), operation=operation, request_id=request_id) from None


def checked_job_id(job_id: Any, operation: str) -> str:
    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
        raise MetaStudioValidationError(
            f"job id {job_id!r} must be 1-64 letters, digits, '-' or '_'", operation=operation, field="job_id"
        )
    return job_id


def _checked_text(value: Any, key: str, operation: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 256:
        raise MetaStudioValidationError(f"{key} must be a 1-256 character string", operation=operation, field=key)
    return value


def _join_states(states: str | Iterable[str], operation: str) -> str:
    items = [states] if isinstance(states, str) else list(states)
    for state in items:
        if not isinstance(state, str) or not _STATE.match(state):
            raise MetaStudioValidationError(
                f"state {state!r} is not a MetaStudio job state (upper-case letters, digits, '_')",
                operation=operation,
                field="state",
            )
    if not items:
        raise MetaStudioValidationError("states must not be empty", operation=operation, field="state")
    return ",".join(items)


def _time_filter(value: datetime | str, key: str, operation: str) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise MetaStudioValidationError(
                f"{key} must be timezone-aware (naive datetimes are ambiguous)", operation=operation, field=key
            )
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str) and _TIME_FILTER.match(value):
        return value
    raise MetaStudioValidationError(
        f"{key} must be an aware datetime or a 'YYYY-MM-DDTHH:MM:SSZ' string, got {value!r}",
        operation=operation,
        field=key,
    )


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
