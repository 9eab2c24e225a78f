"""Pre-flight inspection of one asset against the rules MetaStudio's review applies.

:func:`inspect_asset` reads only what it needs, through seeks on a file-like object, so it works
the same on a local file and on an object-storage path (``airflow.sdk.ObjectStoragePath``):

* MP4 (training and action videos): the top-level box headers (a few bytes each) and the whole
  ``moov`` box, wherever it is (start or end of the file); from it ``mvhd`` (duration), the video
  track's ``tkhd`` (display size and rotation matrix), ``mdhd``/``hdlr`` and ``stsd`` (codec).
* JPEG/PNG: the header up to the frame size (JPEG SOF marker, PNG ``IHDR``).
* PDF: the ``%PDF-`` header and the last KiB (``%%EOF``).
* ZIP (audio): the end-of-central-directory record and the central directory
  (:mod:`metastudio_provider.zip_directory`, bounded by the file's size and 16 MiB).

Every walk is capped (boxes, markers, directory bytes) and one inspection reads at most
``MAX_READ_BYTES``, so any file, however hostile, is inspected in bounded time and memory.

A file that breaks a rule gives a :class:`Finding` (a stable rule id, a one-sentence message naming
the file, what was measured, and MetaStudio's review code when known); a truncated or corrupt file
is a finding too. Only a source that cannot be opened or read raises :class:`AssetSourceError`.
The rules, messages and the choice of a hand-written box parser over a media library are in
``docs/media.md``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from metastudio_provider import mp4, zip_directory
from metastudio_provider.redaction import redact_url, scrub_text
from metastudio_provider.sources import file_size, is_object_storage

if TYPE_CHECKING:
    from metastudio_provider.hooks.upload import OpenableSource

# --- the rules ------------------------------------------------------------------------------------

TRAINING_RESOLUTIONS: tuple[tuple[int, int], ...] = ((1920, 1080), (1080, 1920), (3840, 2160), (2160, 3840))
MIN_DURATION_S = 180.0
MAX_DURATION_S = 600.0
# MetaStudio does not say how it rounds a duration; a video within half a second of a bound is
# given the benefit of the doubt, so pre-flight never refuses a file the service might accept.
DURATION_TOLERANCE_S = 0.5
_RESOLUTION_NAMES = [f"{w}x{h}" for w, h in TRAINING_RESOLUTIONS]
ACCEPTED_RESOLUTIONS = ", ".join(_RESOLUTION_NAMES[:-1]) + " or " + _RESOLUTION_NAMES[-1]  # for messages
REVIEW_CODE_RESOLUTION = "44005901"  # documented: operation_logs[].error_code for a bad resolution

# Accepted content formats per asset kind (the manifest's kind names) and the rule id for a wrong one.
KIND_FORMATS: dict[str, tuple[tuple[str, ...], str]] = {
    "training_video": (("mp4",), "video.container"),
    "action_video": (("mp4",), "video.container"),
    "audio": (("zip",), "audio.format"),
    "cover": (("jpeg", "png"), "image.format"),
    "id_card_front": (("jpeg", "png"), "image.format"),
    "id_card_back": (("jpeg", "png"), "image.format"),
    "authorization_letter": (("pdf", "jpeg", "png"), "letter.format"),
}
VIDEO_KINDS = frozenset({"training_video", "action_video"})

# What a file name's extension promises; an extension not listed here promises nothing.
EXTENSION_FORMATS: dict[str, str] = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".png": "png",
    ".pdf": "pdf",
    ".zip": "zip",
    ".webp": "webp",
    ".gif": "gif",
    ".wav": "wav",
}
FORMAT_LABELS = {
    "mp4": "MP4",
    "mov": "QuickTime MOV",
    "matroska": "Matroska",
    "jpeg": "JPEG",
    "png": "PNG",
    "pdf": "PDF",
    "zip": "ZIP",
    "webp": "WebP",
    "gif": "GIF",
    "wav": "WAV",
}

# --- reading limits -------------------------------------------------------------------------------

HEAD_BYTES = 64  # enough to recognise every format above
TAIL_BYTES = 1024  # a PDF's %%EOF must be in its last KiB (the limit PDF readers apply)
MAX_MOOV_BYTES = 32 * 1024 * 1024  # 10 min of 4K at 60 fps needs ~1 MiB; more is a broken file
MAX_TOP_LEVEL_BOXES = 10_000  # before and after moov; a fragmented MP4 has a moof/mdat pair per fragment
MAX_JPEG_HEADER_BYTES = 1024 * 1024  # EXIF/ICC segments before the SOF marker are at most a few 64 KiB
# Everything one inspection may read: the moov box, the last moof box, the box headers; or a zip's
# central directory; or a JPEG's header. It also bounds the memory an inspection holds (docs/media.md).
MAX_READ_BYTES = 2 * MAX_MOOV_BYTES + 1024 * 1024
_CORRUPT_RULES = {"mp4": "video.truncated", "jpeg": "image.truncated", "png": "image.truncated",
                  "pdf": "letter.truncated", "zip": "audio.format"}  # fmt: skip
OBJECT_STORE_BLOCK = 64 * 1024  # fsspec read-ahead block: a header read fetches 64 KiB, not 5-50 MiB


class AssetSourceError(OSError):
    """The asset cannot be opened or read at all (missing, permission denied, storage error).

    An ``OSError`` rather than a ``MetaStudioError``: this module imports neither Airflow nor
    ``requests``, so the sandbox's reviewer reuses it without loading Airflow.
    """


@dataclass(frozen=True)
class Finding:
    """One rule the asset breaks.

    :param rule: stable id (``video.resolution``, ``video.duration``, ``video.container``,
        ``video.truncated``, ``video.no_video_track``, ``image.format``, ``image.truncated``,
        ``letter.format``, ``letter.truncated``, ``audio.format``, ``audio.members``,
        ``extension.mismatch``, ``file.empty``)
    :param message: one sentence naming the file, what was measured and the rule
    :param measured: the measured value (``"1280x720"``, ``"120.0 s"``), if the rule measures one
    :param review_code: MetaStudio's automatic-review error code for this rule, when known
    """

    rule: str
    message: str
    measured: str | None
    review_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "message": self.message, "measured": self.measured, "review_code": self.review_code}


@dataclass(frozen=True)
class Inspection:
    """What was measured on one asset and every rule it breaks (none: :attr:`ok`)."""

    kind: str
    name: str
    facts: dict[str, Any]
    findings: tuple[Finding, ...]
    bytes_read: int

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "ok": self.ok,
            "facts": dict(self.facts),
            "findings": [finding.to_dict() for finding in self.findings],
            "bytes_read": self.bytes_read,
        }


def inspect_asset(kind: str, source: str | os.PathLike[str] | OpenableSource, *, name: str | None = None) -> Inspection:
    """Inspect one asset of ``kind`` (a manifest asset kind) against MetaStudio's upload rules.

    :param source: a local path, or anything with ``open("rb")`` and ``stat()`` such as
        ``airflow.sdk.ObjectStoragePath``; a string with a scheme (``s3://…``) is opened as an
        ``ObjectStoragePath``
    :param name: the file name used in messages; default: the source's base name (never a URL query)
    :raises ValueError: for an unknown ``kind``
    :raises AssetSourceError: when the source cannot be opened or read
    """
    if kind not in KIND_FORMATS:
        raise ValueError(f"unknown asset kind {kind!r}; use one of {', '.join(KIND_FORMATS)}")
    label = name or display_name(source)
    try:
        with _open(source) as stream:
            reader = _Reader(stream, _size(source, stream))
            check = _Check(kind, label, reader)
            check.run()
    except OSError as exc:
        reason = exc.strerror or scrub_text(str(exc)) or type(exc).__name__
        raise AssetSourceError(f"cannot read {kind} asset {_location(source)}: {reason}") from None
    return Inspection(kind, label, check.facts, tuple(check.findings), reader.bytes_read)


def display_name(source: str | os.PathLike[str] | OpenableSource) -> str:
    """The base name of a path or URI, without a query string or credentials."""
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        path = urlsplit(text).path if is_object_storage(text) else text
    else:
        path = str(getattr(source, "path", None) or getattr(source, "name", None) or type(source).__name__)
        path = urlsplit(path).path if is_object_storage(path) else path
    return os.path.basename(path.rstrip("/")) or path


def _location(source: str | os.PathLike[str] | OpenableSource) -> str:
    """Where the source is, for an error message: a path, or a URI without query string or user info."""
    text = os.fspath(source) if isinstance(source, (str, os.PathLike)) else str(source)
    return redact_url(text) if is_object_storage(text) else scrub_text(text)


# --- reading --------------------------------------------------------------------------------------


def _open(source: str | os.PathLike[str] | OpenableSource) -> IO[bytes]:
    """Open for reading; raises OSError (also for an object-storage URI whose scheme is unknown)."""
    if isinstance(source, str) and source.startswith("file://"):
        source = urlsplit(source).path
    if isinstance(source, (str, os.PathLike)) and not is_object_storage(os.fspath(source)):
        return open(source, "rb")  # the caller's with-block closes it
    try:
        if isinstance(source, (str, os.PathLike)):
            from airflow.sdk import ObjectStoragePath  # only object-storage URIs need the Task SDK

            source = ObjectStoragePath(os.fspath(source))
        if hasattr(source, "fs"):
            # fsspec files read ahead in blocks of 5 MiB (s3fs: 50 MiB) by default; a small block
            # keeps each header read to one small range request.
            return source.open("rb", block_size=OBJECT_STORE_BLOCK)
        return source.open("rb")
    except ValueError as exc:  # Airflow: "No filesystem registered for scheme ..."
        raise OSError(str(exc)) from None


def _size(source: str | os.PathLike[str] | OpenableSource, stream: IO[bytes]) -> int:
    if not isinstance(source, (str, os.PathLike)):
        return file_size(source)
    return os.fstat(stream.fileno()).st_size  # the file opened is the file measured


class ReadBudgetExceeded(Exception):
    """More than ``MAX_READ_BYTES`` would be read from one file: it is reported as corrupt, not read on."""


class _Reader:
    """Positioned reads on a seekable stream, counting every byte read, never more than ``budget`` in all."""

    def __init__(self, stream: IO[bytes], size: int, budget: int = MAX_READ_BYTES) -> None:
        self._stream = stream
        self.size = size
        self.budget = budget
        self.bytes_read = 0

    def read_at(self, offset: int, length: int) -> bytes:
        if offset >= self.size or length <= 0:
            return b""
        length = min(length, self.size - offset)
        if self.bytes_read + length > self.budget:
            raise ReadBudgetExceeded(f"more than {self.budget} bytes would be read")
        self._stream.seek(offset)
        data = self._stream.read(length)
        self.bytes_read += len(data)
        return data


def sniff(head: bytes) -> str | None:
    """Format of a file from its first bytes: mp4, mov, matroska, jpeg, png, pdf, zip, webp, gif, wav or None."""
    if head[4:8] == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if b"%PDF-" in head[:HEAD_BYTES]:
        return "pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"WAVE"):
        return "webp" if head[8:12] == b"WEBP" else "wav"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska (.mkv) and WebM
        return "matroska"
    return None


# --- the checks -----------------------------------------------------------------------------------


@dataclass
class _Check:
    kind: str
    name: str
    reader: _Reader
    facts: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    head: bytes = b""
    _last_moof: mp4.BoxHeader | None = None
    _media_bytes: int | None = 0  # bytes in mdat boxes; None when the walk stopped before the end

    def add(self, rule: str, what: str, measured: str | None = None, review_code: str | None = None) -> None:
        self.findings.append(Finding(rule, f"{self.name}: {what}", measured, review_code))

    def run(self) -> None:
        self.facts["size"] = self.reader.size
        if self.reader.size == 0:
            self.add("file.empty", "the file is empty (0 bytes)", "0 bytes")
            return
        self.head = head = self.reader.read_at(0, HEAD_BYTES)
        found = sniff(head)
        self.facts["format"] = found
        self._check_extension(found)
        formats, rule = KIND_FORMATS[self.kind]
        if found not in formats:
            labels = [FORMAT_LABELS[f] for f in formats]
            accepted = " or ".join([", ".join(labels[:-1]), labels[-1]] if len(labels) > 1 else labels)
            measured = FORMAT_LABELS.get(found or "", "an unknown format")
            self.add(rule, f"{measured}; MetaStudio accepts {accepted} for {self.kind}", measured)
            if found == "mov" and self.kind in VIDEO_KINDS:
                # A QuickTime movie has the same boxes as an MP4: measure it, so every rule it breaks
                # is reported at once (and a remux can tell whether it would be enough).
                self._video()
            return
        try:
            {"mp4": self._video, "jpeg": self._jpeg, "png": self._png, "pdf": self._pdf, "zip": self._audio}[found]()
        except ReadBudgetExceeded as exc:  # a safety net: every walk above has its own, smaller caps
            self.add(_CORRUPT_RULES[found], f"{exc} to check it; the file is corrupt", None)

    def _check_extension(self, found: str | None) -> None:
        extension = os.path.splitext(self.name)[1].lower()
        promised = EXTENSION_FORMATS.get(extension)
        if promised and found and promised != found and {promised, found} != {"mov", "mp4"}:
            self.add(
                "extension.mismatch",
                f"named {extension} but the content is {FORMAT_LABELS[found]}; rename it or convert it",
                FORMAT_LABELS[found],
            )

    # MP4 ----------------------------------------------------------------------------------------

    def _video(self) -> None:
        self.facts["container"] = self.facts["format"]
        self.facts["brand"] = self.head[8:12].decode("latin-1")
        moov = self._find_moov()
        if moov is None:
            return
        self.facts["moov_offset"] = moov.offset
        self.facts["faststart"] = moov.offset < self.facts.get("mdat_offset", self.reader.size)
        movie = mp4.parse_moov(self.reader.read_at(moov.body_offset, moov.body_size))
        if movie.fragmented and movie.duration_s is None and movie.video and self._last_moof:
            movie.duration_s = self._fragmented_duration(movie.video, movie.default_durations)
        if movie.error:
            self.add("video.truncated", f"the moov box is corrupt ({movie.error}); the file cannot be played", None)
            return
        self.facts.update(movie.facts())
        if movie.video is None:
            self.add("video.no_video_track", "the MP4 has no video track", None)
            return
        if not self._has_media_data(movie):
            return
        if self.kind == "training_video":
            self._training_rules(movie)

    def _find_moov(self) -> mp4.BoxHeader | None:
        """Walk the top-level boxes by their headers; the moov box, or None with a finding.

        At most ``MAX_TOP_LEVEL_BOXES`` boxes are walked, before the moov box or after it: a file
        flooded with small boxes costs 10,000 header reads, not millions. Also remembers the last
        ``moof`` (a fragmented file's last fragment gives its duration) and the media data's size,
        unless the walk stopped at the cap: then neither is known.
        """
        moov = None
        for count, box in enumerate(mp4.top_level_boxes(self.reader.read_at, self.reader.size)):
            if isinstance(box, str):
                self.add("video.truncated", f"{box}; the file is incomplete or corrupt", None)
                return None
            if count >= MAX_TOP_LEVEL_BOXES:
                if moov is None:
                    self.add(
                        "video.truncated",
                        f"more than {MAX_TOP_LEVEL_BOXES} boxes before the moov box (the index of the video); "
                        "the file is corrupt",
                        None,
                    )
                    return None
                self._last_moof = None  # not the last one: the duration stays unmeasured
                self._media_bytes = None
                break
            if box.type == b"moov":
                moov = box
            elif box.type == b"moof":
                self._last_moof = box
            elif box.type == b"mdat":
                self.facts.setdefault("mdat_offset", box.offset)
                self._media_bytes = (self._media_bytes or 0) + box.body_size
        if moov is None:
            self.add(
                "video.truncated",
                "no moov box (the index of the video); the recording was not finished or the file was cut short",
                None,
            )
            return None
        if moov.size > MAX_MOOV_BYTES:
            self.add("video.truncated", f"the moov box claims {moov.size} bytes; the file is corrupt", None)
            return None
        return moov

    def _has_media_data(self, movie: mp4.Movie) -> bool:
        """False, with a finding, when the index describes media the file does not hold.

        A file that is only an index (its ``moov`` copied without the ``mdat``), or whose chunk
        offsets point past its end, would be accepted by its measurements alone and then fail
        at MetaStudio, or play nothing.
        """
        video = movie.video
        assert video is not None
        media_bytes = self._media_bytes
        if movie.fragmented:
            if self.facts.get("mdat_offset") is None:
                self.add("video.truncated", "no media data (no mdat box); the file holds only an index", None)
                return False
            return True
        if not video.samples:
            self.add("video.truncated", "the video track has no samples (no media data)", None)
            return False
        if media_bytes == 0:
            self.add("video.truncated", "no media data (no mdat box); the file holds only an index", None)
            return False
        if video.last_chunk_offset is not None and video.last_chunk_offset >= self.reader.size:
            self.add(
                "video.truncated",
                f"the index points past the end of the file (a chunk at byte {video.last_chunk_offset}, the file "
                f"has {self.reader.size} bytes); the media data is missing",
                None,
            )
            return False
        indexed = video.sample_bytes + (movie.audio.sample_bytes if movie.audio else 0)
        if media_bytes is not None and indexed > media_bytes:
            self.add(
                "video.truncated",
                f"the index describes {indexed} bytes of samples but the media data holds {media_bytes}; "
                "the file is cut short",
                None,
            )
            return False
        return True

    def _fragmented_duration(self, video: mp4.Track, default_durations: dict[int, int]) -> float | None:
        """Seconds up to the end of the last fragment of the video track; None when not measurable."""
        moof = self._last_moof
        if moof is None or moof.size > MAX_MOOV_BYTES or not video.timescale:
            return None
        body = self.reader.read_at(moof.body_offset, moof.body_size)
        try:
            end = mp4.fragment_end(body, video.track_id, default_durations.get(video.track_id, 0))
        except (ValueError, struct.error):
            return None
        return None if end is None else end / video.timescale

    def _training_rules(self, movie: mp4.Movie) -> None:
        width, height = self.facts["width"], self.facts["height"]
        if (width, height) not in TRAINING_RESOLUTIONS:
            self.add(
                "video.resolution",
                f"{width}x{height}; MetaStudio accepts {ACCEPTED_RESOLUTIONS}",
                f"{width}x{height}",
                REVIEW_CODE_RESOLUTION,
            )
        seconds = movie.duration_s
        if seconds is None:  # a fragmented MP4 whose length could not be measured: no verdict
            return
        if not MIN_DURATION_S - DURATION_TOLERANCE_S <= seconds <= MAX_DURATION_S + DURATION_TOLERANCE_S:
            self.add(
                "video.duration",
                f"{format_duration(seconds)} long; MetaStudio accepts {MIN_DURATION_S / 60:g} to "
                f"{MAX_DURATION_S / 60:g} minutes",
                f"{seconds:.1f} s",
            )

    # images and PDF ------------------------------------------------------------------------------

    def _png(self) -> None:
        ihdr = self.head[8:33]
        if len(ihdr) < 16 or ihdr[4:8] != b"IHDR":
            self.add("image.truncated", "a PNG without its IHDR header; the file is cut short or corrupt", None)
            return
        width, height = struct.unpack(">II", ihdr[8:16])
        self.facts.update(width=width, height=height)

    def _jpeg(self) -> None:
        size = _jpeg_size(self.reader)
        if size is None:
            self.add("image.truncated", "a JPEG without a frame header; the file is cut short or corrupt", None)
            return
        self.facts.update(width=size[0], height=size[1])

    def _pdf(self) -> None:
        start = self.head.find(b"%PDF-")
        self.facts["pdf_version"] = self.head[start + 5 : start + 8].decode("latin-1", "replace")
        tail = self.reader.read_at(max(0, self.reader.size - TAIL_BYTES), TAIL_BYTES)
        if b"%%EOF" not in tail:
            self.add("letter.truncated", "a PDF without %%EOF at its end; the file is cut short", None)

    # audio ---------------------------------------------------------------------------------------

    def _audio(self) -> None:
        wav = txt = members = 0
        try:
            for name in zip_directory.member_names(self.reader.read_at, self.reader.size):
                if name.endswith("/"):  # a folder
                    continue
                members += 1
                if not _is_hidden(name):
                    extension = os.path.splitext(name)[1].lower()
                    wav += extension == ".wav"
                    txt += extension == ".txt"
        except zip_directory.ZipLayoutError as exc:
            self.add("audio.format", f"not a readable zip archive ({exc}); the file is cut short or corrupt", None)
            return
        self.facts.update(members=members, wav_files=wav, txt_files=txt)
        if not wav or not txt:
            self.add(
                "audio.members",
                f"the zip holds {wav} wav and {txt} txt files; MetaStudio needs wav recordings with their txt scripts",
                f"{wav} wav, {txt} txt",
            )


def format_duration(seconds: float) -> str:
    """``125.0`` -> ``"2 min 5 s"``; fractions of a second are kept (``"10 min 0.4 s"``)."""
    minutes = int(seconds // 60)
    rest = round(seconds - 60 * minutes, 1)
    return f"{minutes} min {rest:g} s"


def _is_hidden(member: str) -> bool:
    """macOS's Finder adds __MACOSX/ and ._ files to archives; they are not content."""
    return member.startswith("__MACOSX/") or os.path.basename(member).startswith("._")


def _jpeg_size(reader: _Reader) -> tuple[int, int] | None:
    """(width, height) from the first SOF marker, skipping segments by their lengths.

    The header (at most ``MAX_JPEG_HEADER_BYTES``) is read once and walked in memory, so a flood
    of fill bytes or tiny segments costs one read, not one per marker.
    """
    sof = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
    header = reader.read_at(0, MAX_JPEG_HEADER_BYTES)
    offset = 2
    while offset + 4 <= len(header):
        if header[offset] != 0xFF:
            return None
        code = header[offset + 1]
        if code == 0xFF:  # fill byte
            offset += 1
            continue
        if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:  # markers without a length
            offset += 2
            continue
        length = struct.unpack_from(">H", header, offset + 2)[0]
        if code in sof:
            if offset + 9 > len(header):
                return None
            height, width = struct.unpack_from(">HH", header, offset + 5)
            return width, height
        if code in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        offset += 2 + length
    return None
