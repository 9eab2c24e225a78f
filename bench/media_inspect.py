"""Pre-flight inspection of a 1 GiB MP4: time and bytes read, against reading the whole file.

Makes a real 3-minute 1920x1080 H.264 video (``metastudio_sandbox.samples``), pads it to
``--size-mib`` (default 1024) with an unreferenced, sparse ``mdat`` box, once with ``moov`` at the
end (a camera's layout) and once at the start (``faststart``), then times each reader ``--runs``
times after one warm-up call (median) and counts the bytes it read:

* ``inspect_asset`` on the path, and through ``ObjectStoragePath("file://...")`` (fsspec);
* the candidate libraries that are installed, on a counting file object: PyAV (FFmpeg's demuxer,
  a dev dependency), pymediainfo and hachoir (``pip install`` them to include them);
* the baseline: reading the whole file once (SHA-256), what download-then-probe costs at least.

Goal (issue #10): well under a second and a bounded number of bytes, whatever the file size.

Hostile files (issue #16), each inspected once, printing bytes read, time and memory growth
(``tracemalloc`` peak) against the unbounded way of reading it:

* a real video with 2,000,000 empty boxes before its ``moov`` (16 MB of headers), against walking
  every box header (what the inspector did before the cap applied before ``moov``);
* a 400 MiB ZIP (a real archive after a sparse hole) whose end record claims a central directory
  of the whole file, against the standard library's ``zipfile`` (what the inspector used before).

    .venv/bin/python bench/media_inspect.py [--size-mib 1024] [--runs 5] [--quick] [--hostile-only]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import struct
import sys
import tempfile
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _bench as b

from metastudio_provider import mp4
from metastudio_provider.media import MAX_READ_BYTES, inspect_asset
from metastudio_sandbox import samples

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: the hostile file makers
from tests.support import hostile_media

BOUND_BYTES = 64 * 1024  # the goal's "bounded": header reads plus a moov box of a few KiB


class CountingFile(io.RawIOBase):
    """A file object that counts the bytes handed out, for libraries that take one."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer: Any) -> int:
        data = self._file.read(len(buffer))
        buffer[: len(data)] = data
        self.bytes_read += len(data)
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def ours(path: Path) -> int:
    inspection = inspect_asset("training_video", path)
    assert inspection.ok, inspection.findings
    return inspection.bytes_read


def ours_object_storage(path: Path) -> int:
    from airflow.sdk import ObjectStoragePath

    inspection = inspect_asset("training_video", ObjectStoragePath(f"file://{path}"))
    assert inspection.ok, inspection.findings
    return inspection.bytes_read


def pyav(path: Path) -> int:
    import av

    with CountingFile(path) as counting, av.open(counting) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (1920, 1080)
        return counting.bytes_read


def pymediainfo(path: Path) -> int:
    from pymediainfo import MediaInfo

    with CountingFile(path) as counting:
        info = MediaInfo.parse(counting)
        assert info.video_tracks[0].width == 1920
        return counting.bytes_read


def hachoir(path: Path) -> int:
    from hachoir.metadata import extractMetadata
    from hachoir.parser import guessParser
    from hachoir.stream import InputIOStream

    with CountingFile(path) as counting:
        metadata = extractMetadata(guessParser(InputIOStream(counting, filename=str(path))))
        assert metadata.get("width") == 1920
        return counting.bytes_read


def whole_file(path: Path) -> int:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(8 * b.MiB):
            digest.update(chunk)
            size += len(chunk)
    return size


BASELINE = "baseline: read whole file (SHA-256)"
READERS: dict[str, Callable[[Path], int]] = {
    "inspect_asset (path)": ours,
    "inspect_asset (ObjectStoragePath file://)": ours_object_storage,
    "PyAV av.open (file object)": pyav,
    "pymediainfo (file object)": pymediainfo,
    "hachoir (file object)": hachoir,
    BASELINE: whole_file,
}


def measure(reader: Callable[[Path], int], path: Path, runs: int) -> tuple[float, int]:
    """(median seconds, bytes read) over ``runs`` calls after a warm-up call (imports, page cache)."""
    reader(path)
    times, read = [], 0
    for _ in range(runs):
        seconds, read = b.timed(lambda: reader(path))
        times.append(seconds)
    return b.median(times), read


def traced(function: Callable[[], Any], *, memory: bool = True) -> tuple[float, int | None, Any]:
    """(seconds, peak bytes Python allocated during a second call or None, result).

    Timed without ``tracemalloc`` (it slows pure-Python code several times), then called again
    under it for the memory figure when ``memory``.
    """
    seconds, result = b.timed(function)
    if not memory:
        return seconds, None, result
    tracemalloc.start()
    try:
        function()
        return seconds, tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def every_box(path: Path) -> int:
    """The unbounded walk: every top-level box header of the file; the bytes read."""
    with path.open("rb") as handle:
        size = path.stat().st_size
        read = 0

        def read_at(offset: int, length: int) -> bytes:
            nonlocal read
            handle.seek(offset)
            data = handle.read(length)
            read += len(data)
            return data

        for _box in mp4.top_level_boxes(read_at, size):
            pass
    return read


