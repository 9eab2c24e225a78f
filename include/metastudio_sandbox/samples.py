"""Genuine, small sample media for the tests, the benchmarks and the demo.

Every file is made by a real encoder or writer, so players and MetaStudio's parsers open it:

* :func:`make_video`: H.264 MP4 (libx264 from PyAV's bundled FFmpeg) of one synthetic still frame
  (a drawn silhouette, never a real person) at ``fps`` frames per second; 3 minutes of 1920x1080
  at 1 fps is about 15 KB. ``rotation`` writes a display matrix, ``faststart`` puts ``moov`` first.
* :func:`make_jpeg` (PyAV's MJPEG encoder), :func:`make_png` (zlib), :func:`make_pdf` (a one-page
  PDF 1.4 with a correct cross-reference table), :func:`make_audio_zip` (wav recordings from the
  stdlib ``wave`` module with their txt scripts).
* :func:`truncate` cuts a file short; :func:`pad_mdat` inserts an unreferenced, sparse ``mdat`` box
  so a real video becomes as large as a benchmark needs without writing the bytes.
* :func:`make_cached` makes a file once per parameter set in a cache folder and copies it out.

PyAV is a development dependency (``requirements-dev.txt``); it is imported only by the makers that
encode, so the sandbox itself runs without it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import struct
import wave
import zipfile
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

GENERATOR_VERSION = 3  # part of the cache key: bump when a maker's output changes

Color = tuple[int, int, int]


# --- drawing ------------------------------------------------------------------------------------


class _Canvas:
    """An RGB24 picture with the two shapes the samples need."""

    def __init__(self, width: int, height: int, background: Color, shade: int = 0) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"picture size must be positive, got {width}x{height}")
        self.width, self.height = width, height
        # A vertical gradient (``shade`` levels darker at the bottom) so the picture is not flat.
        rows = []
        for y in range(height):
            dim = shade * y // height
            rows.append(bytes(max(0, channel - dim) for channel in background) * width)
        self.pixels = bytearray(b"".join(rows))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        x0, x1 = max(0, x0), min(self.width, x1)
        for y in range(max(0, y0), min(self.height, y1)):
            self._span(y, x0, x1, color)

    def ellipse(self, cx: int, cy: int, rx: int, ry: int, color: Color) -> None:
        for y in range(max(0, cy - ry), min(self.height, cy + ry)):
            half = int(rx * math.sqrt(max(0.0, 1 - ((y - cy + 0.5) / ry) ** 2)))
            self._span(y, max(0, cx - half), min(self.width, cx + half), color)

    def _span(self, y: int, x0: int, x1: int, color: Color) -> None:
        if x1 > x0:
            start = (y * self.width + x0) * 3
            self.pixels[start : start + (x1 - x0) * 3] = bytes(color) * (x1 - x0)

    def silhouette(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """A featureless head-and-shoulders shape filling the box: clearly a drawing."""
        w, h = x1 - x0, y1 - y0
        cx = x0 + w // 2
        self.ellipse(cx, y0 + h * 36 // 100, w * 18 // 100, h * 22 // 100, color)
        self.ellipse(cx, y1, w * 42 // 100, h * 40 // 100, color)


def _studio_frame(width: int, height: int) -> bytes:
    """A presenter-style still: a silhouette in front of a studio backdrop."""
    canvas = _Canvas(width, height, (46, 120, 176), shade=60)
    side = min(width, height)
    box = (width // 2 - side // 2, height - side * 9 // 10, width // 2 + side // 2, height)
    canvas.silhouette(*box, (236, 226, 210))
    return bytes(canvas.pixels)


def _id_card(width: int, height: int, back: bool) -> bytes:
    """A synthetic identity-card drawing: portrait box (front) or emblem circle (back) and text bars."""
    canvas = _Canvas(width, height, (214, 230, 242), shade=20)
    unit = min(width, height) // 20
    if back:
        canvas.ellipse(width // 5, height // 3, 3 * unit, 3 * unit, (196, 40, 40))
        canvas.ellipse(width // 5, height // 3, 2 * unit, 2 * unit, (238, 198, 60))
    else:
        canvas.rect(width - 8 * unit, 2 * unit, width - unit, 11 * unit, (250, 250, 250))
        canvas.silhouette(width - 8 * unit, 2 * unit, width - unit, 11 * unit, (120, 130, 150))
    for line in range(5):
        y = height // 2 + line * 2 * unit
        canvas.rect(2 * unit, y, width // 2 + (line % 3) * 2 * unit, y + unit, (70, 80, 96))
    return bytes(canvas.pixels)


def _frame(rgb: bytes, width: int, height: int) -> Any:
    """A PyAV ``VideoFrame`` holding an RGB24 picture (rows padded to FFmpeg's line size)."""
    import av

    frame = av.VideoFrame(width, height, "rgb24")
    plane = frame.planes[0]
    stride = width * 3
    if plane.line_size == stride:
        plane.update(rgb)
    else:
        pad = bytes(plane.line_size - stride)
        plane.update(b"".join(rgb[y * stride : (y + 1) * stride] + pad for y in range(height)))
    return frame


# --- video --------------------------------------------------------------------------------------


def make_video(
    path: str | os.PathLike[str],
    *,
    width: int = 1920,
    height: int = 1080,
    seconds: float = 180,
    rotation: int = 0,
    fps: int | Fraction = 1,
    faststart: bool = False,
    fragmented: bool = False,
) -> Path:
    """An H.264 MP4 of one still frame, ``seconds`` long.

    :param width: stored (coded) width; with ``rotation`` 90/270 a player shows ``height`` x ``width``
    :param rotation: clockwise display rotation written as the track's display matrix (0/90/180/270,
        the convention of a phone's ``rotate`` tag: a portrait phone video is 1920x1080 stored, 90)
    :param fps: frames per second (a :class:`~fractions.Fraction` below 1 makes long files quicker)
    :param faststart: put ``moov`` before ``mdat`` (as web-optimised files do); otherwise it is last
    :param fragmented: a fragmented MP4 (an empty ``moov``, then one ``moof``/``mdat`` pair per
        10-second keyframe interval), as streaming tools and some recorders write
    """
    import av  # development dependency; see the module docstring

    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90 degrees, got {rotation}")
    rate = Fraction(fps)
    frames = round(seconds * rate)
    if frames < 1:
        raise ValueError(f"{seconds} s at {fps} fps is no frame at all")
    target = Path(path)
    gop = max(1, round(10 * rate)) if fragmented else frames  # fragments start at keyframes
    flags = ("+faststart" if faststart else "") + ("+frag_keyframe+empty_moov+default_base_moof" if fragmented else "")
    options = {"movflags": flags} if flags else {}
    with av.open(str(target), "w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "stillimage", "crf": "28", "g": str(gop)}
        if rotation % 360:
            stream.set_display_rotation(-rotation)  # PyAV takes counter-clockwise degrees
        frame = _frame(_studio_frame(width, height), width, height).reformat(format="yuv420p")
        frame.time_base = 1 / rate
        for index in range(frames):
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return target


def make_recording(
    path: str | os.PathLike[str],
    *,
    width: int = 1920,
    height: int = 1080,
    seconds: float = 630,
    fps: int | Fraction = 1,
    rotation: int = 0,
    container: str = "mov",
    keyframe_seconds: float = 2,
    audio: bool = True,
    video: bool = True,
    beeps: tuple[int, ...] = (),
    bit_rate: int | None = None,
) -> Path:
    """A camera-like recording: H.264 video with a keyframe every ``keyframe_seconds`` and AAC sound.

    What the repair tests and the demo need beyond :func:`make_video`: a QuickTime ``.mov``
    (``container="mov"``, the ``qt`` brand a phone writes), an MP4 or a Matroska ``mkv``, a sound track (8 kHz mono
    AAC: silence, with a 0.1-second 1 kHz beep at each second in ``beeps``, where the picture
    is white for that one frame, so a test can check that sound and picture stay in sync), and
    keyframes as a camera places them. ``video=False`` makes a sound-only file. ``bit_rate``
    (bits per second) encodes at that constant rate, stuffing filler data, so a benchmark gets
    camera-sized packets from a still picture.
    """
    import av  # development dependency; see the module docstring

    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90 degrees, got {rotation}")
    formats = {"mov": "mov", "mp4": "mp4", "mkv": "matroska"}
    if container not in formats:
        raise ValueError(f"container must be mov, mp4 or mkv, got {container!r}")
    rate = Fraction(fps)
    target = Path(path)
    with av.open(str(target), "w", format=formats[container]) as out:
        pictures = _Pictures(out, width, height, rate, rotation, keyframe_seconds, beeps, bit_rate) if video else None
        sound = _Beeps(out, beeps) if audio else None
        for second in range(math.ceil(seconds)):  # one second at a time, so the muxer interleaves
            until = min(seconds, second + 1)
            for track in (pictures, sound):
                if track is not None:
                    out.mux(track.encode_until(until))
        for track in (pictures, sound):
            if track is not None:
                out.mux(track.stream.encode(None))
    return target


class _Pictures:
    """The still studio picture, white for the one frame at each beep."""

    def __init__(
        self, out: Any, width: int, height: int, rate: Fraction, rotation: int, gop_s: float, beeps: Any, bits: Any
    ) -> None:
        self.stream = out.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        gop = max(1, round(gop_s * rate))
        options = {"preset": "ultrafast", "tune": "stillimage", "crf": "28", "g": str(gop), "bf": "0"}
        if bits:  # constant bit rate with filler data (x264's nal-hrd=cbr)
            self.stream.bit_rate = bits
            del options["crf"]
            options.update({"x264-params": "nal-hrd=cbr", "maxrate": str(bits), "minrate": str(bits)})
            options["bufsize"] = str(bits // 2)
        self.stream.options = options
        if rotation % 360:
            self.stream.set_display_rotation(-rotation)
        self.still = _frame(_studio_frame(width, height), width, height).reformat(format="yuv420p")
        self.white = _frame(b"\xff" * (width * height * 3), width, height).reformat(format="yuv420p")
        self.rate, self.marks, self.index = rate, {round(second * rate) for second in beeps}, 0

    def encode_until(self, seconds: float) -> list[Any]:
        packets = []
        while self.index < round(seconds * self.rate):
            frame = self.white if self.index in self.marks else self.still
            frame.pts, frame.time_base = self.index, 1 / self.rate
            packets += self.stream.encode(frame)
            self.index += 1
        return packets


class _Beeps:
    """8 kHz mono AAC: silence with a 0.1 s 1 kHz tone at each second in ``beeps``."""

    RATE, SIZE = 8000, 1024

    def __init__(self, out: Any, beeps: Any) -> None:
        import array

        self.stream = out.add_stream("aac", rate=self.RATE, layout="mono")
        self.starts = {round(second * self.RATE) for second in beeps}
        self.tone = array.array(
            "f", (0.5 * math.sin(2 * math.pi * 1000 * n / self.RATE) for n in range(self.RATE // 10))
        )
        self.silence = array.array("f", bytes(4 * self.SIZE))
        self.offset = 0

    def encode_until(self, seconds: float) -> list[Any]:
        import av

        packets = []
        while self.offset < round(seconds * self.RATE):
            samples = self.silence[:]
            for start in self.starts:
                for n in range(max(start, self.offset), min(start + len(self.tone), self.offset + self.SIZE)):
                    samples[n - self.offset] = self.tone[n - start]
            frame = av.AudioFrame(format="fltp", layout="mono", samples=self.SIZE)
            frame.planes[0].update(samples.tobytes())
            frame.sample_rate, frame.pts, frame.time_base = self.RATE, self.offset, Fraction(1, self.RATE)
            packets += self.stream.encode(frame)
            self.offset += self.SIZE
        return packets


# --- images, PDF and audio ----------------------------------------------------------------------


def make_jpeg(
    path: str | os.PathLike[str], *, width: int = 856, height: int = 540, back: bool = False, size: int = 0
) -> Path:
    """A baseline JPEG (JFIF) of a synthetic ID card drawing, encoded by FFmpeg's MJPEG encoder.

    :param size: pad the file to at least this many bytes with APP15 segments of random data
        (decoders skip application segments), for benchmarks that want camera-sized photos
    """
    import av

    context = av.CodecContext.create("mjpeg", "w")
    context.width, context.height, context.pix_fmt = width, height, "yuvj420p"
    context.time_base = Fraction(1, 1)
    packets = context.encode(_frame(_id_card(width, height, back), width, height).reformat(format="yuvj420p"))
    packets += context.encode(None)
    data = b"".join(bytes(packet) for packet in packets)
    segments = []
    missing = size - len(data)
    while missing > 0:
        payload = os.urandom(min(missing, 0xFFFF - 2))
        segments.append(b"\xff\xef" + struct.pack(">H", len(payload) + 2) + payload)
        missing -= len(segments[-1])
    target = Path(path)
    target.write_bytes(data[:2] + b"".join(segments) + data[2:])  # right after SOI
    return target


def make_png(path: str | os.PathLike[str], *, width: int = 856, height: int = 540, back: bool = False) -> Path:
    """An 8-bit RGB PNG of a synthetic ID card drawing (written with zlib; needs no encoder)."""
    pixels = _id_card(width, height, back)
    stride = width * 3
    raw = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    target = Path(path)
    target.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    )
    return target


def make_pdf(
    path: str | os.PathLike[str], *, title: str = "Authorization letter (synthetic sample)", size: int = 0
) -> Path:
    """A one-page A4 PDF 1.4 letter with a signature line, byte offsets in its xref table exact.

    :param size: pad the file to at least this many bytes with an unreferenced stream object of
        random data (as a scanned letter's image would be), for benchmarks
    """
    text = title.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = (
        f"BT /F1 18 Tf 72 760 Td ({text}) Tj ET\n"
        "BT /F1 11 Tf 72 720 Td (I authorise the training of a digital avatar from my recordings.) Tj ET\n"
        "0.5 w 72 140 m 300 140 l S\n"
        "BT /F1 10 Tf 72 124 Td (Signature) Tj ET\n"
    ).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    data = _pdf_file(objects)
    if len(data) < size:  # the filler object's own wrapper makes the file a little larger than asked
        filler = os.urandom(size - len(data))
        data = _pdf_file([*objects, b"<< /Length %d >>\nstream\n" % len(filler) + filler + b"\nendstream"])
    target = Path(path)
    target.write_bytes(data)
    return target


def _pdf_file(objects: list[bytes]) -> bytes:
    """Header, numbered objects, a cross-reference table with their exact offsets, and the trailer."""
    body = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(body)


def make_wav(path: str | os.PathLike[str], *, seconds: float = 1.0, frequency: float = 440.0) -> Path:
    """A 16 kHz 16-bit mono PCM wav of a sine tone."""
    rate = 16_000
    samples = (int(12_000 * math.sin(2 * math.pi * frequency * n / rate)) for n in range(int(seconds * rate)))
    target = Path(path)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return target


def make_audio_zip(
    path: str | os.PathLike[str], *, recordings: int = 3, seconds: float = 1.0, with_txt: bool = True
) -> Path:
    """A zip of ``recordings`` wav files, each with the txt script read in it (``with_txt=False``: wav only)."""
    target = Path(path)
    scratch = target.with_name(target.name + ".wav.tmp")
    try:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for index in range(1, recordings + 1):
                make_wav(scratch, seconds=seconds, frequency=220.0 * index)
                archive.write(scratch, f"{index:03d}.wav")
                if with_txt:
                    archive.writestr(f"{index:03d}.txt", f"Synthetic script line {index} for a voice sample.\n")
    finally:
        scratch.unlink(missing_ok=True)
    return target


# --- damaging and padding -----------------------------------------------------------------------


def truncate(path: str | os.PathLike[str], keep_fraction: float, *, dest: str | os.PathLike[str] | None = None) -> Path:
    """Keep only the first ``keep_fraction`` of the file (in place, or as a copy at ``dest``)."""
    if not 0 <= keep_fraction < 1:
        raise ValueError(f"keep_fraction must be in [0, 1), got {keep_fraction}")
    source = Path(path)
    target = Path(dest) if dest is not None else source
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep_fraction)])
    return target


def pad_mdat(
    path: str | os.PathLike[str], total_size: int, *, dest: str | os.PathLike[str], random_fill: bool = False
) -> Path:
    """Copy an MP4 to ``dest`` with an extra ``mdat`` box that makes it ``total_size`` bytes.

    The box goes right after the last box that holds media data and before a trailing ``moov``
    (so ``moov`` stays where it was, start or end); no sample refers to it, so the video plays as
    before. Its payload is a hole in a sparse file (a 1 GiB sample costs a few KB of disk), or
    random bytes with ``random_fill`` (for upload benchmarks, where every byte must be sent).
    """
    source = Path(path).read_bytes()
    boxes = []
    offset = 0
    while offset < len(source):
        size, box_type = struct.unpack_from(">I4s", source, offset)
        if size < 8:
            raise ValueError(f"{path}: box {box_type!r} at {offset} has a size ({size}) this helper does not handle")
        boxes.append((box_type, source[offset : offset + size]))
        offset += size
    tail = boxes.pop()[1] if boxes[-1][0] == b"moov" else b""
    head = b"".join(data for _, data in boxes)
    padding = total_size - len(source)
    if padding < 16:
        raise ValueError(f"total_size {total_size} leaves no room for a padding box after {len(source)} bytes")
    target = Path(dest)
    with target.open("wb") as out:
        out.write(head)
        out.write(struct.pack(">I4sQ", 1, b"mdat", padding))  # 64-bit size: works past 4 GiB too
        if random_fill:
            block = os.urandom(min(padding - 16, 4 * 1024 * 1024))
            left = padding - 16
            while left > 0:
                out.write(block[: min(left, len(block))])
                left -= len(block)
        else:
            out.seek(padding - 16, os.SEEK_CUR)
        out.write(tail)
        out.truncate()
    return target


# --- caching ------------------------------------------------------------------------------------


def make_cached(
    dest: str | os.PathLike[str], maker: Callable[..., Path], cache_dir: str | os.PathLike[str] | None, **params: Any
) -> Path:
    """``maker(dest, **params)``, made once per parameter set in ``cache_dir`` and copied from there.

    The cache key is the maker's name, its parameters and :data:`GENERATOR_VERSION`; the suffix of
    ``dest`` is kept (some makers write by suffix). Without ``cache_dir`` the file is made directly.
    """
    target = Path(dest)
    if cache_dir is None:
        return maker(target, **params)
    key = json.dumps([GENERATOR_VERSION, maker.__name__, params], sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    cached = Path(cache_dir) / f"{maker.__name__}-{digest}{target.suffix}"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        scratch = cached.with_name(f".{cached.name}.{os.getpid()}.tmp{target.suffix}")
        maker(scratch, **params)
        os.replace(scratch, cached)  # atomic: a concurrent run sees the whole file or none
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, target)
    return target


# The file names and makers of a complete, valid set of training-job assets (manifest kind names).
VALID_ASSETS: dict[str, tuple[str, Callable[..., Path], dict[str, Any]]] = {
    "training_video": ("training_video.mp4", make_video, {}),
    "cover": ("cover.jpg", make_jpeg, {"width": 640, "height": 360}),
    "id_card_front": ("id_card_front.jpg", make_jpeg, {}),
    "id_card_back": ("id_card_back.png", make_png, {"back": True}),
    "authorization_letter": ("authorization_letter.pdf", make_pdf, {}),
    "audio": ("audio.zip", make_audio_zip, {}),
}


def make_asset_set(
    folder: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None, **video: Any
) -> dict[str, Path]:
    """Write one valid file per asset kind into ``folder``; ``video`` overrides :func:`make_video`'s defaults.

    Returns ``{kind: path}`` with the manifest's kind names (``training_video``, ``cover``,
    ``id_card_front``, ``id_card_back``, ``authorization_letter``, ``audio``).
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    made = {}
    for kind, (name, maker, params) in VALID_ASSETS.items():
        made[kind] = make_cached(root / name, maker, cache_dir, **(video if kind == "training_video" else params))
    return made
