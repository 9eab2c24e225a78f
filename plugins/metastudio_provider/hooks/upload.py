"""Streaming request bodies for presigned uploads: constant memory, hashed, with progress.

A :class:`SegmentReader` serves one byte range of an open file to ``requests`` (which takes the
``Content-Length`` from ``len()``), hashing what it hands out so the result reports the SHA-256
of exactly the bytes sent. Each attempt builds a new reader on a freshly opened source, so a
retry never re-sends an exhausted stream.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import IO, Any, Protocol

from metastudio_provider.exceptions import MetaStudioError
from metastudio_provider.sources import file_size

UPLOAD_BLOCK_SIZE = 1024 * 1024  # bytes per socket write; 1 MiB keeps loopback near wire speed
UPLOAD_BUFFERS = 2  # block k is sent and hashed at once while block k-1 finishes hashing


class UploadSourceError(MetaStudioError, ValueError):
    """The file to upload is missing, unreadable, or changed while it was being sent."""


class OpenableSource(Protocol):
    """Anything with ``open("rb")`` and ``stat().st_size``, e.g. ``airflow.sdk.ObjectStoragePath``."""

    def open(self, mode: str) -> IO[bytes]: ...

    def stat(self) -> Any: ...


Source = str | os.PathLike[str] | OpenableSource


def source_size(source: Source) -> int:
    try:
        return file_size(source)
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


class _BackgroundHasher:
    """SHA-256 of a sequence of blocks, computed on its own thread.

    ``hashlib`` releases the GIL while it hashes a buffer larger than 2 KiB, so the sending thread
    keeps the socket busy while this one hashes the block it has just handed out. ``released``
    is called after each block, in order, so its buffer can be refilled.
    """

    def __init__(self, released: Callable[[], None]) -> None:
        self._digest = hashlib.sha256()
        self._released = released
        self._blocks: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="upload-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (block := self._blocks.get()) is not None:
            self._digest.update(block)
            self._released()

    def add(self, block: memoryview, *, last: bool = False) -> None:
        """Queue ``block``; after the ``last`` one the thread ends by itself."""
        self._blocks.put(block)
        if last:
            self._blocks.put(None)

    def finish(self) -> str:
        """Wait for every block added so far; returns the hex digest. Idempotent."""
        if self._thread.is_alive():
            self._blocks.put(None)  # a second end marker after ``last`` is never read: harmless
            self._thread.join()
        return self._digest.hexdigest()


class SegmentReader:
    """File-like body serving ``length`` bytes of ``stream`` from its current position.

    Blocks are read into a small ring of reusable buffers (no allocation per block), handed to
    ``requests`` as memoryviews and hashed on another thread while the next one is sent, so
    :attr:`sha256` is the digest of exactly the bytes handed out for sending. A buffer is refilled
    only once its block has been sent (``urllib3`` calls ``read`` again only after ``sendall``
    returned) and hashed (the hasher releases it): memory is ``buffers x block_size`` per upload.
    The hashing thread ends once the last byte is handed out; call :meth:`close` when a send
    fails before that, so it does not wait for blocks that will never come.
    """

    def __init__(
        self,
        stream: IO[bytes],
        length: int,
        progress: ProgressReporter | None = None,
        *,
        block_size: int = UPLOAD_BLOCK_SIZE,
        buffers: int = UPLOAD_BUFFERS,
    ) -> None:
        self._stream = stream
        self._length = length
        self._sent = 0
        self._progress = progress
        self._buffers = [bytearray(min(block_size, max(length, 1))) for _ in range(buffers)]
        self._next = 0
        self._free = threading.Semaphore(buffers)
        self._hasher = _BackgroundHasher(self._free.release)

    def __len__(self) -> int:
        return self._length - self._sent

    @property
    def bytes_sent(self) -> int:
        return self._sent

    @property
    def sha256(self) -> str:
        """Digest of every byte handed out; waits for the hashing thread to catch up."""
        return self._hasher.finish()

    def close(self) -> None:
        self._hasher.finish()

    def read(self, size: int = -1) -> memoryview | bytes:
        remaining = self._length - self._sent
        if remaining <= 0:
            return b""
        buffer = self._buffers[self._next]
        wanted = min(len(buffer), remaining if size is None or size < 0 else min(size, remaining))
        self._free.acquire()  # the hasher is done with this buffer's previous block
        self._next = (self._next + 1) % len(self._buffers)
        block = memoryview(buffer)[: self._fill(buffer, wanted)]
        self._sent += len(block)
        self._hasher.add(block, last=self._sent == self._length)
        if self._progress:
            self._progress.update(self._sent)
        return block

    def _fill(self, buffer: bytearray, wanted: int) -> int:
        view = memoryview(buffer)[:wanted]
        filled = 0
        readinto = getattr(self._stream, "readinto", None)
        while filled < wanted:
            if readinto is not None:
                count = readinto(view[filled:])
            else:  # a stream without readinto (some remote file objects): one copy more
                chunk = self._stream.read(wanted - filled)
                count = len(chunk)
                view[filled : filled + count] = chunk
            if not count:
                self._free.release()
                raise UploadSourceError(
                    f"upload source ended after {self._sent + filled} of {self._length} bytes; "
                    "was it modified during the upload?"
                )
            filled += count
        return filled
