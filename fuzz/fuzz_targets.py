"""Fuzz targets: one per input kind, each feeding bytes to the code that reads hostile files.

Each target returns normally when the input ends in a named outcome (an ``Inspection``, with or
without findings, or a ``ManifestError``) and lets anything else escape: that is a crash, and the
fuzzer keeps the input. The media targets read from memory (no file per input); the manifest
target writes the bytes to one file in a temporary folder holding a few real assets, so the
per-job path, pinning and inspection code runs too.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

from metastudio_provider.media import inspect_asset
from metastudio_remediation.manifest import ManifestError, load_manifest

logging.disable(logging.WARNING)  # the pre-flight log lines of millions of inputs are noise here
CORPUS = Path(__file__).resolve().parent / "corpus"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"


class MemorySource:
    """An in-memory file with ``open("rb")`` and ``stat()``: what ``inspect_asset`` reads through."""

    def __init__(self, data: bytes, name: str) -> None:
        self._data = data
        self.path = name

    def open(self, mode: str = "rb") -> IO[bytes]:
        return io.BytesIO(self._data)

    def stat(self) -> dict[str, Any]:
        return {"size": len(self._data)}


def _media(kind: str, name: str):
    def target(data: bytes) -> None:
        inspection = inspect_asset(kind, MemorySource(data, name), name=name)
        inspection.to_dict()  # the outcome must be JSON-safe as well

    return target


class _ManifestTarget:
    """Loads each input as a manifest next to a real JPEG, PNG and MP4 from the corpus."""

    def __init__(self) -> None:
        self._folder: Path | None = None

    def _setup(self) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="fuzz-manifest-"))
        for kind, name in (("jpeg", "id.jpg"), ("png", "id.png"), ("mp4", "video.mp4")):
            seeds = sorted((CORPUS / kind).glob("*"))
            if seeds:
                shutil.copyfile(seeds[0], folder / name)
        return folder

    def __call__(self, data: bytes) -> None:
        if self._folder is None:
            self._folder = self._setup()
        suffix = ".json" if data[:1] in (b"{", b"[") else ".yaml"
        path = self._folder / f"corrections{suffix}"
        path.write_bytes(data)
        try:
            load_manifest(path)
        except ManifestError:
            pass
        finally:
            os.unlink(path)


TARGETS = {
    "manifest": _ManifestTarget(),
    "mp4": _media("training_video", "video.mp4"),
    "jpeg": _media("id_card_front", "id.jpg"),
    "png": _media("cover", "cover.png"),
    "pdf": _media("authorization_letter", "letter.pdf"),
    "zip": _media("audio", "audio.zip"),
}


def seeds(target: str) -> list[Path]:
    """The seed corpus and the saved crash inputs of ``target``, in a stable order."""
    return sorted((CORPUS / target).glob("*")) + sorted((REGRESSIONS / target).glob("*"))
