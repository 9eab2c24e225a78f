"""``MetaStudioHook``: the one client every MetaStudio operator, sensor and DAG task uses.

It is an ``HttpHook`` (so ``HttpOperator`` and ``Connection.get_hook()`` work with a
``metastudio`` connection), but it owns the parts plain ``HttpHook`` gets wrong for this API:
connection extras are an allowlist and never become headers; requests are signed with
SDK-HMAC-SHA256 or carry an IAM token; every call has timeouts and bounded retries; errors are
typed; uploads stream from disk and are re-opened at the right offset on each attempt.
"""

from __future__ import annotations

import dataclasses
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
    IamTokenAuth,
    IamTokenProvider,
    SdkHmacSha256Auth,
    SdkHmacSha256Signer,
)
from metastudio_provider.exceptions import (
    MetaStudioCommandFailedError,
    MetaStudioInvalidResponseError,
    MetaStudioTransportError,
    MetaStudioValidationError,
)
from metastudio_provider.hooks import send_sync
from metastudio_provider.hooks.connection_config import MetaStudioConnectionConfig, config_from_connection
from metastudio_provider.hooks.retry import RetryPolicy, is_retryable, is_retryable_non_idempotent
from metastudio_provider.hooks.transport import (
    IAM_HEADERS,
    USER_AGENT,
    Deadline,
    Reply,
    TransportPolicy,
    api_headers,
    check_error_answer,
    check_reply,
    iam_credentials,
    json_object,
    require_upload_url,
)
from metastudio_provider.hooks.upload import (
    ProgressReporter,
    SegmentReader,
    Source,
    open_source,
    source_size,
)
from metastudio_provider.models import (
    COMMAND_FAILED,
    COMMAND_SUCCESS,
    OCTET_STREAM,
    CommandResult,
    TrainingJob,
    UploadResult,
    UploadUrls,
    is_job_id,
)
from metastudio_provider.redaction import Redactor, install_urllib3_scrubber, redact_url
from metastudio_provider.validation import (
    COMMAND_BODY_SCHEMA,
    CREATE_BODY_SCHEMA,
    UPDATE_BODY_SCHEMA,
    validate_body,
)

__all__ = ["JOBS_PATH", "USER_AGENT", "MetaStudioHook", "checked_job_id", "job_from_api", "job_path"]

