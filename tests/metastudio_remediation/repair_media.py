"""The videos the media-repair tests share: real recordings made with PyAV, cached between runs.

Repairable: a phone's 10.5-minute ``.mov`` (remux and trim), an over-long MP4 (trim), a 1440p MP4
and a portrait 1440p phone video stored landscape with a 90° rotation (downscale), a Matroska
file (remux). Deliberately unrepairable: too short, smaller than 1080p, 4:3, no video track, and a
MOV cut in half (bytes meant to be bad).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from metastudio_sandbox import samples
from tests.support.media import SampleMedia

BEEP_S = 300  # the recordings beep (and flash white) here: sync is checked on it after a cut

REPAIRABLE: dict[str, dict[str, Any]] = {
    "phone.mov": {"seconds": 630, "beeps": (BEEP_S,)},
    "long.mp4": {"seconds": 640, "container": "mp4", "beeps": (BEEP_S,)},
    "wide1440.mp4": {"width": 2560, "height": 1440, "seconds": 190, "fps": Fraction(1, 2), "container": "mp4"},
    "portrait1440.mp4": {
        "width": 2560,
        "height": 1440,
        "rotation": 90,
        "seconds": 190,
        "fps": Fraction(1, 2),
        "container": "mp4",
    },
    "camera.mkv": {"seconds": 200, "container": "mkv"},
}
UNREPAIRABLE: dict[str, dict[str, Any]] = {
    "short.mp4": {"seconds": 120, "container": "mp4"},
    "small720.mp4": {"width": 1280, "height": 720, "seconds": 190, "container": "mp4"},
    "square43.mp4": {"width": 2048, "height": 1536, "seconds": 190, "fps": Fraction(1, 2), "container": "mp4"},
    "sound_only.mp4": {"seconds": 190, "container": "mp4", "video": False},
}


def make_all(media: SampleMedia, folder: Path) -> dict[str, Path]:
    """Every test video in ``folder``, by file name (``broken.mov`` is ``phone.mov`` cut in half)."""
    made = {
        name: media.make(folder / name, samples.make_recording, **params)
        for name, params in {**REPAIRABLE, **UNREPAIRABLE}.items()
    }
    made["broken.mov"] = samples.truncate(made["phone.mov"], 0.5, dest=folder / "broken.mov")
    return made
