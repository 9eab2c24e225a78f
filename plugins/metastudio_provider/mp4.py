"""ISO base media file format (MP4) boxes: the few that tell a video's size, rotation, codec and length.

Boxes (ISO/IEC 14496-12): ``ftyp``, ``moov`` > ``mvhd``, ``trak`` > ``tkhd``, ``mdia`` > ``mdhd``,
``hdlr``, ``minf`` > ``stbl`` > ``stsd``; for fragmented files ``mvex`` > ``mehd``, ``trex`` and
``moof`` > ``traf`` > ``tfhd``, ``tfdt``, ``trun``. :func:`top_level_boxes` walks a file by box
headers; the other functions parse box payloads already in memory. Used by
:mod:`metastudio_provider.media`, which decides what the measurements mean.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

Buffer = Union[bytes, memoryview]  # noqa: UP007 - a runtime alias on Python 3.10 as well


@dataclass(frozen=True)
class BoxHeader:
    """One top-level box: where it starts, its type, its whole size and its header's size (8 or 16)."""

    offset: int
    type: bytes
    size: int
    header: int = 8

    @property
    def body_offset(self) -> int:
        return self.offset + self.header

    @property
    def body_size(self) -> int:
        return self.size - self.header


def top_level_boxes(read_at: Callable[[int, int], bytes], file_size: int) -> Iterator[BoxHeader | str]:
    """Each top-level box of a file, reading only the box headers; a string (the error) ends the walk.

    ``read_at(offset, length)`` reads from the file; each box costs one read of 16 bytes at most.
    Every legal size form is read: a 32-bit size, ``1`` (a 64-bit size follows the type) and ``0``
    (the box runs to the end of the file). The walk stops at the first error: a box running past
    the end of the file, an invalid size. The caller bounds how many boxes it walks.
    """
    offset = 0
    while offset < file_size:
        header = read_at(offset, 16)
        if len(header) < 8:
            yield f"{file_size - offset} stray bytes after the last box at offset {offset}"
            return
        size, box_type = struct.unpack(">I4s", header[:8])
        header_size = 8
        if size == 1:
            if len(header) < 16:
                yield f"box {_fourcc(box_type)} at offset {offset} is cut short"
                return
            size = struct.unpack(">Q", header[8:16])[0]
            header_size = 16
        elif size == 0:  # the box runs to the end of the file
            size = file_size - offset
        if size < header_size:
            yield f"box {_fourcc(box_type)} at offset {offset} has an invalid size {size}"
            return
        if offset + size > file_size:
            yield (
                f"box {_fourcc(box_type)} at offset {offset} needs {size} bytes but the file ends "
                f"{file_size - offset} bytes later"
            )
            return
        yield BoxHeader(offset, box_type, size, header_size)
        offset += size


def _fourcc(box_type: bytes) -> str:
    box_type = bytes(box_type)
    return box_type.decode("latin-1") if box_type.isascii() and box_type.isalnum() else repr(box_type)


def _children(data: Buffer, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, memoryview]]:
    """(type, payload) of the boxes in ``data[start:end]``; raises ValueError on a malformed size.

    Payloads are memoryviews of ``data``: walking nested boxes copies nothing, so parsing a moov
    box needs no more memory than the box itself.
    """
    data = memoryview(data)
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, box_type = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            if offset + 16 > end:
                raise ValueError(f"box {_fourcc(box_type)} is cut short")
            size = struct.unpack_from(">Q", data, offset + 8)[0]
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise ValueError(f"box {_fourcc(box_type)} has an invalid size {size}")
        yield box_type, data[offset + header : offset + size]
        offset += size


def _version(body: Buffer, box: str, length: int) -> int:
    """The version byte of a full box, after checking it holds ``length`` bytes (an empty box is corrupt)."""
    if len(body) < length:
        raise ValueError(f"box {box} is {len(body)} bytes, too short to hold its fields")
    return body[0]


def _child(payload: Buffer, *path: bytes) -> memoryview | None:
    for box_type in path:
        payload = next((body for kind, body in _children(payload) if kind == box_type), None)  # type: ignore[assignment]
        if payload is None:
            return None
    return payload


@dataclass
class Track:
    track_id: int
    timescale: int  # of the media (mdhd): fragment times are in it
    handler: str
    codec: str | None
    width: int  # display size before rotation (tkhd), falls back to the coded size
    height: int
    coded_width: int | None
    coded_height: int | None
    rotation: int  # clockwise degrees, 0/90/180/270 (other angles rounded to a multiple of 90)
    duration_s: float | None
    samples: int = 0  # samples indexed in moov (stsz); 0 in a fragmented file
    sample_bytes: int = 0  # their total size
    last_chunk_offset: int | None = None  # the largest file offset in stco/co64