def stdlib_zip(path: Path) -> int:
    with CountingFile(path) as counting:
        with contextlib.suppress(zipfile.BadZipFile, ValueError, OSError, EOFError):
            zipfile.ZipFile(counting).namelist()
        return counting.bytes_read


def lying_zip(tmp: Path, size: int) -> Path:
    """A real voice archive, a sparse hole, then an end record claiming a directory of the whole file."""
    voice = samples.make_audio_zip(tmp / "voice.zip", recordings=2, seconds=0.2).read_bytes()
    end = bytearray(voice[voice.rindex(b"PK\x05\x06") :])
    struct.pack_into("<II", end, 12, size - len(end), 0)  # the directory: every byte before the end record
    path = tmp / "lying.zip"
    with path.open("wb") as out:
        out.write(voice)
        out.seek(size - len(end))
        out.write(end)
    return path


def hostile(tmp: Path, cache: Path) -> None:
    video = samples.make_cached(tmp / "good.mp4", samples.make_video, cache)
    flood = hostile_media.box_flood(video, tmp / "flood.mp4", 2_000_000)
    zip_file = lying_zip(tmp, 400 * b.MiB)
    print(f"\nhostile files (inspection read budget {MAX_READ_BYTES:,} bytes)")
    print(f"  {'file / reader':58} {'ms':>9} {'bytes read':>14} {'memory growth':>14}")
    rows = [
        (
            f"box flood ({flood.stat().st_size:,} B): inspect_asset",
            lambda: inspect_asset("training_video", flood),
            True,
        ),
        ("box flood: baseline, walk every box header", lambda: every_box(flood), False),
        (f"lying zip ({zip_file.stat().st_size:,} B): inspect_asset", lambda: inspect_asset("audio", zip_file), True),
        ("lying zip: baseline, stdlib zipfile", lambda: stdlib_zip(zip_file), True),
    ]
    for name, function, memory in rows:
        seconds, peak, result = traced(function, memory=memory)
        read = result.bytes_read if hasattr(result, "bytes_read") else result
        verdict = f"  -> {result.findings[0].rule}" if getattr(result, "findings", None) else ""
        grown = f"{peak / b.MiB:11.1f} MiB" if peak is not None else f"{'not traced':>15}"
        print(f"  {name:58} {seconds * 1000:9.1f} {read:14,} {grown}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="64 MiB, 3 runs: a smoke test")
    parser.add_argument("--hostile-only", action="store_true", help="only the hostile files")
    args = parser.parse_args()
    size_mib, runs = (64, 3) if args.quick else (args.size_mib, args.runs)
    print(f"machine: {b.machine()}")
    if args.hostile_only:
        with tempfile.TemporaryDirectory(prefix="bench-media-") as folder:
            hostile(Path(folder), Path(tempfile.gettempdir()) / "metastudio-bench-samples")
        return
    with tempfile.TemporaryDirectory(prefix="bench-media-") as folder:
        tmp = Path(folder)
        cache = Path(tempfile.gettempdir()) / "metastudio-bench-samples"
        results: dict[tuple[str, str], tuple[float, int]] = {}
        for layout, faststart in (("moov at end", False), ("moov at start", True)):
            video = samples.make_cached(tmp / "small.mp4", samples.make_video, cache, faststart=faststart)
            big = samples.pad_mdat(video, size_mib * b.MiB, dest=tmp / f"{layout.replace(' ', '-')}.mp4")
            print(f"\n{layout}: {size_mib} MiB file = real video of {video.stat().st_size:,} bytes + sparse mdat")
            print(f"  {'reader':44} {'median ms':>10} {'bytes read':>14}")
            for name, reader in READERS.items():
                try:
                    results[layout, name] = measure(reader, big, runs)
                except ImportError:
                    print(f"  {name:44} {'not installed, skipped':>25}")
                    continue
                seconds, read = results[layout, name]
                print(f"  {name:44} {seconds * 1000:10.2f} {read:14,}")
            ratio = (
                results[layout, "baseline: read whole file (SHA-256)"][0] / results[layout, "inspect_asset (path)"][0]
            )
            print(f"  whole-file read / inspect_asset: {ratio:,.0f}x the time")
        worst = max(results[layout, "inspect_asset (path)"] for layout in ("moov at end", "moov at start"))
        goal = worst[0] < 0.1 and worst[1] <= BOUND_BYTES
        print(
            f"\ngoal (well under 1 s, at most {BOUND_BYTES // 1024} KiB read): worst {worst[0] * 1000:.2f} ms, "
            f"{worst[1]:,} bytes -> {b.verdict(goal)}"
        )
        hostile(tmp, cache)


if __name__ == "__main__":
    main()