JOBS_PATH = "/v1/{project_id}/digital-human-training-manage/user/jobs"
PAGE_SIZE = 100
SORT_KEYS = frozenset({"create_time", "update_time", "asset_order"})
SORT_DIRS = frozenset({"asc", "desc"})

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
    def policy(self) -> TransportPolicy:
        """Timeouts, limits, TLS, retries and redaction of this connection (see ``hooks/transport.py``)."""
        return TransportPolicy.from_config(self.config, retry=self._retry_policy_override)

    @property
    def retry_policy(self) -> RetryPolicy:
        return self.policy.retry

    @property
    def redactor(self) -> Redactor:
        return self.policy.redactor

    @cached_property
    def token_provider(self) -> IamTokenProvider | None:
        """The IAM token cache, for ``auth_method: token`` connections."""
        config = self.config
        if config.auth_method != "token":
            return None
        return IamTokenProvider(iam_credentials(config), self._post_token_request, on_new_token=self._register_secret)

    def get_conn(
        self, headers: dict[str, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """A new ``requests.Session`` that authenticates every request it prepares.

        Unlike ``HttpHook.get_conn`` no connection extra becomes a header and nothing comes from
        the environment but the proxy (no ``~/.netrc``). ``extra_options`` is accepted for
        ``HttpHook`` compatibility; only ``verify`` is honoured.
        """
        config = self.config
        auth: requests.auth.AuthBase
        if config.auth_method == "token":
            auth = IamTokenAuth(self.token_provider)  # type: ignore[arg-type]
        else:
            signer = SdkHmacSha256Signer(str(config.access_key), str(config.secret_key))
            auth = SdkHmacSha256Auth(signer, project_id=config.project_id)
        session = send_sync.new_session(self.policy, auth=auth, headers={**api_headers(config), **(headers or {})})
        session.verify = (extra_options or {}).get("verify", config.verify)
        self.base_url = config.base_url
        self._base_url_initialized = True
        return session

    @cached_property
    def _api_session(self) -> requests.Session:
        return self.get_conn()

    @cached_property
    def _upload_session(self) -> requests.Session:
        """No auth at all: presigned URLs carry their own signature and must not get ours."""
        return send_sync.new_session(self.policy, large_blocks=True, pool_size=8)

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
        reply = self._call("run", request, check=check)
        if check:
            check_error_answer(reply, operation="run", redactor=self.redactor)
        return _as_response(reply, request.url)

    def check_response(self, response: requests.Response) -> None:
        """Raise the typed error unless the answer is a 2xx (without logging its body, unlike ``HttpHook``)."""
        reply = Reply(response.status_code, response.reason, response.headers, response.content)
        check_reply(reply, operation="request", redactor=self.redactor)

    def test_connection(self) -> tuple[bool, str]:
        """List one job: proves endpoint, credentials and project id together."""
        try:
            page, _ = self._call_json("test_connection", "GET", self._jobs_path(), params=[("limit", 1), ("offset", 0)])
        except Exception as exc:
            return False, self.redactor(str(exc))
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
            for index, item in enumerate(jobs):
                yield job_from_api(item, operation, request_id, entry=offset + index)
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

        The command succeeded only when the answer says ``commond_result: EXCUTE_SUCCESS``: a 200
        answer with ``EXCUTE_FAILED`` raises :class:`MetaStudioCommandFailedError`, one with any
        other or no result :class:`MetaStudioInvalidResponseError`.
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
        request = requests.Request("POST", self._url(path), json=body)
        reply = self._call(operation, request, idempotent=idempotent)
        data, request_id = (
            json_object(reply, operation=operation, redactor=self.redactor, check_errors=False),
            reply.request_id,
        )
        if data.get("commond_result") == COMMAND_FAILED:
            error_info = data.get("error_info") if isinstance(data.get("error_info"), Mapping) else {}
            raise MetaStudioCommandFailedError(
                status=200,
                error_code=_str_or_none(error_info.get("error_code")),
                error_msg=_str_or_none(data.get("excute_failed_msg")) or _str_or_none(error_info.get("error_msg")),
                request_id=request_id,
                operation=operation,
            )
        check_error_answer(reply, data, operation=operation, redactor=self.redactor)
        if data.get("commond_result") != COMMAND_SUCCESS:
            raise MetaStudioInvalidResponseError(
                f"command answer does not say {COMMAND_SUCCESS} (commond_result is missing or unknown)",
                operation=operation,
                request_id=request_id,
            )
        return CommandResult.from_api(data, job_id=job_id, command=command, request_id=request_id)

    def delete_training_job(self, job_id: str) -> str | None:
        """Delete a job *and its model asset*; returns the request id."""
        operation = "delete_training_job"
        reply = self._call(operation, requests.Request("DELETE", self._url(self._job_path(job_id, operation))))
        check_error_answer(reply, operation=operation, redactor=self.redactor)
        return reply.request_id

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
        short read raises instead of reporting success. No auth header is ever added; success is
        a 2xx (a redirect is an error); a plain-http URL under an https endpoint is refused before
        the file is opened; the whole upload, retries included, is bounded by ``upload_deadline``.
        """
        operation = "upload"
        require_upload_url(url, self.config.base_url, operation=operation)
        query = urlsplit(url).query
        if query:
            self._register_secret(query)
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
        deadline = Deadline(self.config.upload_deadline)

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
            seconds = deadline.request_limit(None, operation, url)
            with open_source(source, offset) as stream:
                reader = SegmentReader(stream, length, ProgressReporter(length, self.progress_interval, emit))
                try:
                    request = requests.Request("PUT", url, data=reader, headers={"Content-Type": content_type})
                    reply = send_sync.send(
                        self._upload_session,
                        request,
                        operation=operation,
                        policy=self.policy,
                        seconds=seconds,
                        answer_seconds=self.policy.request_timeout,
                    )
                finally:
                    reader.close()
            check_reply(reply, operation=operation, redactor=self.redactor)
            if reader.bytes_sent != length:
                raise MetaStudioTransportError(
                    f"only {reader.bytes_sent} of {length} bytes were sent to {safe_url}", operation=operation
                )
            return UploadResult(
                asset=asset,
                bytes_sent=reader.bytes_sent,
                sha256=reader.sha256,
                etag=(reply.headers.get("ETag") or "").strip('"') or None,
                status=reply.status,
                seconds=round(time.monotonic() - started, 3),
                offset=offset,
                attempts=attempts,
            )

        self.log.info("Uploading %s: %d bytes from offset %d to %s", label, length, offset, safe_url)
        upload_policy = dataclasses.replace(self.retry_policy, deadline=deadline.seconds)
        result = upload_policy.call(attempt, description=f"upload of {label} to {safe_url}", logger=self.log)
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
        return jobs_path(self.config.project_id)

    def _job_path(self, job_id: str, operation: str) -> str:
        return job_path(self.config.project_id, job_id, operation)

    def _url(self, path: str) -> str:
        return self.config.base_url + path

    def _upload_urls(self, data: Mapping[str, Any], job_id: str, request_id: str | None) -> UploadUrls:
        urls = UploadUrls.from_api(data, job_id=job_id, request_id=request_id)
        for target in urls.targets:
            query = urlsplit(target.url).query
            if query:
                self._register_secret(query)
        return urls

    def _register_secret(self, secret: str) -> None:
        """Keep ``secret`` (a token, a presigned query) out of logs and of every error text."""
        mask_secret(secret)
        self.redactor.add(secret)

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
        reply = self._call(operation, request, idempotent=idempotent)
        return json_object(reply, operation=operation, redactor=self.redactor), reply.request_id

    def _call(self, operation: str, request: requests.Request, *, idempotent: bool = True, check: bool = True) -> Reply:
        """Send with retries; refresh the IAM token once on a 401; raise typed errors.

        Each request is limited to ``request_timeout`` and the whole call to ``retry_deadline``.
        """
        deadline = Deadline(self.retry_policy.deadline)

        def exchange() -> Reply:
            seconds = deadline.request_limit(self.policy, operation, request.url)
            return send_sync.send(self._api_session, request, operation=operation, policy=self.policy, seconds=seconds)

        def attempt() -> Reply:
            reply = exchange()
            provider = self.token_provider
            if reply.status == 401 and provider is not None:
                self.log.info("%s got 401; refreshing the IAM token once", operation)
                provider.invalidate()
                reply = exchange()
            if check:
                check_reply(reply, operation=operation, redactor=self.redactor)
            return reply

        description = f"{operation} ({request.method} {redact_url(request.url)})"
        retryable = is_retryable if idempotent else is_retryable_non_idempotent
        return self.retry_policy.call(attempt, description=description, logger=self.log, retryable=retryable)

    def _post_token_request(self, url: str, body: dict[str, Any]) -> Reply:
        """Transport for :class:`IamTokenProvider`: no auth, retries, limits, typed errors."""
        operation = "iam_token"
        session = send_sync.new_session(self.policy, headers=IAM_HEADERS)
        request = requests.Request("POST", url, json=body)
        deadline = Deadline(self.retry_policy.deadline)

        def attempt() -> Reply:
            seconds = deadline.request_limit(self.policy, operation, url)
            reply = send_sync.send(session, request, operation=operation, policy=self.policy, seconds=seconds)
            return check_reply(reply, operation=operation, redactor=self.redactor)

        with session:
            return self.retry_policy.call(attempt, description="IAM token request", logger=self.log)


def _as_response(reply: Reply, url: str) -> requests.Response:
    """``HttpHook.run`` callers (``HttpOperator``) expect a ``requests.Response``: one built from the read reply."""
    response = requests.Response()
    response.status_code = reply.status
    response.reason = reply.reason or ""
    response.headers = reply.headers
    response._content = reply.body
    response.url = url
    return response


def jobs_path(project_id: str) -> str:
    return JOBS_PATH.format(project_id=quote(project_id, safe=""))


def job_path(project_id: str, job_id: str, operation: str) -> str:
    """The path of one job; the id is checked first (it is interpolated into the URL)."""
    return f"{jobs_path(project_id)}/{quote(checked_job_id(job_id, operation), safe='')}"


def job_from_api(item: Any, operation: str, request_id: str | None, *, entry: int | None = None) -> TrainingJob:
    try:
        return TrainingJob.from_api(item)
    except (TypeError, ValueError) as exc:
        where = "" if entry is None else f"entry {entry} of the answer: "
        raise MetaStudioInvalidResponseError(where + str(exc), operation=operation, request_id=request_id) from None


def checked_job_id(job_id: Any, operation: str) -> str:
    if not is_job_id(job_id):
        shown = repr(job_id)[:80]
        raise MetaStudioValidationError(
            f"job id {shown} must be 1-64 letters, digits, '-' or '_'", operation=operation, field="job_id"
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
