"""Typed views of MetaStudio training-job responses.

Parsing is lenient on purpose: Huawei adds response fields and states often, so unknown fields
are kept in ``extra`` and unknown states pass through as strings. URLs in responses are
presigned credentials: job views drop every ``*_url`` field, and :class:`UploadUrls` redacts
itself in ``repr``. Everything here converts to JSON-safe dicts for XCom.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from metastudio_provider.redaction import redact_url

# One rule for every job id, from people (DAG params, manifest) or from the API (List answers):
# the whole string, so a trailing newline (which ``$`` accepts) or a '|' never passes.
JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
JOB_ID_RULE_TEXT = "a job id is 1-64 letters, digits, '-' or '_'"
# The same rule for JSON Schema (DAG params), whose ``pattern`` is searched: anchored at both ends,
# and ``(?!\n)`` because ``$`` also matches before a final newline (Python and JavaScript alike).
JOB_ID_SCHEMA_PATTERN = rf"^{JOB_ID_PATTERN.pattern}(?!\n)$"


def is_job_id(value: Any) -> bool:
    """True when ``value`` is a job id by :data:`JOB_ID_PATTERN` (a full match)."""
    return isinstance(value, str) and JOB_ID_PATTERN.fullmatch(value) is not None


VERIFY_FAILED_STATES = frozenset({"AUTO_VERIFY_FAILED", "MANUAL_VERIFY_FAILED"})
REVIEW_STATES = frozenset({"AUTO_VERIFYING", "MANUAL_VERIFYING"})
REVIEW_FAILURE_LOG_TYPES = ("SYSTEM_VERIFY_FAILED", "ADMIN_VERIFY_FAILED")

COMMANDS = frozenset(
    {
        "SUBMITVERIFYING",
        "CONFIRM_ACCEPT",
        "CONFIRM_REJECT",
        "CONFIRM_ANSWER",
        "CONFIRM_PENDING",
        "CONFIRM_ACTIVE",
        "GET_MULTIPART_UPLOADED",
        "CONFIRM_REPAIR",
        "CONFIRM_MULTIPART_UPLOADED",
        "GET_ACTION_VIDEO_MULTIPART_UPLOADED",
        "CONFIRM_ACTION_VIDEO_MULTIPART_UPLOADED",
        "CONFIRM_AUTHORIZATION_LETTER",
        "DELETE_JOB_VIDEO",
    }
)
COMMAND_SUCCESS = "EXCUTE_SUCCESS"  # sic, as on the wire
COMMAND_FAILED = "EXCUTE_FAILED"  # sic

OCTET_STREAM = "application/octet-stream"
ZIP = "application/zip"


@dataclass(frozen=True)
class OperationLog:
    """One ``operation_logs`` entry: where review verdicts and failure reasons live."""

    operate_time: str | None
    log_type: str | None
    log_description: str | None
    operate_user: str | None
    error_code: str | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> OperationLog:
        return cls(
            operate_time=_opt_str(data.get("operate_time")),
            log_type=_opt_str(data.get("log_type")),
            log_description=_opt_str(data.get("log_description")),
            operate_user=_opt_str(data.get("operate_user")),
            error_code=_opt_str(data.get("error_code")),
        )


# Response fields that TrainingJob maps (or drops on purpose: ``contact`` is personal data).
_JOB_FIELDS_HANDLED = frozenset(
    {
        "job_id",
        "name",
        "state",
        "batch_name",
        "tags",
        "asset_id",
        "project_id",
        "model_version",
        "model_resolution",
        "app_user_id",
        "create_time",
        "last_update_time",
        "operation_logs",
        "contact",
    }
)


@dataclass(frozen=True)
class TrainingJob:
    """A training job from List (summary) or Show (with ``operation_logs``).

    ``contact`` (a phone number) and every URL field are deliberately not kept.
    """

    job_id: str
    name: str | None
    state: str
    batch_name: str | None = None
    tags: tuple[str, ...] = ()
    asset_id: str | None = None
    project_id: str | None = None
    model_version: str | None = None
    model_resolution: str | None = None
    app_user_id: str | None = None
    create_time: str | None = None
    last_update_time: str | None = None
    operation_logs: tuple[OperationLog, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TrainingJob:
        if not isinstance(data, Mapping):
            raise TypeError(f"a training job must be a JSON object, got {type(data).__name__}")
        job_id, state = data.get("job_id"), data.get("state")
        if not is_job_id(job_id):
            shown = repr(job_id)[:80] if isinstance(job_id, str) else type(job_id).__name__
            raise ValueError(f"training job with an invalid 'job_id' ({shown}): {JOB_ID_RULE_TEXT}")
        if not isinstance(state, str) or not state:
            raise ValueError(f"training job {job_id} without a 'state' string")
        logs = data.get("operation_logs") or []
        tags = data.get("tags") or []
        return cls(
            job_id=job_id,
            name=_opt_str(data.get("name")),
            state=state,
            batch_name=_opt_str(data.get("batch_name")),
            tags=tuple(str(tag) for tag in tags) if isinstance(tags, list) else (),
            asset_id=_opt_str(data.get("asset_id")),
            project_id=_opt_str(data.get("project_id")),
            model_version=_opt_str(data.get("model_version")),
            model_resolution=_opt_str(data.get("model_resolution")),
            app_user_id=_opt_str(data.get("app_user_id")),
            create_time=_opt_str(data.get("create_time")),
            last_update_time=_opt_str(data.get("last_update_time")),
            operation_logs=tuple(OperationLog.from_api(log) for log in logs if isinstance(log, Mapping))
            if isinstance(logs, list)
            else (),
            extra={
                key: value
                for key, value in data.items()
                if key not in _JOB_FIELDS_HANDLED and not key.endswith(("_url", "_urls"))
            },
        )

    @property
    def is_verify_failed(self) -> bool:
        return self.state in VERIFY_FAILED_STATES

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (no ``extra``)."""
        data = asdict(self)
        data.pop("extra")
        data["tags"] = list(self.tags)
        data["operation_logs"] = [asdict(log) for log in self.operation_logs]
        return data


