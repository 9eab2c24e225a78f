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

    .venv/bin/python bench/media_inspect.py [--size-mib 1024] [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _bench as b

from metastudio_provider.media import inspect_asset
from metastudio_sandbox import samples

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="64 MiB, 3 runs: a smoke test")
    args = parser.parse_args()
    size_mib, runs = (64, 3) if args.quick else (args.size_mib, args.runs)
    print(f"machine: {b.machine()}")
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


if __name__ == "__main__":
    main()
