"""``bench/realistic_link.py --quick``: the three ways run, print their figures, and every byte arrives.

No timing is asserted (the machine is shared and noisy); the figures belong in docs/benchmarks.md.
The benchmark itself exits non-zero if a way leaves a job unsubmitted or a byte missing
(``check_sandbox``); this test also checks that each way reports the same byte count.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "realistic_link.py"

pytestmark = pytest.mark.slow


def test_realistic_link_runs_three_ways_and_every_byte_arrives() -> None:
    process = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = process.stdout
    assert process.returncode == 0, output[-3000:] + process.stderr[-3000:]
    assert "machine: " in output and "per upload connection (sandbox --upload-rate-mbps)" in output
    received = re.findall(
        r"^(sequential script|threaded script|DAG)\b.*every job resubmitted, (\d+) bytes received", output, re.M
    )
    assert [way for way, _ in received] == ["sequential script", "threaded script", "DAG"], output
    assert len({count for _, count in received}) == 1 and int(received[0][1]) > 3 * 6 * 2**20
    rows = re.findall(r"^  (sequential script|threaded script|DAG under a scheduler)\b.*?(\s+[\d.]+){4}$", output, re.M)
    assert [row[0] for row in rows] == ["sequential script", "threaded script", "DAG under a scheduler"], output
    assert re.search(r"^  ratio DAG / sequential: [\d.]+ ", output, re.M), output
    assert re.search(r"^  ratio DAG / threaded: [\d.]+ ", output, re.M), output
    assert "realistic_link: all goals" in output