@dataclass(frozen=True)
class ReviewFailure:
    """Why the latest review rejected a job."""

    log_type: str
    reason: str | None
    error_code: str | None
    operate_time: str | None
    operate_user: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def latest_review_failure(job: TrainingJob) -> ReviewFailure | None:
    """Newest ``SYSTEM_VERIFY_FAILED``/``ADMIN_VERIFY_FAILED`` log entry, else newest ``*_VERIFY_FAILED``.

    "Newest" is by ``operate_time`` (RFC 3339 UTC strings sort chronologically); entries with the
    same time keep their list order, the later one winning.
    """
    candidates = [log for log in job.operation_logs if log.log_type in REVIEW_FAILURE_LOG_TYPES]
    if not candidates:
        candidates = [log for log in job.operation_logs if (log.log_type or "").endswith("VERIFY_FAILED")]
    if not candidates:
        return None
    ordered = sorted(enumerate(candidates), key=lambda item: (item[1].operate_time or "", item[0]))
    newest = ordered[-1][1]
    return ReviewFailure(
        log_type=newest.log_type or "",
        reason=newest.log_description,
        error_code=newest.error_code,
        operate_time=newest.operate_time,
        operate_user=newest.operate_user,
    )


@dataclass(frozen=True)
class UploadTarget:
    """One presigned PUT: an asset (or one part of the training/action video) and its URL."""

    asset: str
    url: str = field(repr=False)
    content_type: str = OCTET_STREAM
    part_number: int | None = None
    part_count: int | None = None

    @property
    def label(self) -> str:
        if self.part_number is None:
            return self.asset
        return f"{self.asset} part {self.part_number}/{self.part_count}"

    def __repr__(self) -> str:
        return f"UploadTarget({self.label!r}, url={redact_url(self.url)!r}, content_type={self.content_type!r})"


