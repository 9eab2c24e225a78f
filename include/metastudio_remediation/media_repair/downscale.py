"""Downscale: re-encode the video at an accepted size (H.264), copying the audio as it is.

The one repair that re-encodes, so it is only done when asked for by name. Settings (the
benchmark's ``ffmpeg`` command uses the same; ``docs/media.md`` says why):

* libx264, ``crf`` 18 (visually lossless for faces), ``preset`` ``medium``, High profile, 8-bit
  4:2:0 (``yuv420p``), the source's frame timestamps (a phone's variable frame rate is kept);
* scaling with swscale's Lanczos filter (one context for the whole video, a slice thread per CPU,
  as ffmpeg's scale filter), in the stored orientation: the display matrix is
  copied, so a portrait phone video (stored landscape, rotated 90°) stays portrait;
* frames are decoded, scaled, encoded and written one at a time: memory holds the codec's own
  look-ahead (x264: a few dozen frames), never the video.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from metastudio_remediation.media_repair.copy_streams import Cut
from metastudio_remediation.media_repair.progress import ProgressCallback, Throttle
from metastudio_remediation.media_repair.timeline import Span, Timeline

ENCODER = "libx264"
ENCODER_OPTIONS = {"crf": "18", "preset": "medium", "profile": "high"}
PIXEL_FORMAT = "yuv420p"
SCALER = "LANCZOS"  # swscale flag; ffmpeg -vf scale=...:flags=lanczos
SCALER_THREADS = 0  # swscale slice threads: one per CPU, as ffmpeg's scale filter uses


def downscale(
    source: Any,
    dest: str,
    timeline: Timeline,
    span: Span,
    stored_size: tuple[int, int],
    *,
    rotation: int,
    label: str,
    progress: ProgressCallback | None = None,
) -> None:
    """Re-encode the span of ``source``'s video at ``stored_size`` (before rotation) into the MP4 ``dest``."""
    import av

    width, height = stored_size
    video = timeline.video
    video.thread_type = "AUTO"  # frame-threaded decoding, as the ffmpeg command does
    throttle = Throttle(progress, label, span.length(timeline.duration))
    with av.open(dest, "w", format="mp4") as out:
        encoder = out.add_stream(ENCODER, rate=video.average_rate or video.guessed_rate or 30)
        encoder.width, encoder.height, encoder.pix_fmt = width, height, PIXEL_FORMAT
        encoder.codec_context.time_base = video.time_base
        encoder.options = dict(ENCODER_OPTIONS)
        if rotation % 360:
            encoder.set_display_rotation(-rotation)  # PyAV takes counter-clockwise degrees
        audio_out = out.add_stream_from_template(timeline.audio) if timeline.audio is not None else None
        video_cut = Cut(video, span, span.start)
        audio_cut = Cut(timeline.audio, span, span.start) if timeline.audio is not None else None
        if span.start:
            source.seek(round(Fraction(span.start) / video_cut.base) + video_cut.origin, stream=video)
        streams = [stream for stream in (video, timeline.audio) if stream is not None]
        scaler = av.video.reformatter.VideoReformatter()  # one scaling context for every frame
        for packet in source.demux(*streams):
            if packet.stream is video:
                for frame in packet.decode():
                    _encode(out, encoder, scaler, frame, video_cut, (width, height), throttle)
            elif audio_cut is not None and packet.dts is not None and audio_cut.keep(audio_cut.seconds(packet.pts)):
                audio_cut.move(packet)
                packet.stream = audio_out
                out.mux(packet)
            if video_cut.finished and (audio_cut is None or audio_cut.finished):
                break
        out.mux(encoder.encode(None))
    throttle.finish()


def _encode(
    out: Any, encoder: Any, scaler: Any, frame: Any, cut: Cut, size: tuple[int, int], throttle: Throttle
) -> None:
    if frame.pts is None:
        return
    at = cut.seconds(frame.pts)
    if not cut.keep(at):
        return
    width, height = size
    scaled = scaler.reformat(
        frame, width=width, height=height, format=PIXEL_FORMAT, interpolation=SCALER, threads=SCALER_THREADS
    )
    scaled.pts, scaled.time_base = frame.pts - cut.shift, frame.time_base
    out.mux(encoder.encode(scaled))
    throttle.update(at - cut.start)
