"""Which pre-flight findings a machine can repair, with which repair, and why the others cannot be.

Pure functions of the pre-flight module's findings (:mod:`metastudio_provider.media`): the plan of
the remediation DAG, the ``metastudio-media`` command and the repair itself share them, so a
finding is called repairable in one place only. ``docs/media.md`` ("Repairs") explains each choice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from metastudio_provider.media import (
    DURATION_TOLERANCE_S,
    FORMAT_LABELS,
    MAX_DURATION_S,
    MIN_DURATION_S,
    TRAINING_RESOLUTIONS,
    format_duration,
)

REMUX, TRIM, DOWNSCALE = "remux", "trim", "downscale"
REPAIRS = (REMUX, TRIM, DOWNSCALE)
SAFE_REPAIRS = (REMUX, TRIM)  # copy streams; DOWNSCALE re-encodes, so it is always asked for by name
# Containers whose streams are copied into an MP4 as they are (the pre-flight format names).
REMUXABLE_FORMATS = ("mov", "matroska")
REMUXABLE_LABELS = frozenset(FORMAT_LABELS[name] for name in REMUXABLE_FORMATS)
# Trim to this length by default: 10 s under MetaStudio's 10 minutes, so no rounding can reject it.
DEFAULT_MAX_DURATION_S = MAX_DURATION_S - 10
LONGEST_ACCEPTED_S = MAX_DURATION_S + DURATION_TOLERANCE_S


@dataclass(frozen=True)
class Verdict:
    """What can be done about one finding: ``repair`` (an entry of :data:`REPAIRS`) or ``None`` and why not."""

    rule: str
    repair: str | None
    why: str


def verdict(finding: Mapping[str, Any]) -> Verdict:
    """The repair a finding (a ``Finding.to_dict()``) needs, or why none can fix it honestly."""
    rule, measured = finding.get("rule", ""), str(finding.get("measured") or "")
    if rule in ("video.container", "extension.mismatch") and measured in REMUXABLE_LABELS:
        return Verdict(rule, REMUX, f"the streams of the {measured} file are copied into an MP4")
    if rule == "video.container":
        return Verdict(rule, None, f"{measured or 'the file'} is not a video container whose streams MP4 can carry")
    if rule == "video.duration":
        return _duration_verdict(measured)
    if rule == "video.resolution":
        return _resolution_verdict(measured)
    return Verdict(rule, None, NEVER_REPAIRED.get(rule, "no mechanical repair exists for this rule"))


NEVER_REPAIRED = {
    "video.truncated": "the file is damaged: what is missing cannot be recovered; ask for the complete file",
    "video.no_video_track": "there is no picture to repair; ask for the video recording",
    "file.empty": "the file is empty",
    "extension.mismatch": "the content is another kind of file: the wrong file was picked",
}


def _duration_verdict(measured: str) -> Verdict:
    seconds = _seconds(measured)
    if seconds is not None and seconds > LONGEST_ACCEPTED_S:
        longest = format_duration(DEFAULT_MAX_DURATION_S)
        return Verdict("video.duration", TRIM, f"cut to at most {longest} from a keyframe")
    return Verdict(
        "video.duration",
        None,
        f"shorter than {MIN_DURATION_S / 60:g} minutes: nothing can add recording time; ask for a longer take",
    )


def _resolution_verdict(measured: str) -> Verdict:
    size = _size(measured)
    if size is None:
        return Verdict("video.resolution", None, f"the size {measured!r} cannot be read")
    target = downscale_target(*size)
    if target is not None:
        return Verdict("video.resolution", DOWNSCALE, f"re-encoded (H.264) at {target[0]}x{target[1]}")
    return Verdict("video.resolution", None, why_not_resized(*size))


def downscale_target(width: int, height: int) -> tuple[int, int] | None:
    """The largest accepted size with the same aspect as ``width`` x ``height`` (displayed) and not larger.

    ``None`` when no accepted size has that exact aspect, or every one of them is larger (the
    video is smaller than 1080p): an accepted size is never reached by cropping or upscaling.
    """
    fits = [(w, h) for w, h in TRAINING_RESOLUTIONS if w * height == h * width and w <= width and h <= height]
    if not fits or (width, height) in TRAINING_RESOLUTIONS:
        return None
    return max(fits)


def why_not_resized(width: int, height: int) -> str:
    """The honest reason a ``width`` x ``height`` video is not resized (see :func:`downscale_target`)."""
    if width * 9 != height * 16 and width * 16 != height * 9:
        return (
            f"{width}x{height} is not 16:9 or 9:16: reaching an accepted size would crop or stretch the picture; "
            "ask for a 16:9 or 9:16 recording"
        )
    return f"{width}x{height} is smaller than 1080p: upscaling adds no detail; ask for a 1080p or 4K recording"


def verdicts(findings: Iterable[Mapping[str, Any]]) -> list[Verdict]:
    return [verdict(finding) for finding in findings]


def repairs_needed(findings: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[Verdict]]:
    """(the repairs every finding needs, in :data:`REPAIRS` order; the verdicts no repair can fix)."""
    found = verdicts(findings)
    wanted = {v.repair for v in found if v.repair}
    return [name for name in REPAIRS if name in wanted], [v for v in found if v.repair is None]


def parse_allow(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"remux,trim"`` (or a list) -> ``("remux", "trim")``; raises ValueError naming an unknown repair."""
    names = [part.strip() for part in (text.split(",") if isinstance(text, str) else text) if part.strip()]
    unknown = sorted(set(names) - set(REPAIRS))
    if unknown:
        raise ValueError(f"unknown repair(s) {', '.join(unknown)}; use {', '.join(REPAIRS)}")
    return tuple(name for name in REPAIRS if name in names)


def _seconds(measured: str) -> float | None:
    match = re.fullmatch(r"(\d+(?:\.\d+)?) s", measured.strip())
    return float(match.group(1)) if match else None


def _size(measured: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)x(\d+)", measured.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None
