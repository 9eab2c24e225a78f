"""Upload throughput of the sandbox's presigned URLs: a 1 GiB ``curl -T`` over loopback.

Starts ``python -m metastudio_sandbox`` on a free port, creates a job per run (token auth), uploads
the file with curl to the training-video URL, checks the size the sandbox recorded, and prints the
median MB/s of several runs after a warm-up run. Each run deletes its job and calls sync(), so runs
start from the same page-cache state. Target (issue #3): >= 500 MB/s.

    .venv/bin/python bench/sandbox_upload_throughput.py [--size-mib 1024] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from metastudio_sandbox.launch import spawn

TARGET_MB_S = 500.0
PROJECT = "0123456789abcdef0123456789abcdef"
IAM_BODY = {
    "auth": {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {"domain": {"name": "bench"}, "name": "bench", "password": "bench-password"},
            },
        },
        "scope": {"project": {"id": PROJECT}},
    }
}


def make_file(path: Path, size_mib: int) -> None:
    block = os.urandom(1024 * 1024)
    with path.open("wb") as handle:
        for _ in range(size_mib):
            handle.write(block)


def start_sandbox(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    return spawn(
        "--project-id",
        PROJECT,
        "--iam-domain",
        "bench",
        "--iam-user",
        "bench",
        "--iam-password",
        "bench-password",
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
    )


def upload_once(base: str, token: str, source: Path) -> float:
    jobs = f"{base}/v1/{PROJECT}/digital-human-training-manage/user/jobs"
    created = requests.post(jobs, json={"name": "bench"}, headers={"X-Auth-Token": token}, timeout=30)
    created.raise_for_status()
    url = created.json()["training_video_upload_url"][0]
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "-T",
            str(source),
            "-H",
            "Content-Type: application/octet-stream",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{time_total}",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    status, seconds = result.stdout.split()
    if status != "200":
        raise SystemExit(f"upload answered {status}")
    job = requests.get(f"{base}/_sandbox/jobs/{created.json()['job_id']}", timeout=30).json()
    recorded = next(item["size"] for item in job["files"] if item["asset"] == "training_video")
    if recorded != source.stat().st_size:
        raise SystemExit(f"sandbox recorded {recorded} bytes, sent {source.stat().st_size}")
    # Free the upload and flush the page cache, so each run starts from the same memory state
    # instead of paying for the previous run's writeback.
    requests.delete(f"{base}/_sandbox/jobs/{created.json()['job_id']}", timeout=30).raise_for_status()
    os.sync()
    return source.stat().st_size / float(seconds) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="runs done first and not counted")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        source = Path(tmp) / "upload.bin"
        make_file(source, args.size_mib)
        os.sync()
        process, base = start_sandbox(Path(tmp) / "data")
        try:
            issued = requests.post(f"{base}/v3/auth/tokens", json=IAM_BODY, timeout=30)
            issued.raise_for_status()
            token = issued.headers["X-Subject-Token"]
            for run in range(1, args.warmup + 1):
                print(f"warm-up {run}: {upload_once(base, token, source):.0f} MB/s (not counted)")
            rates = []
            for run in range(1, args.runs + 1):
                rate = upload_once(base, token, source)
                rates.append(rate)
                print(f"run {run}: {rate:.0f} MB/s")
        finally:
            process.terminate()
            process.wait(timeout=30)
    median = statistics.median(rates)
    verdict = "PASS" if median >= TARGET_MB_S else "FAIL"
    print(
        f"sandbox upload throughput ({args.size_mib} MiB, curl -T, loopback): median {median:.0f} MB/s "
        f"over {args.runs} runs; target {TARGET_MB_S:.0f} MB/s: {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
