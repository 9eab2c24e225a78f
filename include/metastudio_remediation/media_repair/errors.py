"""The one exception of media repair."""

from __future__ import annotations


class RepairRefused(ValueError):
    """A file that cannot be repaired honestly; the message names the file and says why (nothing was written)."""
