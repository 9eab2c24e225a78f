"""``bench/media_inspect.py --quick`` runs and shows inspection reading a bounded number of bytes.

Bytes are asserted, not time: what the inspector reads is in its control; how long a noisy
shared machine takes is not (the figures are in docs/benchmarks.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "media_inspect.py"
QUICK_FILE_BYTES = 64 * 1024 * 1024
# Head (64 B) + one 16-byte header per top-level box (5 here) + the moov box of a 180-frame video
# (about 1.6 KiB measured). 8 KiB leaves room for a different encoder build's moov, and is 1/8192
# of the file: an inspector that reads the mdat, or the file, fails.
INSPECTION_BOUND = 8 * 1024

pytestmark = pytest.mark.slow


def test_media_inspect_quick_reads_a_few_kib_of_a_64_mib_video() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "machine: " in result.stdout

    def bytes_read(reader: str) -> list[int]:
        rows = re.findall(rf"^  {re.escape(reader)}\s+[\d.]+\s+([\d,]+)$", result.stdout, re.MULTILINE)
        return [int(row.replace(",", "")) for row in rows]

    ours = bytes_read("inspect_asset (path)")
    assert len(ours) == 2  # moov at the end and at the start
    assert all(0 < read <= INSPECTION_BOUND for read in ours), ours
    assert bytes_read("inspect_asset (ObjectStoragePath file://)") == ours
    assert bytes_read("baseline: read whole file (SHA-256)") == [QUICK_FILE_BYTES] * 2
