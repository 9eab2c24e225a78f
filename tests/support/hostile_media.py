"""Hostile variants of real media files: what an attacker or a broken tool could hand the inspector.

Every maker starts from a real file (an MP4 encoded by PyAV with its ``moov`` at the end, a ZIP
written by ``zipfile``; see ``metastudio_sandbox.samples``) and changes only what its name says,
so a test shows the inspector meeting exactly that fault. Used by the tests, ``bench/media_inspect.py``
and the fuzz seed corpus (``fuzz/``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"edts", b"dinf"}


def top_level(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, whole box) of each top-level box of an MP4 with 32-bit box sizes (what PyAV writes)."""
    boxes, offset = [], 0
    while offset < len(data):
        size, box_type = struct.unpack_from(">I4s", data, offset)
        boxes.append((box_type, data[offset : offset + size]))
        offset += size
    return boxes


def box(box_type: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), box_type) + body


def _split_moov(source: Path) -> tuple[bytes, bytes]:
    """(everything before the trailing moov box, the moov box's body)."""
    boxes = top_level(source.read_bytes())
    if boxes[-1][0] != b"moov":
        raise ValueError(f"{source}: the moov box is not last; these makers need a camera-layout MP4")
    return b"".join(data for _, data in boxes[:-1]), boxes[-1][1][8:]


def box_flood(source: Path, dest: Path, boxes: int, *, before_moov: bool = True) -> Path:
    """``boxes`` empty ``free`` boxes before the moov box (after the media data: offsets stay right), or after it."""
    head, moov = _split_moov(source)
    flood = box(b"free", b"") * boxes
    dest.write_bytes(head + flood + box(b"moov", moov) if before_moov else head + box(b"moov", moov) + flood)
    return dest


def moov_size_form(source: Path, dest: Path, form: str) -> Path:
    """The same video with its moov box header in another legal form: ``"64bit"`` (size 1) or ``"to_end"`` (size 0)."""
    head, moov = _split_moov(source)
    if form == "64bit":
        header = struct.pack(">I4sQ", 1, b"moov", 16 + len(moov))
    elif form == "to_end":
        header = struct.pack(">I4s", 0, b"moov")
    else:
        raise ValueError(form)
    dest.write_bytes(head + header + moov)
    return dest


def _rewrite(body: bytes, path: tuple[bytes, ...], change: Callable[[bytes], bytes]) -> bytes:
    """``body`` (a container's payload) with the box at ``path`` below it replaced by ``change(its payload)``."""
    out, offset, done = b"", 0, False
    while offset + 8 <= len(body):
        size, box_type = struct.unpack_from(">I4s", body, offset)
        payload = body[offset + 8 : offset + size]
        if not done and box_type == path[0]:
            payload = change(payload) if len(path) == 1 else _rewrite(payload, path[1:], change)
            done = True
        out += box(box_type, payload)
        offset += size
    if not done:
        raise ValueError(f"no {path[0]!r} box")
    return out


def changed_moov(source: Path, dest: Path, path: tuple[bytes, ...], change: Callable[[bytes], bytes]) -> Path:
    """The video with the box at ``path`` inside moov (e.g. ``(b"trak", b"tkhd")``) changed by ``change``."""
    head, moov = _split_moov(source)
    dest.write_bytes(head + box(b"moov", _rewrite(moov, path, change)))
    return dest


def empty_box(source: Path, dest: Path, *path: bytes) -> Path:
    """The video with the box at ``path`` inside moov emptied (a box of 8 header bytes and no body)."""
    return changed_moov(source, dest, path, lambda _payload: b"")


def with_mvex(source: Path, dest: Path, mvex_body: bytes) -> Path:
    """The video's moov with an ``mvex`` box (the mark of a fragmented file) holding ``mvex_body``."""
    head, moov = _split_moov(source)
    dest.write_bytes(head + box(b"moov", moov + box(b"mvex", mvex_body)))
    return dest


def index_only(source: Path, dest: Path) -> Path:
    """Only ``ftyp`` and ``moov``: the index of the video without its media data (offsets point past the end)."""
    boxes = top_level(source.read_bytes())
    dest.write_bytes(b"".join(data for box_type, data in boxes if box_type in (b"ftyp", b"moov")))
    return dest


# --- ZIP --------------------------------------------------------------------------------------


def _end_record_at(data: bytes) -> int:
    return data.rindex(b"PK\x05\x06")


def lying_zip(source: Path, dest: Path, claimed_directory_bytes: int) -> Path:
    """A real archive whose end record claims a central directory of ``claimed_directory_bytes``."""
    data = bytearray(source.read_bytes())
    struct.pack_into("<I", data, _end_record_at(data) + 12, claimed_directory_bytes)
    dest.write_bytes(bytes(data))
    return dest


def _first_record(data: bytes) -> int:
    end = _end_record_at(data)
    return struct.unpack_from("<I", data, end + 16)[0]


def zip_member_name_not_utf8(source: Path, dest: Path) -> Path:
    """The first member's name flagged UTF-8 but holding the byte 0xff."""
    data = bytearray(source.read_bytes())
    record = _first_record(data)
    flags = struct.unpack_from("<H", data, record + 8)[0]
    struct.pack_into("<H", data, record + 8, flags | 0x800)
    data[record + 46] = 0xFF
    dest.write_bytes(bytes(data))
    return dest


def zip_member_empty_name(source: Path, dest: Path) -> Path:
    """The first member's name length set to 0 (its name bytes count as extra data instead)."""
    data = bytearray(source.read_bytes())
    record = _first_record(data)
    name_length, extra_length = struct.unpack_from("<HH", data, record + 28)
    struct.pack_into("<HH", data, record + 28, 0, extra_length + name_length)
    dest.write_bytes(bytes(data))
    return dest


def zip_member_future_version(source: Path, dest: Path) -> Path:
    """The first member needs "version 9.9" to extract (the stdlib raises NotImplementedError on it)."""
    data = bytearray(source.read_bytes())
    struct.pack_into("<H", data, _first_record(data) + 6, 99)
    dest.write_bytes(bytes(data))
    return dest
