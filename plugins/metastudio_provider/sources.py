"""Where an upload's bytes come from: a local path or an object-storage URI, and how big it is.

The one place that decides "is this object storage?" and "how many bytes does this file have",
for the operators, the remediation DAG's uploads and the manifest checks.
"""

from __future__ import annotations

import os
from typing import Any


def is_object_storage(location: Any) -> bool:
    """True for an object-storage URI such as ``s3://bucket/key`` (a scheme), False for a local path."""
    return isinstance(location, str) and "://" in location


def as_upload_source(source: Any) -> Any:
    """Object-storage URIs are read through ``ObjectStoragePath``; paths (and path objects) stay as they are."""
    if is_object_storage(source):
        from airflow.sdk import ObjectStoragePath  # only object-storage URIs need the Task SDK

        return ObjectStoragePath(source)
    return source


def file_size(source: Any) -> int:
    """Size in bytes of a local path, or of anything with ``stat()`` (``ObjectStoragePath``: a dict or a stat result).

    Raises ``OSError`` when the file cannot be read; callers name the file in their own error.
    """
    if isinstance(source, (str, os.PathLike)) and not is_object_storage(source):
        return os.stat(source).st_size
    stat = as_upload_source(source).stat()
    return int(stat["size"] if isinstance(stat, dict) else stat.st_size)
