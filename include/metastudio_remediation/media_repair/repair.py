"""Repair one video so it passes the pre-flight rules: remux, trim, downscale, or refuse and write nothing.

:func:`repair_file` inspects the source with the pre-flight rules (:func:`inspect_asset`), decides
the repairs its findings need (:mod:`.rules`), refuses when one is not allowed or none can fix a
finding honestly, writes the repaired MP4 next to ``dest`` under a temporary name, inspects that
file again with the same rules and only then renames it to ``dest``. On any refusal or error the
temporary file is removed: ``dest`` is either the whole, checked result or not there at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metastudio_provider.media import (
    MAX_DURATION_S,
    MIN_DURATION_S,
    TRAINING_RESOLUTIONS,
    Inspection,
    format_duration,
    inspect_asset,
)
from metastudio_remediation.media_repair import rules
from metastudio_remediation.media_repair.copy_streams import copy_streams
from metastudio_remediation.media_repair.downscale import downscale
from metastudio_remediation.media_repair.errors import RepairRefused
from metastudio_remediation.media_repair.progress import ProgressCallback
from metastudio_remediation.media_repair.sources import Source, name_of, opened_for_ffmpeg
from metastudio_remediation.media_repair.timeline import Span, Timeline, choose_span, probe

KEEP = ("start", "middle")


@dataclass(frozen=True)
class RepairResult:
    """What a repair did: the repairs made (empty: the file already passed, nothing written), and
    the inspection before and after (the after one is of ``dest``, with the pre-flight rules)."""

    source: str
    dest: str | None
    repairs: tuple[str, ...]
    before: Inspection
    after: Inspection | None
    changes: tuple[dict[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dest": self.dest,
            "repairs": list(self.repairs),
            "changes": [dict(change) for change in self.changes],
            "before": self.before.to_dict(),
            "after": self.after.to_dict() if self.after else None,
        }


def repair_file(
    source: Source,
    dest: str | os.PathLike[str],
    *,
    kind: str = "training_video",
    allow: Iterable[str] = rules.SAFE_REPAIRS,
    keep: str = "start",
    max_duration: float = rules.DEFAULT_MAX_DURATION_S,
    progress: ProgressCallback | None = None,
) -> RepairResult:
    """Repair ``source`` (a local path or an object-storage URL) into the MP4 ``dest`` (a local path).

    :param allow: the repairs that may be made (:data:`rules.REPAIRS`); ``downscale`` re-encodes
    :param keep: for a trim, keep the ``start`` of the recording or its ``middle``
    :param max_duration: a trimmed video's longest length in seconds (180-600; default 590)
    :raises RepairRefused: a finding no allowed repair can fix (nothing is written)
    :raises ValueError: a bad argument; :class:`~metastudio_provider.media.AssetSourceError`: unreadable source
    """
    allowed = rules.parse_allow(allow)
    _check_arguments(kind, keep, max_duration, dest)
    name = name_of(source)
    before = inspect_asset(kind, source, name=name)
    if before.ok:
        return RepairResult(str(source), None, (), before, None)
    needed = _needed(before.findings, allowed, name)
    target = Path(dest)
    scratch = target.with_name(f".{target.name}.partial")
    try:
        changes = _write(source, str(scratch), before, needed, allowed, keep, max_duration, progress, name)
        after = inspect_asset(kind, scratch, name=target.name)
        if not after.ok:
            problems = "; ".join(finding.message for finding in after.findings)
            raise RepairRefused(f"{name}: the repaired file would still fail review ({problems}); nothing written")
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)
    repairs = tuple(name for name in rules.REPAIRS if any(change["repair"] == name for change in changes))
    return RepairResult(str(source), str(target), repairs, before, after, tuple(changes))


def _check_arguments(kind: str, keep: str, max_duration: float, dest: str | os.PathLike[str]) -> None:
    if kind not in ("training_video", "action_video"):
        raise ValueError(f"only videos are repaired (training_video, action_video), not {kind}")
    if keep not in KEEP:
        raise ValueError(f"keep must be start or middle, not {keep!r}")
    if not MIN_DURATION_S <= max_duration <= MAX_DURATION_S:
        raise ValueError(
            f"max_duration {max_duration:g} s is outside MetaStudio's {MIN_DURATION_S:g} to {MAX_DURATION_S:g} s"
        )
    if Path(dest).suffix.lower() != ".mp4":
        raise ValueError(f"the repaired file is an MP4: name it .mp4, not {Path(dest).name!r}")


def _needed(findings: Iterable[Any], allowed: tuple[str, ...], name: str) -> list[str]:
    """The repairs the findings need; refuses when one is not allowed or a finding has none."""
    needed, hopeless = rules.repairs_needed(finding.to_dict() for finding in findings)
    if hopeless:
        reasons = "; ".join(f"{verdict.rule}: {verdict.why}" for verdict in hopeless)
        raise RepairRefused(f"{name}: cannot be repaired honestly ({reasons}); nothing written")
    missing = [repair for repair in needed if repair not in allowed]
    if missing:
        raise RepairRefused(
            f"{name}: needs {', '.join(missing)}, which is not allowed (allowed: {', '.join(allowed) or 'none'}); "
            f"allow it with --allow {','.join(dict.fromkeys([*allowed, *missing]))}"
            + (" (downscale re-encodes the video)" if rules.DOWNSCALE in missing else "")
        )
    return needed


def _write(
    source: Source,
    scratch: str,
    before: Inspection,
    needed: list[str],
    allowed: tuple[str, ...],
    keep: str,
    max_duration: float,
    progress: ProgressCallback | None,
    name: str,
) -> list[dict[str, Any]]:
    """Probe the source with FFmpeg, settle the repairs, write ``scratch``; the changes made, for the report."""
    import av

    with opened_for_ffmpeg(source) as readable:
        try:
            container = av.open(readable, "r")
        except av.FFmpegError as exc:
            raise RepairRefused(f"{name}: FFmpeg cannot read it ({exc}); the file is damaged") from None
        with container:
            timeline = probe(container, name)
            rotation = int(before.facts.get("rotation") or 0)
            displayed = _displayed(timeline, rotation)
            needed = _measured_needs(needed, before, timeline, displayed, allowed, name)
            span = choose_span(container, timeline, max_duration, keep, name) if rules.TRIM in needed else Span(0, None)
            changes = _changes(before, needed, timeline, span, displayed)
            label = "+".join(needed)
            try:
                if rules.DOWNSCALE in needed:
                    width, height = rules.downscale_target(*displayed) or displayed
                    stored = (height, width) if rotation in (90, 270) else (width, height)
                    downscale(
                        container, scratch, timeline, span, stored, rotation=rotation, label=label, progress=progress
                    )
                else:
                    copy_streams(container, scratch, timeline, span, label=label, progress=progress)
            except av.FFmpegError as exc:
                raise RepairRefused(f"{name}: FFmpeg stopped while repairing ({exc}); the file is damaged") from None
    return changes


def _displayed(timeline: Timeline, rotation: int) -> tuple[int, int]:
    width, height = timeline.display_size
    return (height, width) if rotation in (90, 270) else (width, height)


def _measured_needs(
    needed: list[str],
    before: Inspection,
    timeline: Timeline,
    displayed: tuple[int, int],
    allowed: tuple[str, ...],
    name: str,
) -> list[str]:
    """Add what only FFmpeg could measure (a Matroska file's length and size) to the repairs needed."""
    if before.facts.get("duration_s") is not None:
        return needed
    found: list[dict[str, Any]] = []
    if timeline.duration > rules.LONGEST_ACCEPTED_S or timeline.duration < MIN_DURATION_S:
        found.append({"rule": "video.duration", "measured": f"{timeline.duration:.1f} s"})
    if before.kind == "training_video" and displayed not in TRAINING_RESOLUTIONS:
        found.append({"rule": "video.resolution", "measured": f"{displayed[0]}x{displayed[1]}"})
    extra, hopeless = rules.repairs_needed(found)
    if hopeless:
        reasons = "; ".join(f"{verdict.rule}: {verdict.why}" for verdict in hopeless)
        raise RepairRefused(f"{name}: cannot be repaired honestly ({reasons}); nothing written")
    missing = [repair for repair in extra if repair not in allowed]
    if missing:
        raise RepairRefused(f"{name}: also needs {', '.join(missing)}, which is not allowed; nothing written")
    return [repair for repair in rules.REPAIRS if repair in needed or repair in extra]


def _changes(
    before: Inspection, needed: list[str], timeline: Timeline, span: Span, displayed: tuple[int, int]
) -> list[dict[str, Any]]:
    """One entry per repair: the rule it fixes, the value before and after."""
    changes: list[dict[str, Any]] = []
    if rules.REMUX in needed:
        label = {"mov": "QuickTime MOV", "matroska": "Matroska"}.get(str(before.facts.get("format")), "?")
        changes.append({"repair": rules.REMUX, "rule": "video.container", "before": label, "after": "MP4"})
    if rules.TRIM in needed:
        kept = span.length(timeline.duration)
        changes.append(
            {
                "repair": rules.TRIM,
                "rule": "video.duration",
                "before": format_duration(timeline.duration),
                "after": format_duration(kept),
                "kept_from_s": round(span.start, 3),
                "kept_to_s": round(span.start + kept, 3),
            }
        )
    if rules.DOWNSCALE in needed:
        width, height = rules.downscale_target(*displayed) or displayed
        changes.append(
            {
                "repair": rules.DOWNSCALE,
                "rule": "video.resolution",
                "before": f"{displayed[0]}x{displayed[1]}",
                "after": f"{width}x{height}",
            }
        )
    return changes


def describe(changes: Iterable[Mapping[str, Any]]) -> str:
    """``remux (video.container: QuickTime MOV -> MP4), trim (video.duration: 10 min 30 s -> 9 min 50 s)``."""
    return ", ".join(f"{c['repair']} ({c['rule']}: {c['before']} -> {c['after']})" for c in changes)
