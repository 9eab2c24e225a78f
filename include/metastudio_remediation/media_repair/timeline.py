"""What a repair copies: the streams kept, their codecs, and the stretch of time cut from a keyframe.

:func:`probe` reads a container's header and its keyframe index through FFmpeg (PyAV) without
decoding; :func:`choose_span` picks the part of the video to keep when it must be trimmed. Both
raise :class:`~metastudio_remediation.media_repair.errors.RepairRefused` with the honest reason
when the streams cannot be copied into an MP4 or no keyframe allows a clean cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from metastudio_provider.media import MIN_DURATION_S, format_duration
from metastudio_remediation.media_repair.errors import RepairRefused

# Codecs an MP4 carries as they are (FFmpeg's names). The video must also be one MetaStudio's
# review decodes: H.264 or H.265.
VIDEO_CODECS = frozenset({"h264", "hevc"})
AUDIO_CODECS = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})
KEYFRAME_FLAG = 1  # AVINDEX_KEYFRAME


@dataclass(frozen=True)
class Timeline:
    """The streams a repair keeps and the video's keyframe times (seconds, decode order)."""

    video: Any  # av.video.stream.VideoStream
    audio: Any | None  # av.audio.stream.AudioStream
    duration: float
    keyframes: tuple[float, ...]
    display_size: tuple[int, int]


@dataclass(frozen=True)
class Span:
    """Keep the video from the keyframe at ``start`` (seconds) up to the keyframe at ``end`` (None: the end)."""

    start: float
    end: float | None

    def length(self, duration: float) -> float:
        return (duration if self.end is None else self.end) - self.start


def probe(container: Any, name: str) -> Timeline:
    """The first video and first audio stream of an open input container, and the video's keyframes."""
    if not container.streams.video:
        raise RepairRefused(f"{name}: no video track; there is no picture to repair")
    video = container.streams.video[0]
    codec = video.codec_context.name
    if codec not in VIDEO_CODECS:
        raise RepairRefused(
            f"{name}: the video is {codec}; only H.264 or H.265 can be copied into an MP4 that MetaStudio reviews"
        )
    audio = container.streams.audio[0] if container.streams.audio else None
    if audio is not None and audio.codec_context.name not in AUDIO_CODECS:
        raise RepairRefused(
            f"{name}: the audio is {audio.codec_context.name}, which an MP4 cannot carry without re-encoding"
        )
    duration = _duration(container, video)
    if duration <= 0:
        raise RepairRefused(f"{name}: the length of the video cannot be measured; the file may be damaged")
    stored = (video.codec_context.width, video.codec_context.height)
    return Timeline(video, audio, duration, _keyframes(video), stored)


def _duration(container: Any, video: Any) -> float:
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    return (container.duration or 0) / 1_000_000


def _keyframes(video: Any) -> tuple[float, ...]:
    """Keyframe times from the container's index (MP4/MOV sample tables, Matroska cues); no packet is read."""
    base = video.time_base or Fraction(1, 1)
    start = video.start_time or 0
    return tuple(
        float((entry.timestamp - start) * base) for entry in video.index_entries if entry.flags & KEYFRAME_FLAG
    )


def _scan_keyframes(container: Any, video: Any) -> tuple[float, ...]:
    """Keyframe times by reading the video packets once (a container without an index); rewinds after."""
    base, start = video.time_base, video.start_time or 0
    found = tuple(
        float((packet.dts - start) * base)
        for packet in container.demux(video)
        if packet.dts is not None and packet.is_keyframe
    )
    container.seek(0)
    return found or (0.0,)


def choose_span(container: Any, timeline: Timeline, max_duration: float, keep: str, name: str) -> Span:
    """The keyframe-to-keyframe stretch of at most ``max_duration`` seconds to keep (``keep``: start or middle).

    The cut starts on a keyframe so every copied frame decodes, and ends just before a keyframe
    so no frame that needs a later one is kept; audio is cut at the same instants.
    """
    duration = timeline.duration
    if duration <= max_duration:
        return Span(0.0, None)
    keyframes = timeline.keyframes or _scan_keyframes(container, timeline.video)
    ideal = 0.0 if keep == "start" else (duration - max_duration) / 2
    starts = [t for t in keyframes if t <= ideal] or [keyframes[0]]
    start = starts[-1]
    ends = [t for t in keyframes if MIN_DURATION_S <= t - start <= max_duration]
    if not ends:
        raise RepairRefused(
            f"{name}: no keyframe between {format_duration(MIN_DURATION_S)} and {format_duration(max_duration)} "
            f"after {format_duration(start)}, so the video cannot be cut without re-encoding it"
        )
    return Span(start, ends[-1])
