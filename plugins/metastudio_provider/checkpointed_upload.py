"""Upload one file, or one byte range of it, at most once per presigned URL: the checkpointed upload.

Presigned URLs are single-use, so what matters on a retry is whether the server already accepted
the bytes. The result is written to the task's checkpoint (``task_state_store``) as soon as the PUT
is answered 2xx; a later attempt that finds it reports it instead of sending again. Shared by
:class:`~metastudio_provider.operators.training_job.MetaStudioUploadAssetOperator` and the
remediation DAG's per-job uploads.

A ``stop`` event (set by the task's ``on_kill``) makes the upload give up at its next read: the
connection is closed before the body is complete, so the server accepts nothing and the URL stays
unused; the checkpoint holds exactly the parts that were accepted, and a retry resumes from there.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from metastudio_provider.checkpoint import Checkpoint
from metastudio_provider.models import OCTET_STREAM
from metastudio_provider.sources import as_upload_source
from metastudio_provider.url_vault import open_sealed_url

if TYPE_CHECKING:
    from metastudio_provider.hooks.metastudio import MetaStudioHook


class UploadStopped(Exception):
    """The task was told to stop (``on_kill``) while uploading; nothing more was sent."""


def upload_once(
    hook: MetaStudioHook,
    checkpoint: Checkpoint,
    key: str,
    *,
    sealed_url: str,
    source: Any,
    offset: int = 0,
    length: int | None = None,
    content_type: str = OCTET_STREAM,
    label: str,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Send ``source`` to the sealed URL unless ``checkpoint[key]`` records it as accepted.

    Returns ``{"label", "ok": True, "bytes_sent", "sha256", "etag", "seconds", "attempts", ...}``
    (with ``"resumed": True`` when an earlier attempt sent it). MetaStudio errors are raised for the
    caller to report; :class:`UploadStopped` when ``stop`` was set.
    """
    recorded = checkpoint.get(key)
    if recorded:
        return {**recorded, "resumed": True}
    if stop is not None and stop.is_set():
        raise UploadStopped(f"{label}: not started, the task is stopping")
    source = as_upload_source(source)
    result = hook.upload_file(
        open_sealed_url(sealed_url),
        source if stop is None else StoppableSource(source, stop, label),
        offset=offset,
        length=length,
        content_type=content_type,
        asset=label,
    )
    row = {"label": label, "ok": True, **result.to_dict()}
    checkpoint.set(key, row)
    return row


class StoppableSource:
    """A file source whose streams raise :class:`UploadStopped` on the first read after ``stop`` is set."""

    def __init__(self, source: Any, stop: threading.Event, label: str) -> None:
        self._source = Path(source) if isinstance(source, str) else source
        self._stop = stop
        self._label = label

    def open(self, mode: str) -> IO[bytes]:
        return _StoppableStream(self._source.open(mode), self._stop, self._label)  # type: ignore[return-value]

    def stat(self) -> Any:
        return self._source.stat()

    def __str__(self) -> str:
        return str(self._source)


class _StoppableStream:
    def __init__(self, stream: IO[bytes], stop: threading.Event, label: str) -> None:
        self._stream = stream
        self._stop = stop
        self._label = label
        if not hasattr(stream, "readinto"):  # the reader then falls back to read(), as for the stream itself
            self.readinto = None

    def _check(self) -> None:
        if self._stop.is_set():
            raise UploadStopped(f"{self._label}: stopped during the upload; the server accepted none of it")

    def readinto(self, buffer: Any) -> int:
        self._check()
        return self._stream.readinto(buffer)  # type: ignore[attr-defined]

    def read(self, size: int = -1) -> bytes:
        self._check()
        return self._stream.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> _StoppableStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
