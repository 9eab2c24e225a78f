"""Start the sandbox as a separate process (demo, benchmarks, restart tests) and wait until it serves."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

READY_MARKER = "listening on "


def spawn(*args: str, **popen_kwargs: Any) -> tuple[subprocess.Popen[str], str]:
    """Run ``python -m metastudio_sandbox --host 127.0.0.1 --port 0 ARGS``; return the process and its base URL.

    ``args`` are further CLI flags (``--ak``, ``--scenario``, ...); later flags win, so ``--port``
    or ``--host`` may be overridden. Raises ``RuntimeError`` (and kills the process) if the
    sandbox exits or prints something else instead of its ready line.
    """
    command = [sys.executable, "-m", "metastudio_sandbox", "--host", "127.0.0.1", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, **popen_kwargs)  # noqa: S603
    line = process.stdout.readline() if process.stdout else ""
    if READY_MARKER not in line:
        process.kill()
        process.wait()
        raise RuntimeError(f"the MetaStudio sandbox did not start: {line.strip()!r}")
    return process, line.rsplit(" ", 1)[-1].strip()
