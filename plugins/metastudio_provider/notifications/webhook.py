"""Alert notifier: one webhook POST with a Slack-compatible ``text`` plus structured fields.

The payload is readable in a chat channel (``text``: a title line and one line per error) and
machine-readable (``errors``, ``summary``, ``dag_id``...). Every string in it is scrubbed of URL
query strings, signatures and token values before it leaves, so an error message that quotes a
presigned URL cannot leak it into the alert channel.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from airflow.providers.common.compat.connection import get_async_connection
from airflow.sdk import BaseHook, BaseNotifier, Context
from airflow.sdk.log import mask_secret

from metastudio_provider.escaping import slack_mrkdwn
from metastudio_provider.exceptions import MetaStudioConfigError, error_record
from metastudio_provider.hooks import send_async, send_sync
from metastudio_provider.hooks.connection_config import parse_verify
from metastudio_provider.hooks.retry import RetryPolicy
from metastudio_provider.hooks.transport import USER_AGENT, Deadline, Reply, TransportPolicy, check_reply
from metastudio_provider.redaction import Redactor, install_urllib3_scrubber, scrub_text

OPERATION = "alert_webhook"
MAX_TEXT_LINES = 50  # the structured ``errors`` list is never truncated, the chat text is
MAX_LINE_LENGTH = 300
MAX_ANSWER_BYTES = 64 * 1024  # a webhook answers "ok" or a short JSON; nothing more is read


class MetaStudioAlertNotifier(BaseNotifier):
    """POST an alert about MetaStudio errors to a webhook connection.

    Use it from a task (``MetaStudioAlertNotifier(errors=..., summary=...).notify(context)``) or
    as a callback (``on_failure_callback=MetaStudioAlertNotifier()``): with no ``errors`` it
    reports the failed task itself, including the MetaStudio error code, message and request id
    when the exception is a :class:`~metastudio_provider.exceptions.MetaStudioApiError`.

    :param errors: error records (dicts with ``job_id``, ``operation``, ``error_code``,
        ``error_msg``, ``request_id``, ``task_id``, ``map_index``...), a list or its JSON/Python
        text form as Jinja renders it (templated)
    :param summary: free-form JSON-safe run summary (templated)
    :param title: one-line title; defaults to the error count, DAG and run (templated)
    :param webhook_conn_id: connection whose host is the webhook URL (full URL, or host with
        schema and port as for ``HttpHook``); its password, if any, is sent as a Bearer token, and
        its ``verify`` extra (true, false or a CA bundle path) is honoured (templated)
    :param endpoint: path appended to the connection's URL (templated)
    :param timeout: wall-clock seconds for one POST (connect, answer headers and body)
    :param retries: retries after the first attempt on connection errors, timeouts, 429 and 5xx
    :param retry_delay: base of the exponential backoff between retries, seconds
    """

    template_fields: Sequence[str] = ("title", "errors", "summary", "webhook_conn_id", "endpoint")

    def __init__(
        self,
        *,
        errors: Sequence[Mapping[str, Any]] | str | None = None,
        summary: Mapping[str, Any] | str | None = None,
        title: str | None = None,
        webhook_conn_id: str = "metastudio_alerts",
        endpoint: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        retry_delay: float = 1.0,
    ) -> None:
        super().__init__()
        self.errors = errors
        self.summary = summary
        self.title = title
        self.webhook_conn_id = webhook_conn_id
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay

    def build_payload(self, context: Context) -> dict[str, Any]:
        """The JSON document to send: ``text`` for chat tools plus the structured fields."""
        run = _run_fields(context)
        errors = [_scrub(_as_record(item)) for item in _as_list(self.errors)]
        if not errors:
            errors = [_scrub(_record_from_context(context, run))]
        summary = _scrub(_as_mapping(self.summary))
        default_title = f"MetaStudio alert: {len(errors)} error(s) in {run['dag_id'] or '?'} run {run['run_id'] or '?'}"
        title = _one_line(self.title or default_title)
        lines = [_error_line(error) for error in errors[:MAX_TEXT_LINES]]
        if len(errors) > MAX_TEXT_LINES:
            lines.append(f"... and {len(errors) - MAX_TEXT_LINES} more (see the errors field)")
        payload = {"text": "\n".join([title, *lines]), "title": title, **run, "errors": errors, "summary": summary}
        return json.loads(json.dumps(payload, default=str))

    def notify(self, context: Context) -> None:
        """Send the alert (sync: task code, ``on_*_callback``). Only a 2xx counts as sent."""
        install_urllib3_scrubber()  # urllib3's debug log quotes the full URL
        payload = self.build_payload(context)
        conn = BaseHook.get_connection(self.webhook_conn_id)
        url, headers = _webhook_target(conn, self.endpoint)
        policy = self._transport_policy(conn, url)
        body = json.dumps(payload).encode()
        deadline = Deadline(policy.retry.deadline)

        with send_sync.new_session(policy) as session:

            def attempt() -> Reply:
                request = requests.Request("POST", url, data=body, headers=headers)
                seconds = deadline.request_limit(policy, OPERATION, url)
                reply = send_sync.send(session, request, operation=OPERATION, policy=policy, seconds=seconds)
                return check_reply(reply, operation=OPERATION, redactor=policy.redactor)

            policy.retry.call(attempt, description=self._description(url), logger=self.log)
        self._log_sent(payload, url)

    async def async_notify(self, context: Context) -> None:
        """Send the alert from the triggerer (deadline alerts). Only a 2xx counts as sent."""
        payload = self.build_payload(context)
        conn = await get_async_connection(self.webhook_conn_id)
        url, headers = _webhook_target(conn, self.endpoint)
        policy = self._transport_policy(conn, url)
        body = json.dumps(payload).encode()
        async with send_async.new_session(policy) as session:
            await send_async.post_checked(
                session,
                url,
                operation=OPERATION,
                policy=policy,
                headers=headers,
                body=body,
                description=self._description(url),
                logger=self.log,
            )
        self._log_sent(payload, url)

    def _transport_policy(self, conn: Any, url: str) -> TransportPolicy:
        """The transport rules for this webhook: its timeout, retries, ``verify`` and secrets."""
        problems: list[str] = []
        verify = parse_verify(conn.extra_dejson.get("verify", True), problems)
        if problems:
            raise MetaStudioConfigError(f"Connection {conn.conn_id!r}: " + "; ".join(problems))
        return TransportPolicy(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            request_timeout=self.timeout,
            max_response_bytes=MAX_ANSWER_BYTES,
            verify=verify,
            retry=self._policy(),
            redactor=Redactor((conn.password, urlsplit(url).query)),
        )

    def _policy(self) -> RetryPolicy:
        return RetryPolicy(
            retry_limit=self.retries,
            base_delay=self.retry_delay,
            max_delay=max(self.retry_delay, 10.0),
            deadline=(self.timeout + 10.0) * (self.retries + 1),
        )

    def _description(self, url: str) -> str:
        return f"alert to webhook connection {self.webhook_conn_id!r} ({_origin(url)})"

    def _log_sent(self, payload: Mapping[str, Any], url: str) -> None:
        self.log.info(
            "Sent MetaStudio alert with %d error(s) to webhook connection %r (%s)",
            len(payload["errors"]),
            self.webhook_conn_id,
            _origin(url),
        )


def _webhook_target(conn: Any, endpoint: str | None) -> tuple[str, dict[str, str]]:
    """The URL to POST to and the headers, from any connection type (``http``, ``generic``...)."""
    host = (conn.host or "").strip()
    if not host:
        raise MetaStudioConfigError(f"Connection {conn.conn_id!r}: the host field must hold the webhook URL")
    if "://" not in host:
        host = f"{conn.schema or 'http'}://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MetaStudioConfigError(f"Connection {conn.conn_id!r}: the webhook URL must be an http(s) URL")
    netloc = f"{parts.netloc}:{conn.port}" if conn.port and parts.port is None else parts.netloc
    path, query = parts.path, parts.query
    if endpoint:
        extra = urlsplit(endpoint)
        path = path.rstrip("/") + "/" + extra.path.lstrip("/")
        query = "&".join(part for part in (query, extra.query) if part)
    if query:
        mask_secret(query)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if conn.password:
        headers["Authorization"] = f"Bearer {conn.password}"
    return urlunsplit((parts.scheme, netloc, path, query, "")), headers


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _run_fields(context: Context) -> dict[str, Any]:
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_run = context.get("dag_run")
    task = context.get("task")
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None),
        "run_id": context.get("run_id") or getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None),
        "task_id": getattr(ti, "task_id", None) or getattr(task, "task_id", None),
    }


def _record_from_context(context: Context, run: Mapping[str, Any]) -> dict[str, Any]:
    """One error record describing the failed task, for use as ``on_failure_callback``."""
    exc = context.get("exception")
    if isinstance(exc, BaseException):
        error = error_record(exc)
    else:
        message = str(exc or context.get("reason") or "task failed")
        error = dict.fromkeys(("error_type", "operation", "status", "error_code", "request_id"))
        error["error_msg"] = message
    job_id = getattr(context.get("task"), "job_id", None)
    map_index = getattr(context.get("ti"), "map_index", None)
    return {
        "job_id": job_id if isinstance(job_id, str) else None,
        **error,
        "task_id": run["task_id"],
        "map_index": map_index if isinstance(map_index, int) and map_index >= 0 else None,
    }


def _error_line(error: Mapping[str, Any]) -> str:
    code = error.get("error_code") or error.get("error_type") or "error"
    where = error.get("task_id") or "-"
    if error.get("map_index") is not None:
        where = f"{where}[{error['map_index']}]"
    line = (
        f"• job {error.get('job_id') or '-'} | {error.get('operation') or '-'} | {code}: "
        f"{error.get('error_msg') or ''} (request id {error.get('request_id') or '-'}, task {where})"
    )
    return _one_line(line)


def _one_line(text: str) -> str:
    """One line of the chat text: control characters gone, ``&<>`` escaped (no mention or link injected), cut."""
    return slack_mrkdwn(text, MAX_LINE_LENGTH)


def _parse_text(value: str) -> Any:
    """Jinja renders lists and dicts to text: accept their JSON and Python-literal forms."""
    try:
        return json.loads(value)
    except ValueError:
        pass
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        value = _parse_text(value) if value.strip() else None
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _as_record(item: Any) -> dict[str, Any]:
    return dict(item) if isinstance(item, Mapping) else {"error_msg": str(item)}


def _as_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = _parse_text(value) if value.strip() else None
    if value is None:
        return {}
    return dict(value) if isinstance(value, Mapping) else {"summary": value}


def _scrub(value: Any) -> Any:
    """Scrub every string, recursively (keys included)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {scrub_text(str(key)): _scrub(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_scrub(item) for item in value]
    return value