@dataclass
class Movie:
    duration_s: float | None = 0.0  # None: fragmented, and not yet measured from the fragments
    video: Track | None = None
    audio: Track | None = None
    fragmented: bool = False
    default_durations: dict[int, int] = field(default_factory=dict)  # trex: track id -> sample duration
    error: str | None = None

    def facts(self) -> dict[str, Any]:
        duration = None if self.duration_s is None else round(self.duration_s, 3)
        facts: dict[str, Any] = {"duration_s": duration, "fragmented": self.fragmented}
        if self.video:
            turned = self.video.rotation in (90, 270)
            facts.update(
                codec=self.video.codec,
                width=self.video.height if turned else self.video.width,
                height=self.video.width if turned else self.video.height,
                rotation=self.video.rotation,
                stored_width=self.video.width,
                stored_height=self.video.height,
            )
        facts["audio_codec"] = self.audio.codec if self.audio else None
        return facts


def parse_moov(moov: Buffer) -> Movie:
    """Duration and tracks from a moov box's body; a fragmented movie without ``mehd`` gets duration None.

    A malformed or truncated box sets :attr:`Movie.error` (never an exception).
    """
    movie = Movie()
    try:
        track_durations = []
        timescale = 0
        extends = None
        for box_type, body in _children(moov):
            if box_type == b"mvhd":
                timescale, duration = _timescale_duration(body, "mvhd", 12, 20)
                movie.duration_s = duration / timescale if timescale else 0.0
            elif box_type == b"mvex":
                extends = body
            elif box_type == b"trak":
                track = _parse_trak(body)
                if track is None:
                    continue
                track_durations.append(track.duration_s or 0.0)
                if track.handler == "vide" and movie.video is None:
                    movie.video = track
                elif track.handler == "soun" and movie.audio is None:
                    movie.audio = track
        if not movie.duration_s and track_durations:
            movie.duration_s = max(track_durations)
        if extends is not None:
            # Fragmented: mvhd covers only the samples in moov (often none); the whole length is in
            # mehd when the writer knew it, otherwise it comes from the last fragment.
            movie.fragmented = True
            movie.duration_s = None
            for box_type, body in _children(extends):
                if box_type == b"mehd" and timescale:
                    wide = _version(body, "mehd", 8) == 1
                    _need(body, "mehd", 12 if wide else 8)
                    movie.duration_s = struct.unpack_from(">Q" if wide else ">I", body, 4)[0] / timescale
                elif box_type == b"trex":
                    _need(body, "trex", 16)
                    track_id, _index, default_duration = struct.unpack_from(">III", body, 4)
                    movie.default_durations[track_id] = default_duration
    except (ValueError, struct.error) as exc:
        movie.error = str(exc)
    return movie


def fragment_end(moof: Buffer, track_id: int, default_duration: int) -> int | None:
    """End time of ``track_id`` in a moof box (tfdt + its sample durations), in the media timescale.

    Raises ValueError (or ``struct.error``) for a malformed box.
    """
    for box_type, traf in _children(moof):
        if box_type != b"traf":
            continue
        tfhd = _child(traf, b"tfhd")
        if tfhd is None:
            continue
        _need(tfhd, "tfhd", 8)
        if struct.unpack_from(">I", tfhd, 4)[0] != track_id:
            continue
        flags = int.from_bytes(tfhd[1:4], "big")
        position = 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
        if flags & 0x08:
            default_duration = struct.unpack_from(">I", tfhd, position)[0]
        tfdt = _child(traf, b"tfdt")
        if tfdt is None:
            return None
        wide = _version(tfdt, "tfdt", 8) == 1
        _need(tfdt, "tfdt", 12 if wide else 8)
        end = struct.unpack_from(">Q" if wide else ">I", tfdt, 4)[0]
        for kind, trun in _children(traf):
            if kind == b"trun":
                end += _run_duration(trun, default_duration)
        return end
    return None


def _need(body: Buffer, box: str, length: int) -> None:
    if len(body) < length:
        raise ValueError(f"box {box} is {len(body)} bytes, too short to hold its fields")


def _run_duration(trun: Buffer, default_duration: int) -> int:
    _need(trun, "trun", 8)
    flags = int.from_bytes(trun[1:4], "big")
    count = struct.unpack_from(">I", trun, 4)[0]
    if not flags & 0x100:  # no per-sample durations
        return count * default_duration
    position = 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
    stride = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
    _need(trun, "trun", position + count * stride)  # the count is bounded by the box, not trusted
    return sum(struct.unpack_from(">I", trun, position + index * stride)[0] for index in range(count))


