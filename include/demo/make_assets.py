"""Write synthetic stand-in assets for the demo manifest (never real people's photos).

Each file starts with the signature its kind requires (MP4 ``ftyp``, JPEG, PDF) followed by
random bytes, so every run uploads new content.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

MiB = 1024 * 1024
SIGNATURES = {
    ".mp4": b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",
    ".jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
    ".png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    ".pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
}
FILES = {
    "anchor-li/training_video.mp4": 6 * MiB,
    "host-wang/id_front.jpg": 300 * 1024,
    "host-wang/id_back.jpg": 280 * 1024,
    "teacher-zhao/authorization_letter.pdf": 150 * 1024,
    "editor-liu/id_back.jpg": 260 * 1024,
}


def write_assets(root: Path) -> list[Path]:
    written = []
    for relative, size in FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        signature = SIGNATURES[path.suffix]
        path.write_bytes(signature + os.urandom(size - len(signature)))
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default_root = Path(__file__).resolve().parent.parent / "corrections" / "assets"
    parser.add_argument("--root", type=Path, default=default_root)
    args = parser.parse_args()
    for path in write_assets(args.root):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
