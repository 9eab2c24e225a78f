"""Streaming request bodies for presigned uploads: constant memory, hashed, with progress.

A :class:`SegmentReader` serves one byte range of an open file to ``requests`` (which takes the
``Content-Length`` from ``len()``), hashing what it hands out so the result reports the SHA-256
of exactly the bytes sent. Each attempt builds a new reader on a freshly opened source, so a
retry never re-sends an exhausted stream.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import IO, Any, Protocol

from requests.adapters import HTTPAdapter

from metastudio_provider.exceptions import MetaStudioError

UPLOAD_BLOCK_SIZE = 1024 * 1024  # bytes per socket write; 1 MiB keeps loopback near wire speed


class UploadSourceError(MetaStudioError, ValueError):
    """The file to upload is missing, unreadable, or changed while it was being sent."""


class OpenableSource(Protocol):
    """Anything with ``open("rb")`` and ``stat().st_size``, e.g. ``airflow.sdk.ObjectStoragePath``."""

    def open(self, mode: str) -> IO[bytes]: ...

    def stat(self) -> Any: ...


Source = str | os.PathLike[str] | OpenableSource


def source_size(source: Source) -> int:
    try:
        if isinstance(source, (str, os.PathLike)):
            return os.stat(source).st_size
        stat = source.stat()
        return int(stat["size"] if isinstance(stat, dict) else stat.st_size)
    except OSError as exc:
        raise UploadSourceError(f"cannot read upload source {source}: {exc.strerror or exc}") from None


def open_source(source: Source, offset: int) -> IO[bytes]:
    try:
        # The caller closes the stream (it outlives this function), hence no context manager.
        stream = open(source, "rb") if isinstance(source, (str, os.PathLike)) else source.open("rb")  # noqa: SIM115
    except OSError as exc:
        raise UploadSourceError(f"cannot open upload source {source}: {exc.strerror or exc}") from None
    if offset:
        stream.seek(offset)
    return stream


class ProgressReporter:
    """Calls ``emit(sent, total, mb_per_s)`` at most every ``interval`` seconds (and never per chunk)."""

    def __init__(self, total: int, interval: float, emit: Callable[[int, int, float], None]) -> None:
        self.total = total
        self.interval = interval
        self._emit = emit
        self._started = time.monotonic()
        self._last = self._started

    def update(self, sent: int) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval and sent < self.total:
            self._last = now
            elapsed = now - self._started
            self._emit(sent, self.total, sent / 1e6 / elapsed if elapsed > 0 else 0.0)


class SegmentReader:
    """File-like body serving ``length`` bytes of ``stream`` from its current position."""

    def __init__(self, stream: IO[bytes], length: int, progress: ProgressReporter | None = None) -> None:
        self._stream = stream
        self._length = length
        self._sent = 0
        self._sha256 = hashlib.sha256()
        self._progress = progress

    def __len__(self) -> int:
        return self._length - self._sent

    @property
    def bytes_sent(self) -> int:
        return self._sent

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def read(self, size: int = -1) -> bytes:
        remaining = self._length - self._sent
        if remaining <= 0:
            return b""
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        chunk = self._stream.read(wanted)
        if not chunk:
            raise UploadSourceError(
                f"upload source ended after {self._sent} of {self._length} bytes; was it modified during the upload?"
            )
        self._sent += len(chunk)
        self._sha256.update(chunk)
        if self._progress:
            self._progress.update(self._sent)
        return chunk


class LargeBlockAdapter(HTTPAdapter):
    """``HTTPAdapter`` whose connections write request bodies in 1 MiB blocks (urllib3 default: 16 KiB)."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        pool_kwargs.setdefault("blocksize", UPLOAD_BLOCK_SIZE)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
