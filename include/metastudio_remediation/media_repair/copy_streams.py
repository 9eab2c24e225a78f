"""Remux and trim: copy the video and audio packets of a span into an MP4, never decoding them.

Memory stays bounded whatever the file size: packets are read, re-timed and written one at a
time (FFmpeg's MP4 muxer keeps only the sample index, about 1 MiB per 10 minutes, until it writes
``moov`` at the end). Timestamps are shifted by the same instant on every stream, so audio stays
in sync with the picture.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from metastudio_remediation.media_repair.progress import ProgressCallback, Throttle
from metastudio_remediation.media_repair.timeline import Span, Timeline


class Cut:
    """Which packets of a stream fall inside the span, and their timestamps moved to the new start."""

    def __init__(self, stream: Any, span: Span, offset: float) -> None:
        self.base: Fraction = stream.time_base
        self._seconds_per_tick = float(self.base)  # a float: this runs for every packet
        self.origin = stream.start_time or 0
        self.start, self.end = span.start, span.end
        self.shift = round(Fraction(offset) / self.base) if offset else 0
        self.finished = False

    def seconds(self, timestamp: int) -> float:
        return (timestamp - self.origin) * self._seconds_per_tick

    def keep(self, at: float) -> bool:
        """True when a packet (or frame) at ``at`` seconds is inside the span; marks the stream finished after it."""
        if self.end is not None and at >= self.end:
            self.finished = True
            return False
        return at >= self.start

    def move(self, packet: Any) -> None:
        if self.shift:
            packet.pts = None if packet.pts is None else packet.pts - self.shift
            packet.dts = None if packet.dts is None else packet.dts - self.shift


def copy_streams(
    source: Any,
    dest: str,
    timeline: Timeline,
    span: Span,
    *,
    label: str,
    progress: ProgressCallback | None = None,
) -> None:
    """Write the span of ``source`` (an open input container) to the MP4 ``dest`` by copying packets."""
    import av

    throttle = Throttle(progress, label, span.length(timeline.duration))
    with av.open(dest, "w", format="mp4") as out:
        streams = [stream for stream in (timeline.video, timeline.audio) if stream is not None]
        targets = {stream.index: out.add_stream_from_template(stream) for stream in streams}
        cuts = {stream.index: Cut(stream, span, span.start) for stream in streams}
        video_cut = cuts[timeline.video.index]
        if span.start:
            source.seek(round(Fraction(span.start) / video_cut.base) + video_cut.origin, stream=timeline.video)
        for packet in source.demux(*streams):
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            cut = cuts[packet.stream.index]
            # Video is cut in decode order at keyframes; audio (no reordering) at the same instants.
            at = cut.seconds(packet.dts if packet.stream is timeline.video else packet.pts)
            if not cut.keep(at):
                if all(c.finished for c in cuts.values()):
                    break
                continue
            cut.move(packet)
            packet.stream = targets[packet.stream.index]
            out.mux(packet)
            if cut is video_cut:
                throttle.update(at - span.start)
    throttle.finish()
