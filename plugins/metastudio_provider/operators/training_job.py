"""Thin operators over :class:`MetaStudioHook`: update a job, upload one asset, execute a command.

They are declarative (nothing but attribute assignment in ``__init__``), template their ids, and
return small JSON-safe dicts. With ``errors_as_data=True`` a MetaStudio failure is returned as
``{"ok": False, "error": {...}}`` instead of failing the task: a DAG that fixes many jobs at
once uses that to keep going and to report every failure from one place.

The steps themselves are shared with the remediation DAG's per-job task: URL sealing
(:mod:`metastudio_provider.update_targets`), the checkpointed upload
(:mod:`metastudio_provider.checkpointed_upload`) and submit-once (:mod:`metastudio_provider.submission`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, Context

from metastudio_provider.checkpoint import checkpoint_from
from metastudio_provider.checkpointed_upload import upload_once
from metastudio_provider.exceptions import MetaStudioError, error_record
from metastudio_provider.models import OCTET_STREAM
from metastudio_provider.submission import SUBMIT, submit_for_review
from metastudio_provider.update_targets import sealed_targets
from metastudio_provider.url_vault import ensure_sealing_available

if TYPE_CHECKING:
    from metastudio_provider.hooks.metastudio import MetaStudioHook

DEFAULT_CONN_ID = "metastudio_default"
UPLOAD_RESULT_KEY = "upload_result"  # the upload operator's checkpoint key (one upload per task instance)


class _MetaStudioOperator(BaseOperator):
    """Shared plumbing: the connection id, a lazily built hook, failures as data when asked."""

    def __init__(
        self, *, metastudio_conn_id: str = DEFAULT_CONN_ID, errors_as_data: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.metastudio_conn_id = metastudio_conn_id
        self.errors_as_data = errors_as_data

    @cached_property
    def hook(self) -> MetaStudioHook:
        # Imported here: the hook pulls in requests and the HTTP provider, which DAG parsing never needs.
        from metastudio_provider.hooks.metastudio import MetaStudioHook

        return MetaStudioHook(self.metastudio_conn_id)

    def _failed(self, exc: MetaStudioError, identity: dict[str, Any], context: Context) -> dict[str, Any]:
        if not self.errors_as_data:
            raise exc
        self.log.error("%s", exc)
        ti = context["ti"]
        return {**identity, "ok": False, "error": error_record(exc), "task_id": ti.task_id, "map_index": ti.map_index}


class MetaStudioUpdateTrainingJobOperator(_MetaStudioOperator):
    """Update a job in ``AUTO_VERIFY_FAILED``/``MANUAL_VERIFY_FAILED`` and return its fresh upload targets.

    The upload URLs are sealed with Airflow's Fernet key before they are returned (XCom is
    stored in the database); :class:`MetaStudioUploadAssetOperator` opens them.

    :param job_id: training job id (templated)
    :param body: update fields, validated against the documented schema before sending (templated)
    :param metastudio_conn_id: MetaStudio connection (templated)
    :param errors_as_data: return failures instead of raising
    """

    template_fields: Sequence[str] = ("job_id", "body", "metastudio_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"body": "json"}

    def __init__(self, *, job_id: str, body: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.body = body

    def execute(self, context: Context) -> dict[str, Any]:
        identity = {"job_id": self.job_id}
        ensure_sealing_available()  # an Update invalidates the old URLs: never run one we cannot keep
        try:
            urls = self.hook.update_training_job(self.job_id, dict(self.body))
        except MetaStudioError as exc:
            return self._failed(exc, identity, context)
        targets = sealed_targets(urls)
        self.log.info("Updated job %s: %d upload URL(s) (request id %s)", self.job_id, len(targets), urls.request_id)
        return {**identity, "ok": True, "request_id": urls.request_id, "upload_targets": targets}


class MetaStudioUploadAssetOperator(_MetaStudioOperator):
    """Stream one file, or one byte range of it, to one presigned URL.

    On Airflow 3.3 the result is kept in the task state store once the server has accepted the
    bytes, so a retry of this task instance (say, the worker died after the PUT) reports that
    result instead of re-using the single-use URL; a retry before acceptance uploads again.

    :param sealed_url: the upload URL as sealed by :class:`MetaStudioUpdateTrainingJobOperator`
    :param source: local path (or ``ObjectStoragePath``) of the file (templated)
    :param offset: first byte to send
    :param length: bytes to send (``None``: to the end of the file)
    :param content_type: ``application/octet-stream`` (``application/zip`` for audio)
    :param job_id: for logs and reports (templated)
    :param asset_label: readable asset name, e.g. ``training_video part 2/4`` (templated)
    """

    template_fields: Sequence[str] = ("source", "job_id", "asset_label", "metastudio_conn_id")

    def __init__(
        self,
        *,
        sealed_url: str,
        source: Any,
        offset: int = 0,
        length: int | None = None,
        content_type: str = OCTET_STREAM,
        job_id: str | None = None,
        asset_label: str = "asset",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sealed_url = sealed_url
        self.source = source
        self.offset = offset
        self.length = length
        self.content_type = content_type
        self.job_id = job_id
        self.asset_label = asset_label

    def execute(self, context: Context) -> dict[str, Any]:
        identity = {"job_id": self.job_id, "label": self.asset_label}
        self._stop = threading.Event()  # set by on_kill: the upload gives up at its next read
        try:
            row = upload_once(
                self.hook,
                checkpoint_from(context),
                UPLOAD_RESULT_KEY,
                sealed_url=self.sealed_url,
                source=self.source,
                offset=self.offset,
                length=self.length,
                content_type=self.content_type,
                label=self.asset_label,
                stop=self._stop,
            )
        except MetaStudioError as exc:
            return self._failed(exc, identity, context)
        if row.pop("resumed", False):  # reported like the attempt that sent it
            self.log.info(
                "%s was already accepted by the server in an earlier attempt; not re-sending", self.asset_label
            )
        return {**identity, **row}

    def on_kill(self) -> None:
        """Marked failed or success while running: stop sending (the server then accepts nothing)."""
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()


class MetaStudioExecuteCommandOperator(_MetaStudioOperator):
    """Execute a training-job command (``SUBMITVERIFYING``, ``CONFIRM_MULTIPART_UPLOADED``, ...).

    :param job_id: training job id (templated)
    :param command: the command (templated)
    :param command_message: optional qualifier (templated)
    """

    template_fields: Sequence[str] = ("job_id", "command", "command_message", "metastudio_conn_id")

    def __init__(self, *, job_id: str, command: str, command_message: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.command = command
        self.command_message = command_message

    def execute(self, context: Context) -> dict[str, Any]:
        identity = {"job_id": self.job_id, "command": self.command}
        try:
            if self.command == SUBMIT:  # sent exactly once, even when its answer is lost
                result, note = submit_for_review(self.hook, self.job_id, command_message=self.command_message)
            else:
                result, note = (
                    self.hook.execute_command(self.job_id, self.command, command_message=self.command_message),
                    None,
                )
        except MetaStudioError as exc:
            return self._failed(exc, identity, context)
        return {**identity, "ok": True, **(result.to_dict() if result else {}), **({"note": note} if note else {})}
