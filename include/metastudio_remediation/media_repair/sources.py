"""Open a video for FFmpeg (PyAV) and hash a file, for local paths and object-storage URLs alike.

A local path is handed to FFmpeg as a path (its own buffered I/O, the fastest); an object-storage
URL (``s3://…``, ``gs://…``) is opened as an ``airflow.sdk.ObjectStoragePath`` and read through
the file object with a read-ahead block of :data:`OBJECT_STORE_BLOCK`, so a repair streams the
object in ranged requests and never holds it whole.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from metastudio_provider.media import display_name
from metastudio_provider.sources import is_object_storage

OBJECT_STORE_BLOCK = 8 * 1024 * 1024  # a ranged request per 8 MiB while streaming a whole video
HASH_CHUNK = 1024 * 1024

Source = str | os.PathLike[str]


def is_remote(source: Source) -> bool:
    """Object storage, read through ``ObjectStoragePath``; a ``file://`` URL is a local path to FFmpeg."""
    return is_object_storage(os.fspath(source)) and not os.fspath(source).startswith("file://")


def local_path(source: Source) -> str:
    text = os.fspath(source)
    return text.removeprefix("file://")


@contextmanager
def opened_for_ffmpeg(source: Source) -> Iterator[str | IO[bytes]]:
    """What ``av.open`` should read: a local path, or an open object-storage file (closed afterwards)."""
    if not is_remote(source):
        yield local_path(source)
        return
    from airflow.sdk import ObjectStoragePath  # only object-storage URLs need the Task SDK

    with ObjectStoragePath(os.fspath(source)).open("rb", block_size=OBJECT_STORE_BLOCK) as stream:
        yield stream


def sha256_of(source: Source) -> str:
    """SHA-256 (hex) of the whole file, read once in 1 MiB chunks."""
    digest = hashlib.sha256()
    with _open_binary(source) as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _open_binary(source: Source) -> Any:
    if not is_remote(source):
        return open(local_path(source), "rb")
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(os.fspath(source)).open("rb", block_size=OBJECT_STORE_BLOCK)


def name_of(source: Source) -> str:
    """The file name for messages: never a URL's query string or credentials."""
    return display_name(source)
