"""Media repair: remux and trim of a 1 GiB recording against reading it once; downscale against ffmpeg.

* **remux + trim** (``repair_file``, allow remux,trim): a 1920x1080 H.264 + AAC QuickTime ``.mov``
  of about ``--size-mib`` MiB and 10 min 40 s (a phone's 13 Mbit/s) becomes a 9 min 50 s MP4;
  **trim** alone: the same recording as an MP4, keeping the middle. Both copy packets, so they
  should be close to I/O bound: the baseline is reading the file once in 1 MiB blocks in the same
  run, from the disk (the file's pages are dropped from the page cache with ``posix_fadvise``
  before the read and before the repair; the repair's output goes to the page cache, as any
  write). Throughput is input bytes per second; the repair includes its inspections before and after.
  The recording is a 2-second clip (x264 at a constant 13 Mbit/s with filler data, AAC) muxed
  again and again with shifted timestamps: real, decodable H.264 made in seconds.
* **downscale**: ``--downscale-frames`` frames of 2560x1440 at 30 fps re-encoded at 1920x1080 by the
  library (PyAV) and by the ``ffmpeg`` command line with the same settings (libx264 crf 18, preset
  medium, High profile, yuv420p, Lanczos scaling, timestamps passed through, audio copied);
  frames per second of each. Debian's ``ffmpeg`` is installed with apt-get when missing.
* **memory**: each repair's peak RSS growth (``VmHWM`` reset through ``/proc/self/clear_refs``
  before it, minus the RSS before it).

Goals (issue #19): remux/trim >= 0.5 x the read speed; downscale >= 0.8 x the ffmpeg CLI.

    .venv/bin/python bench/media_repair.py [--size-mib 1024] [--downscale-frames 300] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import subprocess
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import _bench as b

from metastudio_remediation.media_repair import downscale as engine
from metastudio_remediation.media_repair.repair import repair_file
from metastudio_remediation.media_repair.timeline import Span, probe
from metastudio_sandbox import samples

RECORDING_S = 640  # 10 min 40 s: both a remux and a trim are needed
CLIP_S = 2
READ_BLOCK = 1024 * 1024


def long_recording(folder: Path, size: int, container: str) -> Path:
    """A ~``size``-byte, 640 s 1080p H.264 + AAC recording: a 2 s clip muxed again and again."""
    import av

    bit_rate = max(200_000, size * 8 // RECORDING_S)
    clip = samples.make_recording(folder / f"clip.{container}", seconds=CLIP_S, fps=30, container=container,
                                  bit_rate=bit_rate)  # fmt: skip
    target = folder / f"recording.{container}"
    with av.open(str(clip)) as source:
        # Only the packets wholly inside the clip's 2 s (AAC adds a priming frame before 0 and runs
        # past the end), so the copies follow each other without overlapping.
        packets = [
            p for p in source.demux()
            if p.dts is not None and p.pts >= 0 and (p.pts + p.duration) * p.time_base <= CLIP_S
        ]  # fmt: skip
        streams = list(source.streams)
        with av.open(str(target), "w", format={"mov": "mov", "mp4": "mp4"}[container]) as out:
            copies = {stream.index: out.add_stream_from_template(stream) for stream in streams}
            for repeat in range(math.ceil(RECORDING_S / CLIP_S)):
                for packet in packets:
                    shift = round(Fraction(repeat * CLIP_S) / packet.time_base)
                    copy = av.Packet(bytes(packet))
                    copy.pts, copy.dts = packet.pts + shift, packet.dts + shift
                    copy.time_base, copy.duration = packet.time_base, packet.duration
                    copy.is_keyframe = packet.is_keyframe
                    copy.stream = copies[packet.stream.index]
                    out.mux(copy)
    clip.unlink()
    return target


def evict(path: Path) -> None:
    """Drop the file's pages from the page cache (flushed first), so the next read comes from the disk."""
    with path.open("rb+") as stream:
        os.fsync(stream.fileno())
        os.posix_fadvise(stream.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def read_once(path: Path) -> float:
    evict(path)
    started = time.perf_counter()
    with path.open("rb", buffering=0) as stream:
        while stream.read(READ_BLOCK):
            pass
    return time.perf_counter() - started


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1e3


def measured(function: Any) -> tuple[float, float]:
    """(seconds, peak RSS growth in MB) of ``function()``."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
    before = rss_mb()
    started = time.perf_counter()
    function()
    return time.perf_counter() - started, max(0.0, peak_mb() - before)


def ensure_ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    print("ffmpeg not found: installing Debian's (apt-get install -y ffmpeg)")
    subprocess.run(["apt-get", "install", "-y", "-q", "ffmpeg"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("ffmpeg") or "ffmpeg"


def pyav_downscale(source: Path, dest: Path) -> None:
    import av

    with av.open(str(source)) as container:
        timeline = probe(container, source.name)
        engine.downscale(container, str(dest), timeline, Span(0, None), (1920, 1080), rotation=0, label="downscale")


def cli_downscale(ffmpeg: str, source: Path, dest: Path) -> None:
    options = engine.ENCODER_OPTIONS
    subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(source), "-map", "0:v:0", "-map", "0:a?",
         "-vf", "scale=1920:1080:flags=lanczos", "-c:v", engine.ENCODER, "-crf", options["crf"],
         "-preset", options["preset"], "-profile:v", options["profile"], "-pix_fmt", engine.PIXEL_FORMAT,
         "-fps_mode", "passthrough", "-c:a", "copy", str(dest)],
        check=True,
    )  # fmt: skip


def frames_of(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(video=0) if packet.dts is not None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--downscale-frames", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="32 MiB and 20 frames: a smoke run")
    args = parser.parse_args()
    size_mib, frames = (32, 20) if args.quick else (args.size_mib, args.downscale_frames)
    import av

    ffmpeg = ensure_ffmpeg()
    cli_version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"machine: {b.machine()}")
    print(f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info}); CLI: {cli_version}")
    goals = []
    with tempfile.TemporaryDirectory(prefix="bench-repair-", dir=os.environ.get("BENCH_TMP")) as scratch:
        folder = Path(scratch)
        print(f"\nremux and trim, {size_mib} MiB recordings of 10 min 40 s (throughput = input MB/s)")
        print(f"  {'operation':<32}{'seconds':>9}{'MB/s':>9}{'x read':>8}{'peak RSS growth MB':>20}")
        for container, allow, keep, label in (
            ("mov", ("remux", "trim"), "start", "remux+trim (.mov -> .mp4)"),
            ("mp4", ("trim",), "middle", "trim (.mp4, keep middle)"),
        ):
            source = long_recording(folder, size_mib * b.MiB, container)
            size = source.stat().st_size
            read_s = b.median(read_once(source) for _ in range(3))
            dest = folder / f"out-{container}.mp4"
            evict(source)  # the repair reads from the disk too
            seconds, growth = measured(lambda s=source, d=dest, a=allow, k=keep: repair_file(s, d, allow=a, keep=k))
            ratio = read_s / seconds
            print(f"  {'read once (baseline)':<32}{read_s:>9.2f}{size / read_s / 1e6:>9.0f}{'1.00':>8}{'':>20}")
            print(f"  {label:<32}{seconds:>9.2f}{size / seconds / 1e6:>9.0f}{ratio:>8.2f}{growth:>20.1f}")
            print(f"    {size} bytes in, {dest.stat().st_size} bytes out")
            goals.append((f"{label} >= 0.5 x read", ratio >= 0.5))
            source.unlink()
            dest.unlink()

        print(f"\ndownscale, {frames} frames of 2560x1440 at 30 fps -> 1920x1080 (libx264 crf 18, preset medium)")
        wide = samples.make_recording(folder / "wide.mp4", width=2560, height=1440, seconds=frames / 30, fps=30,
                                      container="mp4", beeps=tuple(range(0, math.ceil(frames / 30))))  # fmt: skip
        count = frames_of(wide)
        print(f"  {'encoder':<32}{'seconds':>9}{'fps':>9}{'x CLI':>8}{'peak RSS growth MB':>20}")
        cli_s, _ = measured(lambda: cli_downscale(ffmpeg, wide, folder / "cli.mp4"))  # a child: not our RSS
        lib_s, growth = measured(lambda: pyav_downscale(wide, folder / "lib.mp4"))
        assert frames_of(folder / "lib.mp4") == frames_of(folder / "cli.mp4") == count
        ratio = cli_s / lib_s
        print(f"  {'ffmpeg CLI (baseline)':<32}{cli_s:>9.2f}{count / cli_s:>9.1f}{'1.00':>8}{'':>20}")
        print(f"  {'metastudio-media (PyAV)':<32}{lib_s:>9.2f}{count / lib_s:>9.1f}{ratio:>8.2f}{growth:>20.1f}")
        goals.append(("downscale >= 0.8 x ffmpeg CLI", ratio >= 0.8))
    print("\ngoals:")
    for name, ok in goals:
        print(f"  {name}: {b.verdict(ok)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