def _timescale_duration(body: Buffer, box: str, v0_offset: int, v1_offset: int) -> tuple[int, int]:
    """(timescale, duration) of an mvhd/mdhd full box, version 0 (32-bit) or 1 (64-bit times)."""
    if _version(body, box, v0_offset + 8) == 1:
        _need(body, box, v1_offset + 12)
        return struct.unpack_from(">IQ", body, v1_offset)
    return struct.unpack_from(">II", body, v0_offset)


def _parse_trak(trak: Buffer) -> Track | None:
    tkhd = _child(trak, b"tkhd")
    mdia = _child(trak, b"mdia")
    if tkhd is None or mdia is None:
        return None
    hdlr = _child(mdia, b"hdlr")
    handler = bytes(hdlr[8:12]).decode("latin-1") if hdlr is not None and len(hdlr) >= 12 else ""
    mdhd = _child(mdia, b"mdhd")
    duration_s, timescale = None, 0
    if mdhd is not None:
        timescale, duration = _timescale_duration(mdhd, "mdhd", 12, 20)
        duration_s = duration / timescale if timescale else None
    # tkhd: version 0 has 32-bit times (matrix at 40), version 1 64-bit ones (matrix at 52).
    matrix_at = 52 if _version(tkhd, "tkhd", 84) == 1 else 40
    _need(tkhd, "tkhd", matrix_at + 44)
    a, b, _u, c, d = struct.unpack_from(">iiiii", tkhd, matrix_at)
    width, height = (value >> 16 for value in struct.unpack_from(">II", tkhd, matrix_at + 36))
    stbl = _child(mdia, b"minf", b"stbl")
    codec, coded = _sample_entry(_child(stbl, b"stsd") if stbl is not None else None, handler)
    if (not width or not height) and coded:
        width, height = coded
    samples, sample_bytes = _sample_sizes(stbl)
    return Track(
        track_id=struct.unpack_from(">I", tkhd, 20 if tkhd[0] == 1 else 12)[0],
        timescale=timescale,
        handler=handler,
        codec=codec,
        width=width,
        height=height,
        coded_width=coded[0] if coded else None,
        coded_height=coded[1] if coded else None,
        rotation=_rotation(a, b, c, d),
        duration_s=duration_s,
        samples=samples,
        sample_bytes=sample_bytes,
        last_chunk_offset=_last_chunk_offset(stbl),
    )


def _sample_sizes(stbl: Buffer | None) -> tuple[int, int]:
    """(sample count, total bytes) from ``stsz`` (or ``stz2``: counted, sizes not summed); (0, 0) without one."""
    stsz = _child(stbl, b"stsz") if stbl is not None else None
    if stsz is None:
        stz2 = _child(stbl, b"stz2") if stbl is not None else None
        if stz2 is None:
            return 0, 0
        _need(stz2, "stz2", 12)
        return struct.unpack_from(">I", stz2, 8)[0], 0  # compact sizes: counted, not summed
    _need(stsz, "stsz", 12)
    uniform, count = struct.unpack_from(">II", stsz, 4)
    if uniform:
        return count, uniform * count
    _need(stsz, "stsz", 12 + 4 * count)
    return count, sum(struct.unpack_from(f">{count}I", stsz, 12))


def _last_chunk_offset(stbl: Buffer | None) -> int | None:
    """The largest chunk offset in ``stco`` (32-bit) or ``co64`` (64-bit); None without either or entries."""
    if stbl is None:
        return None
    for box, width in ((b"stco", "I"), (b"co64", "Q")):
        table = _child(stbl, box)
        if table is None:
            continue
        _need(table, box.decode(), 8)
        count = struct.unpack_from(">I", table, 4)[0]
        _need(table, box.decode(), 8 + count * struct.calcsize(width))
        return max(struct.unpack_from(f">{count}{width}", table, 8)) if count else None
    return None


def _sample_entry(stsd: Buffer | None, handler: str) -> tuple[str | None, tuple[int, int] | None]:
    """Codec four-cc of the first sample entry and, for video, its coded width and height."""
    if stsd is None or len(stsd) < 16:
        return None, None
    codec = bytes(stsd[12:16]).decode("latin-1")
    if handler == "vide" and len(stsd) >= 8 + 8 + 36:
        # VisualSampleEntry: 8 header, 6 reserved, 2 data ref, 16 pre-defined/reserved, then width, height.
        return codec, struct.unpack_from(">HH", stsd, 8 + 8 + 24)
    return codec, None


def _rotation(a: int, b: int, c: int, d: int) -> int:
    """Clockwise display rotation in degrees from the tkhd matrix (the ``rotate`` tag's convention)."""
    if not (a or b or c or d):
        return 0
    degrees = math.degrees(math.atan2(b, a))
    return round(degrees / 90.0) * 90 % 360
