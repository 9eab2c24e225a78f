"""Write the demo's replacement files: genuine, small media that players and MetaStudio open.

Made by :mod:`metastudio_sandbox.samples` (PyAV's H.264 and MJPEG encoders, a hand-written PNG
and PDF); the pictures are drawings, never a real person. :func:`write_assets` writes the files
of the demo manifest's fixable jobs and of the Flexus job (the tests use exactly this set);
:func:`write_refused_assets` adds the files of the job the pre-flight check stops and
:func:`write_repaired_assets` the phone recording the DAG repairs, which only ``make demo`` seeds.
Files are made once per content in ``var/cache/samples`` and copied from
there, so a run does not re-encode the videos.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from metastudio_sandbox.samples import make_cached, make_jpeg, make_pdf, make_png, make_recording, make_video, pad_mdat

PROJECT = Path(__file__).resolve().parents[2]
CACHE = PROJECT / "var" / "cache" / "samples"
KiB = 1024
# The manifest splits Anchor Li's video into 3 parts and OBS wants every part but the last to be at
# least 100 KB; the 50 KB still-frame video is padded with an unreferenced mdat box to 3 x 256 KiB.
TRAINING_VIDEO_SIZE = 768 * KiB


def training_video(path: Path, *, seconds: float, size: int | None = None) -> Path:
    """A 1920x1080 H.264 MP4 of ``seconds``, optionally padded to exactly ``size`` bytes."""
    if size is None:
        return make_video(path, width=1920, height=1080, seconds=seconds)
    with tempfile.TemporaryDirectory() as scratch:
        video = make_video(Path(scratch) / "video.mp4", width=1920, height=1080, seconds=seconds)
        return pad_mdat(video, size, dest=path)


def write_assets(root: Path, cache: Path | None = CACHE) -> list[Path]:
    """The files of include/corrections/corrections.yaml that the tests' scenario uses."""
    files = {
        "anchor-li/training_video.mp4": (training_video, {"seconds": 180, "size": TRAINING_VIDEO_SIZE}),
        "host-wang/id_front.jpg": (make_jpeg, {}),
        "host-wang/id_back.jpg": (make_jpeg, {"back": True}),
        "teacher-zhao/authorization_letter.pdf": (make_pdf, {"title": "Authorization letter - Teacher Zhao"}),
        "editor-liu/id_back.jpg": (make_jpeg, {"back": True, "width": 1000, "height": 630}),
    }
    return [make_cached(root / name, maker, cache, **params) for name, (maker, params) in files.items()]


def write_refused_assets(root: Path, cache: Path | None = CACHE) -> list[Path]:
    """Presenter Gao's files: a PNG ID photo that passes and a 2-minute video that pre-flight refuses."""
    files = {
        "presenter-gao/training_video.mp4": (training_video, {"seconds": 120}),
        "presenter-gao/id_front.png": (make_png, {}),
    }
    return [make_cached(root / name, maker, cache, **params) for name, (maker, params) in files.items()]


def write_repaired_assets(root: Path, cache: Path | None = CACHE) -> list[Path]:
    """Vlogger Ma's phone recording: a 1920x1080 QuickTime .mov of 10 min 40 s with sound.

    One still picture per second and a keyframe every 2 s keep it small (about 11 MB) and quick to
    make (a few seconds, once: it is cached); the DAG remuxes and trims it (``repair: [remux, trim]``).
    """
    files = {"vlogger-ma/recording.mov": (make_recording, {"seconds": 640, "container": "mov"})}
    return [make_cached(root / name, maker, cache, **params) for name, (maker, params) in files.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=PROJECT / "include" / "corrections" / "assets")
    parser.add_argument("--no-cache", action="store_true", help="encode every file again")
    args = parser.parse_args()
    cache = None if args.no_cache else CACHE
    for path in (
        write_assets(args.root, cache)
        + write_refused_assets(args.root, cache)
        + write_repaired_assets(args.root, cache)
    ):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
