"""Persistence: jobs, presigned URLs, received files and webhook calls in SQLite; file bytes on disk.

Everything the sandbox knows lives in ``data_dir`` so a restart with the same directory loses
nothing. One connection guarded by a lock: the event loop, review timers and tests share it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, astuple, dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS urls (
    url_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    asset TEXT NOT NULL,
    part INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    expires INTEGER NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS urls_job ON urls (job_id, status);
CREATE TABLE IF NOT EXISTS files (
    job_id TEXT NOT NULL,
    asset TEXT NOT NULL,
    part INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (job_id, asset, part)
);
CREATE TABLE IF NOT EXISTS webhooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    received_at REAL NOT NULL,
    body TEXT NOT NULL
);
"""

URL_ACTIVE = "active"
URL_USED = "used"
URL_SUPERSEDED = "superseded"


@dataclass(frozen=True)
class UrlRecord:
    url_id: str
    job_id: str
    asset: str
    part: int  # 0 for single files, 1..N for video parts
    content_type: str
    expires: int
    status: str


@dataclass(frozen=True)
class FileRecord:
    """A received file. ``part`` 0 is the whole asset; 1..N are staged video parts."""

    job_id: str
    asset: str
    part: int
    size: int
    sha256: str
    etag: str
    content_type: str
    received_at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# The ``files`` columns are in FileRecord's field order.
_INSERT_FILE = "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


class Store:
    """SQLite rows plus the file tree ``files/{job_id}/{asset}[.partN]`` under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.files_dir = data_dir / "files"
        self.tmp_dir = data_dir / "tmp"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(data_dir / "sandbox.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self.secret = self._load_secret()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _load_secret(self) -> bytes:
        """Server secret for presigned URLs and tokens; kept in the data dir so URLs survive restarts."""
        path = self.data_dir / "secret.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
        return path.read_bytes()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # Jobs -----------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT doc FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def all_jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT doc FROM jobs").fetchall()
        return [json.loads(row[0]) for row in rows]

    def put_job(self, job: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO jobs (job_id, doc) VALUES (?, ?)", (job["job_id"], json.dumps(job))
            )

    def delete_job(self, job_id: str) -> bool:
        with self.transaction() as db:
            deleted = db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,)).rowcount
            db.execute("DELETE FROM files WHERE job_id = ?", (job_id,))
            db.execute(
                "UPDATE urls SET status = ? WHERE job_id = ? AND status = ?", (URL_SUPERSEDED, job_id, URL_ACTIVE)
            )
        shutil.rmtree(self.files_dir / job_id, ignore_errors=True)
        return bool(deleted)

    def reset(self) -> None:
        with self.transaction() as db:
            for table in ("jobs", "urls", "files", "webhooks"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        shutil.rmtree(self.files_dir, ignore_errors=True)
        self.files_dir.mkdir(parents=True, exist_ok=True)

    # Presigned URLs -------------------------------------------------------------------------

    def supersede_urls(self, job_id: str) -> int:
        """Invalidate every unused URL of a job (a new Update issues fresh ones)."""
        with self._lock:
            return self._db.execute(
                "UPDATE urls SET status = ? WHERE job_id = ? AND status = ?", (URL_SUPERSEDED, job_id, URL_ACTIVE)
            ).rowcount

    def add_url(self, job_id: str, asset: str, part: int, content_type: str, expires: int) -> str:
        url_id = secrets.token_hex(16)
        with self._lock:
            self._db.execute(
                "INSERT INTO urls VALUES (?, ?, ?, ?, ?, ?, ?)",
                (url_id, job_id, asset, part, content_type, expires, URL_ACTIVE),
            )
        return url_id

    def get_url(self, url_id: str) -> UrlRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM urls WHERE url_id = ?", (url_id,)).fetchone()
        return UrlRecord(*row) if row else None

    def urls_of(self, job_id: str) -> list[UrlRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM urls WHERE job_id = ? ORDER BY asset, part", (job_id,)).fetchall()
        return [UrlRecord(*row) for row in rows]

    # Files ----------------------------------------------------------------------------------

    def file_path(self, job_id: str, asset: str, part: int) -> Path:
        return self.files_dir / job_id / (asset if part == 0 else f"{asset}.part{part}")

    def new_temp_path(self) -> Path:
        return self.tmp_dir / f"upload-{secrets.token_hex(8)}"

    def complete_upload(self, url_id: str, temp: Path, record: FileRecord) -> str | None:
        """Consume the URL and move the upload into place, atomically.

        Returns None on success, or the URL status that prevented it (the temp file is then removed),
        so concurrent PUTs to one URL cannot both succeed.
        """
        with self.transaction() as db:
            row = db.execute("SELECT status FROM urls WHERE url_id = ?", (url_id,)).fetchone()
            status = row[0] if row else URL_SUPERSEDED
            if status != URL_ACTIVE:
                temp.unlink(missing_ok=True)
                return status
            target = self.file_path(record.job_id, record.asset, record.part)
            target.parent.mkdir(parents=True, exist_ok=True)
            temp.replace(target)
            db.execute("UPDATE urls SET status = ? WHERE url_id = ?", (URL_USED, url_id))
            db.execute(_INSERT_FILE, astuple(record))
        return None

    def put_file(self, record: FileRecord) -> None:
        """Record a file already written at ``file_path`` (seeded or assembled assets)."""
        with self._lock:
            self._db.execute(_INSERT_FILE, astuple(record))

    def files_of(self, job_id: str, asset: str | None = None) -> list[FileRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM files WHERE job_id = ? AND (? IS NULL OR asset = ?) ORDER BY asset, part",
                (job_id, asset, asset),
            ).fetchall()
        return [FileRecord(*row) for row in rows]

    def drop_parts(self, job_id: str, asset: str) -> None:
        """Forget staged parts (part >= 1) of a video asset; its assembled file stays."""
        for record in self.files_of(job_id, asset):
            if record.part > 0:
                self.file_path(job_id, asset, record.part).unlink(missing_ok=True)
        with self._lock:
            self._db.execute("DELETE FROM files WHERE job_id = ? AND asset = ? AND part > 0", (job_id, asset))

    def drop_file(self, job_id: str, asset: str) -> None:
        self.drop_parts(job_id, asset)
        self.file_path(job_id, asset, 0).unlink(missing_ok=True)
        with self._lock:
            self._db.execute("DELETE FROM files WHERE job_id = ? AND asset = ?", (job_id, asset))

    # Webhook sink ---------------------------------------------------------------------------

    def add_webhook(self, name: str, body: Any) -> int:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO webhooks (name, received_at, body) VALUES (?, ?, ?)", (name, time.time(), json.dumps(body))
            )
        return int(cursor.lastrowid or 0)

    def webhooks(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, received_at, body FROM webhooks WHERE name = ? ORDER BY seq", (name,)
            ).fetchall()
        return [{"seq": seq, "received_at": at, "body": json.loads(body)} for seq, at, body in rows]

    def clear_webhooks(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM webhooks WHERE name = ?", (name,))