# Response field -> asset name used across the project (manifest keys, reports, task labels).
SINGLE_UPLOAD_FIELDS: dict[str, tuple[str, str]] = {
    "audio_upload_url": ("audio", ZIP),
    "cover_upload_url": ("cover", OCTET_STREAM),
    "id_card_image1_upload_url": ("id_card_front", OCTET_STREAM),
    "id_card_image2_upload_url": ("id_card_back", OCTET_STREAM),
    "grant_file_upload_url": ("authorization_letter", OCTET_STREAM),
    "pre_beauty_image_upload_url": ("pre_beauty_image", OCTET_STREAM),
    "post_beauty_image_upload_url": ("post_beauty_image", OCTET_STREAM),
}
MULTIPART_UPLOAD_FIELDS: dict[str, str] = {
    "training_video_upload_url": "training_video",
    "action_video_upload_url": "action_video",
}


@dataclass(frozen=True)
class UploadUrls:
    """Every upload URL a Create/Update answered with. ``repr`` shows asset names only."""

    job_id: str
    request_id: str | None
    targets: tuple[UploadTarget, ...]

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, job_id: str, request_id: str | None) -> UploadUrls:
        targets: list[UploadTarget] = []
        for api_field, asset in MULTIPART_UPLOAD_FIELDS.items():
            urls = data.get(api_field) or []
            if isinstance(urls, str):
                urls = [urls]
            urls = [url for url in urls if isinstance(url, str) and url]
            targets.extend(
                UploadTarget(asset=asset, url=url, part_number=index, part_count=len(urls))
                for index, url in enumerate(urls, start=1)
            )
        for api_field, (asset, content_type) in SINGLE_UPLOAD_FIELDS.items():
            url = data.get(api_field)
            if isinstance(url, str) and url:
                targets.append(UploadTarget(asset=asset, url=url, content_type=content_type))
        returned_id = data.get("job_id")
        return cls(
            job_id=returned_id if isinstance(returned_id, str) and returned_id else job_id,
            request_id=request_id,
            targets=tuple(targets),
        )

    def for_asset(self, asset: str) -> list[UploadTarget]:
        return [target for target in self.targets if target.asset == asset]

    def __repr__(self) -> str:
        labels = ", ".join(target.label for target in self.targets)
        return f"UploadUrls(job_id={self.job_id!r}, targets=[{labels}])"


@dataclass(frozen=True)
class UploadedPart:
    part_number: int
    etag: str | None


@dataclass(frozen=True)
class CommandResult:
    """Outcome of an accepted command (failed commands raise instead)."""

    job_id: str
    command: str
    result: str
    request_id: str | None
    multipart_data: tuple[UploadedPart, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, job_id: str, command: str, request_id: str | None) -> CommandResult:
        parts = []
        for item in data.get("multipart_data") or []:
            if not isinstance(item, Mapping):
                continue
            try:
                number = int(str(item.get("part_number")))  # a string on the wire
            except ValueError:
                continue
            parts.append(UploadedPart(part_number=number, etag=_opt_str(item.get("etag"))))
        return cls(
            job_id=job_id,
            command=command,
            result=str(data.get("commond_result") or COMMAND_SUCCESS),
            request_id=request_id,
            multipart_data=tuple(sorted(parts, key=lambda part: part.part_number)),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["multipart_data"] = [asdict(part) for part in self.multipart_data]
        return data


@dataclass(frozen=True)
class UploadResult:
    """What one presigned PUT delivered: byte count and SHA-256 of exactly the bytes sent."""

    asset: str | None
    bytes_sent: int
    sha256: str
    etag: str | None
    status: int
    seconds: float
    offset: int
    attempts: int

    @property
    def mb_per_second(self) -> float:
        return self.bytes_sent / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
