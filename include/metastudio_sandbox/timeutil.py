"""Timestamps in the formats MetaStudio and IAM put on the wire."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

RFC3339 = "%Y-%m-%dT%H:%M:%SZ"  # job timestamps: always 20 characters
_RELATIVE = re.compile(r"^-(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def rfc3339(epoch: float | None = None) -> str:
    """``2020-07-30T10:43:17Z`` for ``epoch`` (default: now)."""
    return datetime.fromtimestamp(time.time() if epoch is None else epoch, timezone.utc).strftime(RFC3339)


def iam_time(epoch: float) -> str:
    """IAM token times carry microseconds: ``2020-01-04T09:05:22.701000Z``."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(value: str) -> datetime:
    """Parse a 20-character job timestamp; raises ValueError otherwise."""
    if len(value) != 20:
        raise ValueError(f"expected YYYY-MM-DDTHH:MM:SSZ, got {value!r}")
    return datetime.strptime(value, RFC3339).replace(tzinfo=timezone.utc)


def scenario_time(value: str | None, now: float) -> str:
    """A scenario timestamp: absolute RFC 3339, or relative to ``now`` such as ``-3d`` or ``-90m``."""
    if value is None:
        return rfc3339(now)
    match = _RELATIVE.match(value)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return rfc3339(now - delta.total_seconds())
    return parse_rfc3339(value).strftime(RFC3339)
