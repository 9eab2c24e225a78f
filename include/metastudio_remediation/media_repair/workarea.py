"""A private folder on the worker for one job's repaired files, gone when the job's task is done.

The repaired copy of a recording shows a person's face: it lives in a folder only the worker's
user can open (mode 0700, inside a root of mode 0700), named after the job, and is deleted when
the work ends, also when it fails. A retry first deletes what an earlier attempt of the same job
left behind (a worker killed mid-repair cannot clean up after itself).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

ROOT_ENV = "METASTUDIO_REPAIR_DIR"  # where the work areas go; default: <temp dir>/metastudio-repair


def work_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or Path(tempfile.gettempdir()) / "metastudio-repair")


@contextmanager
def work_area(job_id: str) -> Iterator[Path]:
    """A fresh, private, empty folder for ``job_id``'s repaired files; deleted with its contents on exit."""
    if not job_id or os.sep in job_id or job_id.startswith("."):
        raise ValueError(f"job id {job_id!r} cannot name a work area")
    root = work_root()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    folder = root / job_id
    if folder.exists():
        log.warning("Removing %s left by an earlier attempt of job %s", folder, job_id)
        shutil.rmtree(folder)
    folder.mkdir(mode=0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
