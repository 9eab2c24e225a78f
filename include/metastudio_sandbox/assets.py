"""The uploadable assets of a training job, and recognising file formats by their magic bytes."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from importlib import resources

OCTET_STREAM = "application/octet-stream"
ZIP = "application/zip"


@dataclass(frozen=True)
class Asset:
    name: str
    upload_field: str  # Create/Update response field
    download_field: str  # Show response field
    content_type: str  # the only Content-Type its presigned URL accepts
    multipart: bool = False


ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in (
        Asset("training_video", "training_video_upload_url", "training_video_download_url", OCTET_STREAM, True),
        Asset("action_video", "action_video_upload_url", "action_video_download_url", OCTET_STREAM, True),
        Asset("audio", "audio_upload_url", "audio_file_download_url", ZIP),
        Asset("cover", "cover_upload_url", "cover_download_url", OCTET_STREAM),
        Asset("id_card_image1", "id_card_image1_upload_url", "id_card_image1_download_url", OCTET_STREAM),
        Asset("id_card_image2", "id_card_image2_upload_url", "id_card_image2_download_url", OCTET_STREAM),
        Asset("grant_file", "grant_file_upload_url", "grant_file_download_url", OCTET_STREAM),
        Asset("pre_beauty_image", "pre_beauty_image_upload_url", "pre_beauty_image_download_url", OCTET_STREAM),
        Asset("post_beauty_image", "post_beauty_image_upload_url", "post_beauty_image_download_url", OCTET_STREAM),
    )
}

_MAGIC: tuple[tuple[str, int, bytes], ...] = (
    ("jpeg", 0, b"\xff\xd8\xff"),
    ("png", 0, b"\x89PNG\r\n\x1a\n"),
    ("pdf", 0, b"%PDF-"),
    ("zip", 0, b"PK\x03\x04"),
    ("mp4", 4, b"ftyp"),
)
SNIFF_BYTES = 16


def sniff(head: bytes) -> str | None:
    """Format of a file from its first bytes: mp4, jpeg, png, pdf, zip, or None."""
    for kind, offset, magic in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


SEED_VIDEO = "data/training_video.mp4"  # real H.264, 1920x1080, 3 min; see docs/sandbox.md


def synthetic(kind: str, seed: str) -> bytes:
    """A small file of the given format for seeded jobs; ``seed`` makes its hash unique.

    ``mp4`` is a genuine video that passes the automatic review (1920x1080, 3 minutes, made by
    :func:`metastudio_sandbox.samples.make_video`), followed by a ``free`` box holding the seed;
    the other kinds are a valid signature followed by filler, which the review only sniffs.
    """
    filler = hashlib.sha256(seed.encode()).digest() * 32
    if kind == "mp4":
        video = resources.files("metastudio_sandbox").joinpath(SEED_VIDEO).read_bytes()
        return video + struct.pack(">I4s", 8 + len(filler), b"free") + filler
    heads = {
        "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "pdf": b"%PDF-1.4\n",
        "zip": b"PK\x03\x04",
        "bin": b"",
    }
    if kind not in heads:
        raise ValueError(f"unknown synthetic file kind {kind!r}; use one of mp4, {', '.join(heads)}")
    return heads[kind] + filler
