"""Shared plumbing of the benchmarks: the sandbox as a subprocess, test files, machine facts.

Not a benchmark itself. The scripts next to it import it as a sibling module (``python bench/x.py``
puts ``bench/`` first on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

from metastudio_sandbox.launch import spawn

PROJECT = Path(__file__).resolve().parents[1]
AK, SK = "BENCHACCESSKEY000001", "bench-secret-key-0123456789abcdef"  # sandbox-only credentials
PROJECT_ID = "0123456789abcdef0123456789abcdef"
CONN_ID = "metastudio_bench"
MiB = 1024 * 1024
MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def start_sandbox(
    data_dir: Path,
    *,
    scenario: Path | None = None,
    review_delay: float = 5.0,
    log_level: str = "warning",
    upload_rate_mbps: float = 0.0,
) -> tuple[subprocess.Popen[str], str]:
    """``python -m metastudio_sandbox`` on a free loopback port; returns the process and its URL.

    ``upload_rate_mbps`` > 0 limits every upload connection to that rate (``--upload-rate-mbps``).
    """
    flags = [
        "--ak",
        AK,
        "--sk",
        SK,
        "--project-id",
        PROJECT_ID,
        "--data-dir",
        str(data_dir),
        "--review-delay",
        str(review_delay),
        "--log-level",
        log_level,
    ]
    if upload_rate_mbps > 0:
        flags += ["--upload-rate-mbps", str(upload_rate_mbps)]
    if scenario is None:  # start empty: the benchmarks seed what they need
        scenario = data_dir.parent / f"{data_dir.name}-empty.json"
        scenario.write_text('{"jobs": []}')
    return spawn(*flags, "--scenario", str(scenario))


def stop(process: subprocess.Popen[Any], timeout: float = 30) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def connection_env(url: str, conn_id: str = CONN_ID, **extra: Any) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` for the sandbox, so a ``MetaStudioHook(conn_id)`` needs no metadata DB."""
    document = {
        "conn_type": "metastudio",
        "host": url,
        "login": AK,
        "password": SK,
        "extra": {"project_id": PROJECT_ID, **extra},
    }
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(document)}


def admin(url: str, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{url}/_sandbox{path}", timeout=600, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def write_file(path: Path, size: int, head: bytes = b"", block: int = 4 * MiB) -> Path:
    """``size`` bytes: ``head`` then random data (a random block repeated, so writing is fast)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = os.urandom(block)
    with path.open("wb") as handle:
        handle.write(head)
        left = size - len(head)
        while left > 0:
            handle.write(chunk[: min(left, block)])
            left -= block
    return path


def write_media(path: Path, size: int) -> Path:
    """A genuine file of about ``size`` bytes, by the suffix of ``path``: .mp4, .jpg or .pdf.

    Unlike :func:`write_file` (a signature and random bytes), these pass the DAG's pre-flight
    inspection and the sandbox's review: the video is a real 3-minute 1920x1080 H.264 MP4 (encoded
    once, cached in the temp folder) padded with an unreferenced ``mdat`` box of random bytes, the
    photo a real JPEG padded with application segments, the letter a real PDF with a filler stream.
    """
    from metastudio_sandbox import samples

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".mp4":
        cache = Path(tempfile.gettempdir()) / "metastudio-bench-samples"
        video = samples.make_cached(path, samples.make_video, cache)  # about 50 KB
        return samples.pad_mdat(video, size, dest=path, random_fill=True)
    if path.suffix in (".jpg", ".jpeg"):
        return samples.make_jpeg(path, size=size)
    if path.suffix == ".pdf":
        return samples.make_pdf(path, size=size)
    raise ValueError(f"write_media makes .mp4, .jpg or .pdf files, not {path.name}")


def failed_job_spec(index: int, *, prefix: str = "bench", state: str = "AUTO_VERIFY_FAILED") -> dict[str, Any]:
    """A scenario job that failed review on its training video (no seeded files: fast to load)."""
    return {
        "name": f"{prefix} job {index:05d}",
        "job_id": f"{index:032x}",
        "state": state,
        "create_time": "-3d",
        "history": [
            {"log_type": "USER_VERIFYING_SUBMITTED", "at": "-2d"},
            {
                "log_type": "SYSTEM_VERIFY_FAILED",
                "at": "-2d",
                "error_code": "44005901",
                "log_description": "Video resolution 1280x720 not accepted",
            },
        ],
    }


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def machine() -> str:
    """One line: CPU model, cores, memory, Python; for the figures in docs/benchmarks.md."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
        kib = next(int(x.split()[1]) for x in lines if x.startswith("MemTotal"))
        memory = f", {kib / 1024 / 1024:.1f} GiB RAM"
    except (OSError, StopIteration):
        pass
    load = ", load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return f"{model}, {os.cpu_count()} CPUs{memory}, Python {platform.python_version()}{load}"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def seed_data_dir(data_dir: Path, jobs: list[dict[str, Any]]) -> float:
    """Write a scenario's jobs straight into a fresh sandbox data dir, in one SQLite transaction.

    Loading 10,000 jobs through ``POST /_sandbox/scenario`` takes about 12 s here (one transaction
    and one directory removal per job); this takes well under a second. The ``seeded`` marker makes
    the sandbox started on this directory keep these jobs instead of seeding its default scenario.
    Returns the seconds it took.
    """
    from metastudio_sandbox.scenario import load_scenario
    from metastudio_sandbox.store import Store

    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(data_dir)
    store.delete_job = lambda job_id: False  # type: ignore[method-assign]  # fresh directory: nothing to replace
    store._db.execute("BEGIN")
    load_scenario(store, {"jobs": jobs}, PROJECT_ID)
    store._db.execute("COMMIT")
    store.close()
    (data_dir / "seeded").touch()
    return time.perf_counter() - started
