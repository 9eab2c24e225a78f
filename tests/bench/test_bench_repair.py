"""``bench/media_repair.py --quick`` runs: every repair is measured against its baseline in the same run.

What is asserted is what the code controls: each operation ran, wrote its output, and printed its
ratio and memory growth; the ratios themselves are for docs/benchmarks.md (a shared machine's
timing is not a test). The downscale frame counts of PyAV and the ffmpeg CLI are checked equal
inside the script.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "media_repair.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the downscale baseline needs Debian's ffmpeg"),
]


def test_media_repair_quick_measures_each_repair_against_its_baseline() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "machine: " in out
    for label in ("remux+trim (.mov -> .mp4)", "trim (.mp4, keep middle)", "metastudio-media (PyAV)"):
        row = re.search(rf"^  {re.escape(label)}\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.MULTILINE)
        assert row, f"no figures for {label}:\n{out}"
        assert float(row.group(3)) > 0  # the ratio against the baseline of the same run
    # A 32 MiB recording in, the trimmed MP4 out: 590 of 640 seconds of it, give or take a keyframe.
    for bytes_in, bytes_out in re.findall(r"^    (\d+) bytes in, (\d+) bytes out$", out, re.MULTILINE):
        assert 0.85 < int(bytes_out) / int(bytes_in) < 0.95
    assert len(re.findall(r"^  .+: (met|NOT met)$", out, re.MULTILINE)) == 3
