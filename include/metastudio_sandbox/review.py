"""The deterministic automatic review that follows SUBMITVERIFYING.

Rules, all checked, reported in one SYSTEM_VERIFY_FAILED log entry (error_code of the first):
the confirmed training video exists, is a readable MP4 and, measured like MetaStudio does (the
reassembled file is parsed with the provider's :mod:`metastudio_provider.media`), is exactly
1920x1080, 1080x1920, 3840x2160 or 2160x3840 after rotation (``44005901``, MetaStudio's code) and
3 to 10 minutes long (``44005912``, our assumption); both ID card images exist and are JPEG/PNG;
the authorization letter exists and is PDF/JPEG/PNG; with ``audio_source_type`` AUDIO, the audio
is a zip; and no asset is byte-identical to one that an earlier (seeded) review rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metastudio_provider.media import ACCEPTED_RESOLUTIONS, REVIEW_CODE_RESOLUTION, format_duration, inspect_asset
from metastudio_sandbox.assets import SNIFF_BYTES, sniff
from metastudio_sandbox.store import Store

CODE_VIDEO_RESOLUTION = REVIEW_CODE_RESOLUTION  # "44005901", documented by MetaStudio
CODE_VIDEO_DURATION = "44005912"  # our assumption: MetaStudio documents no code for the duration rule
CODE_VIDEO_MISSING = "44005903"
CODE_VIDEO_FORMAT = "44005904"
CODE_ID_MISSING = "44005905"
CODE_ID_FORMAT = "44005906"
CODE_LETTER_MISSING = "44005907"
CODE_LETTER_FORMAT = "44005908"
CODE_AUDIO = "44005910"

_IMAGE = ("jpeg", "png")
_LETTER = ("pdf", "jpeg", "png")


@dataclass(frozen=True)
class Finding:
    error_code: str
    description: str


def _head(store: Store, job_id: str, asset: str) -> bytes | None:
    path = store.file_path(job_id, asset, 0)
    if not store.files_of(job_id, asset) or not path.is_file():
        return None
    with path.open("rb") as handle:
        return handle.read(SNIFF_BYTES)


def _video_findings(path: Path) -> list[Finding]:
    """The training video measured: resolution after rotation, duration, and whether it is readable at all."""
    try:
        inspection = inspect_asset("training_video", path, name="training_video")
    except Exception as exc:  # an unreadable file, or an inspector bug: a finding, never a failed review
        return [Finding(CODE_VIDEO_FORMAT, f"Training video is not a playable MP4 file ({type(exc).__name__})")]
    findings = []
    for finding in inspection.findings:
        if finding.rule == "video.resolution":
            description = (
                f"Video resolution not accepted; only {ACCEPTED_RESOLUTIONS} are allowed (got {finding.measured})"
            )
            findings.append(Finding(CODE_VIDEO_RESOLUTION, description))
        elif finding.rule == "video.duration":
            measured = format_duration(inspection.facts["duration_s"])
            description = f"Video duration not accepted; it must be 3 to 10 minutes long (got {measured})"
            findings.append(Finding(CODE_VIDEO_DURATION, description))
        else:  # the container is not MP4, the file is cut short or corrupt, or it has no video track
            findings.append(
                Finding(CODE_VIDEO_FORMAT, f"Training video is not a playable MP4 file ({finding.message})")
            )
    return findings


def review(job: dict[str, Any], store: Store) -> list[Finding]:
    """Every reason the job fails the automatic review; empty means it passes."""
    job_id = job["job_id"]
    meta = job["_meta"]
    findings: list[Finding] = []
    video = _head(store, job_id, "training_video") if meta.get("video_confirmed") else None
    if video is None:
        findings.append(
            Finding(CODE_VIDEO_MISSING, "Training video missing: upload every part and send CONFIRM_MULTIPART_UPLOADED")
        )
    elif sniff(video) != "mp4":
        findings.append(Finding(CODE_VIDEO_FORMAT, "Training video is not an MP4 file"))
    else:
        findings.extend(_video_findings(store.file_path(job_id, "training_video", 0)))
    for asset, side in (("id_card_image1", "front (portrait side)"), ("id_card_image2", "back (emblem side)")):
        head = _head(store, job_id, asset)
        if head is None:
            findings.append(Finding(CODE_ID_MISSING, f"ID card {side} image missing"))
        elif sniff(head) not in _IMAGE:
            findings.append(Finding(CODE_ID_FORMAT, f"ID card {side} image must be JPEG or PNG"))
    letter = _head(store, job_id, "grant_file")
    if letter is None:
        findings.append(Finding(CODE_LETTER_MISSING, "Authorization letter missing"))
    elif sniff(letter) not in _LETTER:
        findings.append(Finding(CODE_LETTER_FORMAT, "Authorization letter must be PDF, JPG/JPEG or PNG"))
    if job.get("audio_source_type") == "AUDIO":
        audio = _head(store, job_id, "audio")
        if audio is None or sniff(audio) != "zip":
            findings.append(Finding(CODE_AUDIO, "Audio source AUDIO needs a zip of wav and txt files"))
    current = {record.asset: record.sha256 for record in store.files_of(job_id) if record.part == 0}
    for asset, bad in meta.get("known_bad", {}).items():
        if current.get(asset) == bad["sha256"]:
            findings.append(Finding(bad["error_code"], bad["log_description"]))
    return findings
