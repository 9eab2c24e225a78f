"""The member names of a ZIP archive, from its central directory, with bounded reads and memory.

The standard library's ``zipfile`` reads as much central directory as the end record claims
(a corrupt archive can make it hold about three times the file in memory), and raises
``UnicodeDecodeError``, ``IndexError`` or ``NotImplementedError`` on member records it does not
expect. The audio check needs only the members' names, so this reads the end record (ZIP64
too), checks that the directory it points to lies inside the file and within
``MAX_DIRECTORY_BYTES``, reads it in one read and walks its records. Anything malformed raises
:class:`ZipLayoutError` with a sentence saying what; nothing else escapes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

MAX_DIRECTORY_BYTES = 16 * 1024 * 1024  # 65,535 members with 200-byte names is 16 MiB
MAX_MEMBERS = 65_535  # the classic ZIP limit; ZIP64 may claim more, no audio archive needs them
_END = b"PK\x05\x06"
_END_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"
_RECORD = b"PK\x01\x02"
_RECORD_SIZE = 46
_MAX_COMMENT = 65_535
_UTF8_FLAG = 0x800


class ZipLayoutError(ValueError):
    """The archive's end record or central directory is missing, inconsistent or corrupt."""


def member_names(read_at: Callable[[int, int], bytes], size: int) -> Iterator[str]:
    """Each member's name, in directory order; raises :class:`ZipLayoutError` for a corrupt archive.

    ``read_at(offset, length)`` reads from the archive. At most the last 64 KiB (the end record and
    its comment) and the central directory (at most ``MAX_DIRECTORY_BYTES``) are read.
    """
    tail_start = max(0, size - _END_SIZE - _MAX_COMMENT)
    tail = read_at(tail_start, size - tail_start)
    count, directory_size, directory_offset, end_offset = _end_record(read_at, tail, tail_start)
    if directory_size > MAX_DIRECTORY_BYTES:
        raise ZipLayoutError(
            f"the central directory claims {directory_size} bytes (more than {MAX_DIRECTORY_BYTES}); "
            "the archive is corrupt"
        )
    if directory_offset + directory_size > end_offset:
        raise ZipLayoutError(
            f"the central directory claims bytes {directory_offset}-{directory_offset + directory_size} "
            f"but the archive's end record is at byte {end_offset}; the archive is cut short or corrupt"
        )
    if count > MAX_MEMBERS or count * _RECORD_SIZE > directory_size:
        raise ZipLayoutError(f"the archive claims {count} members in a {directory_size}-byte directory; corrupt")
    if directory_offset >= tail_start:  # a small archive: the directory was read with the end record
        directory = memoryview(tail)[directory_offset - tail_start : directory_offset - tail_start + directory_size]
    else:
        directory = memoryview(read_at(directory_offset, directory_size))
    if len(directory) != directory_size:
        raise ZipLayoutError("the central directory is cut short")
    position = 0
    for number in range(1, count + 1):
        if position + _RECORD_SIZE > directory_size or directory[position : position + 4] != _RECORD:
            raise ZipLayoutError(f"member record {number} of {count} is missing or corrupt")
        flags = struct.unpack_from("<H", directory, position + 8)[0]
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", directory, position + 28)
        start = position + _RECORD_SIZE
        position = start + name_length + extra_length + comment_length
        if position > directory_size:
            raise ZipLayoutError(f"member record {number} of {count} runs past the central directory")
        raw = bytes(directory[start : start + name_length])
        if not raw:
            raise ZipLayoutError(f"member {number} has an empty name")
        try:
            name = raw.decode("utf-8") if flags & _UTF8_FLAG else raw.decode("cp437")
        except UnicodeDecodeError:
            raise ZipLayoutError(f"member {number} has a name that is not valid UTF-8") from None
        yield name


def _end_record(read_at: Callable[[int, int], bytes], tail: bytes, tail_start: int) -> tuple[int, int, int, int]:
    """(members, directory size, directory offset, end record offset), ZIP64 values where present.

    ``tail`` is the end of the archive from byte ``tail_start``: the end record and its comment.
    """
    found = tail.rfind(_END)
    # A signature too near the end, or one inside the comment: look further back.
    while found >= 0 and (
        found + _END_SIZE > len(tail) or found + _END_SIZE + struct.unpack_from("<H", tail, found + 20)[0] > len(tail)
    ):
        found = tail.rfind(_END, 0, found)
    if found < 0:
        raise ZipLayoutError("no end-of-central-directory record; not a zip archive, or cut short")
    end_offset = tail_start + found
    _sig, disk, _disk_cd, _here, count, directory_size, directory_offset, _comment = struct.unpack_from(
        "<4sHHHHIIH", tail, found
    )
    if disk not in (0, 0xFFFF):
        raise ZipLayoutError("a multi-volume (spanned) archive; MetaStudio needs a single zip file")
    if 0xFFFF in (count,) or 0xFFFFFFFF in (directory_size, directory_offset):
        return _zip64_end_record(read_at, end_offset)
    return count, directory_size, directory_offset, end_offset


def _zip64_end_record(read_at: Callable[[int, int], bytes], end_offset: int) -> tuple[int, int, int, int]:
    locator = read_at(end_offset - 20, 20) if end_offset >= 20 else b""
    if len(locator) < 20 or locator[:4] != _ZIP64_LOCATOR:
        raise ZipLayoutError("the end record asks for ZIP64 values but there is no ZIP64 locator; corrupt")
    record_offset = struct.unpack_from("<Q", locator, 8)[0]
    if record_offset + 56 > end_offset:
        raise ZipLayoutError("the ZIP64 end record lies outside the archive; corrupt")
    record = read_at(record_offset, 56)
    if len(record) < 56 or record[:4] != _ZIP64_END:
        raise ZipLayoutError("the ZIP64 end record is missing or corrupt")
    count, directory_size, directory_offset = struct.unpack_from("<QQQ", record, 32)
    return count, directory_size, directory_offset, record_offset
