"""The file that was checked is the file that is sent.

The plan step inspects each replacement file, then the upload runs later, possibly on another
worker. Re-opening the file by its path at upload time would send whatever the path names by then:
a file edited in between, or a symbolic link to ``/etc/passwd`` put in its place. So the plan
records a :class:`FileIdentity` (the path with every symlink already resolved, device, inode,
size, modification time) and both the inspection and the upload read the file through
:class:`PinnedFile`, which

* walks the path one component at a time from ``/`` with ``O_NOFOLLOW`` (``openat``-style, each
  directory opened relative to the previous one, ``O_PATH`` where the system has it), so a link
  swapped in for the file or for any folder on its way is refused, never followed;
* checks, on the open descriptor and before the first byte is read, that it is the same device
  and inode, a regular file, with the recorded size and modification time;
* checks the size and modification time again after every read, so a file changed during the
  transfer fails before its last block is handed out.

Object-storage files (``s3://``, ``gs://``, ...) have no inode: :class:`PinnedObject` records the
size and whichever version marker the store reports (ETag, generation, version id, mtime) and
checks them again before the upload opens the object.

Any difference raises :class:`FileIdentityError`, a :class:`MetaStudioError`: the upload code
reports it as that job's error and goes on with the other jobs.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from dataclasses import asdict, dataclass
from typing import IO, Any
from urllib.parse import urlsplit

from metastudio_provider.exceptions import MetaStudioError

_DIRECTORY_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO put in the file's place must not hang; it is refused as not a regular file.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK
# What object stores report as the version of an object, in order of preference.
_OBJECT_VERSION_KEYS = ("generation", "VersionId", "version_id", "ETag", "etag", "md5Hash", "mtime", "LastModified")


class FileIdentityError(MetaStudioError, ValueError):
    """The file at upload time is not the file that was checked (or is no longer readable)."""

    operation = "upload"


@dataclass(frozen=True)
class FileIdentity:
    """What the plan checked: an absolute path without symlinks, and the file's stat facts."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> FileIdentity:
        """Record the identity of the regular file at ``path`` (absolute, already resolved)."""
        fd = open_no_follow(path)
        try:
            return cls._from_stat(os.fspath(path), os.fstat(fd))
        finally:
            os.close(fd)

    @classmethod
    def _from_stat(cls, path: str, st: os.stat_result) -> FileIdentity:
        if not stat.S_ISREG(st.st_mode):
            raise FileIdentityError(f"{path} is not a regular file")
        return cls(path=path, device=st.st_dev, inode=st.st_ino, size=st.st_size, mtime_ns=st.st_mtime_ns)

    def difference(self, st: os.stat_result) -> str | None:
        """How ``st`` differs from this identity, in words; None when it is the same unchanged file."""
        if not stat.S_ISREG(st.st_mode):
            return "it is not a regular file any more"
        if (st.st_dev, st.st_ino) != (self.device, self.inode):
            return "it is another file now (a different inode: replaced or moved since it was checked)"
        if st.st_size != self.size:
            return f"its size changed from {self.size} to {st.st_size} bytes since it was checked"
        if st.st_mtime_ns != self.mtime_ns:
            return "it was modified since it was checked (its modification time changed)"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"type": "local", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileIdentity:
        return cls(**{key: data[key] for key in ("path", "device", "inode", "size", "mtime_ns")})


def open_no_follow(path: str | os.PathLike[str]) -> int:
    """A read-only descriptor of ``path``, opened without following a symbolic link anywhere on the way.

    ``path`` must be absolute. Each folder is opened relative to its parent's descriptor with
    ``O_NOFOLLOW``; a link in place of any component fails with ``ELOOP`` (or ``ENOTDIR``).
    Raises :class:`FileIdentityError` naming the path and the reason.
    """
    text = os.fspath(path)
    if not os.path.isabs(text):
        raise FileIdentityError(f"{text!r} is not an absolute path")
    parts = [part for part in text.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise FileIdentityError(f"{text!r} is not a resolved path ('.' or '..' in it)")
    if not parts:
        raise FileIdentityError(f"{text!r} is not a file")
    try:
        parent = os.open("/", _DIRECTORY_FLAGS)
    except OSError as exc:
        raise FileIdentityError(f"cannot open {text!r}: {exc.strerror}") from None
    try:
        for part in parts[:-1]:
            child = os.open(part, _DIRECTORY_FLAGS, dir_fd=parent)
            os.close(parent)
            parent = child
        return os.open(parts[-1], _FILE_FLAGS, dir_fd=parent)
    except OSError as exc:
        reason = "a symbolic link is in its path" if exc.errno in (errno.ELOOP, errno.ENOTDIR) else exc.strerror
        raise FileIdentityError(f"cannot open {text!r} without following links: {reason}") from None
    except ValueError as exc:  # a NUL character in the path
        raise FileIdentityError(f"cannot open {text!r}: {exc}") from None
    finally:
        os.close(parent)


class PinnedFile:
    """A local file that opens only as the file of its :class:`FileIdentity` (an ``OpenableSource``)."""

    def __init__(self, identity: FileIdentity) -> None:
        self.identity = identity
        self.path = identity.path  # for display names; never opened by this string

    def __repr__(self) -> str:
        return f"PinnedFile({self.identity.path!r})"

    def stat(self) -> os.stat_result:
        """The file's current stat, after checking it is still the recorded file."""
        fd = self._open_checked()
        try:
            return os.fstat(fd)
        finally:
            os.close(fd)

    def open(self, mode: str = "rb", **_options: Any) -> IO[bytes]:
        """A binary stream of the file, checked before its first byte and after each read."""
        if mode != "rb":
            raise ValueError("a pinned file opens only for reading ('rb')")
        return _CheckedFile(self._open_checked(), self.identity)

    def _open_checked(self) -> int:
        fd = open_no_follow(self.identity.path)
        problem = self.identity.difference(os.fstat(fd))
        if problem:
            os.close(fd)
            raise FileIdentityError(
                f"{self.identity.path} is not the file that was checked: {problem}; nothing was sent"
            )
        return fd


class _CheckedFile(io.FileIO):
    """``FileIO`` over a pinned descriptor that re-checks size and modification time after every read."""

    def __init__(self, fd: int, identity: FileIdentity) -> None:
        super().__init__(fd, "rb", closefd=True)
        self._identity = identity

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        data = super().read(size)
        self._check()
        return data  # type: ignore[return-value]

    def readinto(self, buffer: Any) -> int:  # type: ignore[override]
        count = super().readinto(buffer)
        self._check()
        return count  # type: ignore[return-value]

    def _check(self) -> None:
        problem = self._identity.difference(os.fstat(self.fileno()))
        if problem:
            raise FileIdentityError(f"{self._identity.path} changed while it was read: {problem}")


@dataclass(frozen=True)
class ObjectIdentity:
    """What the plan checked of an object-storage file: its size and the store's version markers."""

    uri: str
    size: int
    version: dict[str, str]

    @classmethod
    def from_stat(cls, uri: str, info: Any) -> ObjectIdentity:
        if not isinstance(info, dict):
            info = {"size": info.st_size, "mtime": getattr(info, "st_mtime_ns", None)}
        markers = {key: str(info[key]) for key in _OBJECT_VERSION_KEYS if info.get(key) not in (None, "")}
        return cls(uri=uri, size=int(info["size"]), version=markers)

    def difference(self, other: ObjectIdentity) -> str | None:
        if other.size != self.size:
            return f"its size changed from {self.size} to {other.size} bytes since it was checked"
        changed = sorted(key for key, value in self.version.items() if other.version.get(key) != value)
        if changed:
            return f"it was replaced since it was checked ({', '.join(changed)} changed)"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"type": "object", "uri": self.uri, "size": self.size, "version": dict(self.version)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObjectIdentity:
        return cls(uri=data["uri"], size=int(data["size"]), version=dict(data.get("version") or {}))


class PinnedObject:
    """An object-storage file that opens only while its size and version markers are the recorded ones."""

    def __init__(self, identity: ObjectIdentity, path: Any) -> None:
        self.identity = identity
        self._path = path  # an airflow.sdk.ObjectStoragePath
        self.path = str(path)

    def stat(self) -> dict[str, Any]:
        self._check()
        return {"size": self.identity.size}

    def open(self, mode: str = "rb", **options: Any) -> IO[bytes]:
        self._check()
        return self._path.open(mode, **options)

    def _check(self) -> None:
        current = ObjectIdentity.from_stat(self.identity.uri, self._path.stat())
        problem = self.identity.difference(current)
        if problem:
            raise FileIdentityError(f"{_without_query(self.identity.uri)} is not the file that was checked: {problem}")


def _without_query(uri: str) -> str:
    return urlsplit(uri)._replace(query="", fragment="").geturl()


def pinned_source(identity: dict[str, Any]) -> PinnedFile | PinnedObject:
    """The upload source for an identity recorded by the plan (``to_dict`` of either kind)."""
    if identity.get("type") == "object":
        from airflow.sdk import ObjectStoragePath

        recorded = ObjectIdentity.from_dict(identity)
        return PinnedObject(recorded, ObjectStoragePath(recorded.uri))
    return PinnedFile(FileIdentity.from_dict(identity))
