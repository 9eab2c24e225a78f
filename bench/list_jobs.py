"""Listing: ``MetaStudioHook.list_training_jobs`` vs a bare ``requests`` paging loop.

Seeds a sandbox (a subprocess on loopback) with ``--jobs`` jobs (default 10,000), a fifth of them
verify-failed (half ``AUTO_VERIFY_FAILED``, half ``MANUAL_VERIFY_FAILED``), then lists

* the verify-failed jobs: ``list_training_jobs(states=[...])`` vs a loop of signed ``GET``s
  (``SdkHmacSha256Auth``, ``limit=100``, stop at ``count``), the same query the DAG sends;
* every job, both ways (``--all``).

Listing every job is optional (``--all``): with 10,000 jobs the sandbox spends ~0.3 s per page
(it decodes every stored job per request), so it takes minutes. Runs alternate between the two
clients; each run clears the sandbox's request log and counts the
``list`` requests it received. Prints medians, the request counts and the time ratio.
Goals (issue #6): <= ceil(N/100) requests and <= 1.2 x the bare loop.

    .venv/bin/python bench/list_jobs.py [--jobs 10000] [--runs 5] [--all] [--quick]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import _bench as b
import requests

STATES = ["AUTO_VERIFY_FAILED", "MANUAL_VERIFY_FAILED"]
OTHER_STATES = ["JOB_SUCCESS", "TRAINING", "MANUAL_VERIFY_SUCCESS", "WAIT_FILE_UPLOAD"]


def scenario_jobs(total: int) -> list[dict]:
    jobs = []
    for index in range(total):
        failed = index % 5 == 0  # a fifth of the jobs, interleaved with the others
        state = STATES[(index // 5) % 2] if failed else OTHER_STATES[index % len(OTHER_STATES)]
        jobs.append(b.failed_job_spec(index, state=state))
    return jobs


def bare_loop(url: str, states: list[str] | None) -> int:
    """What a cron script would do: a signed session, pages of 100 until ``count`` is reached."""
    from metastudio_provider.auth import SdkHmacSha256Auth, SdkHmacSha256Signer

    session = requests.Session()
    session.headers.update({"Content-Type": "application/json"})
    session.auth = SdkHmacSha256Auth(SdkHmacSha256Signer(b.AK, b.SK), project_id=b.PROJECT_ID)
    endpoint = f"{url}/v1/{b.PROJECT_ID}/digital-human-training-manage/user/jobs"
    seen, offset = 0, 0
    while True:
        params = [("limit", 100), ("offset", offset)]
        if states:
            params.append(("state", ",".join(states)))
        response = session.get(endpoint, params=params, timeout=60)
        response.raise_for_status()
        page = response.json()
        seen += len(page["jobs"])
        offset += len(page["jobs"])
        if not page["jobs"] or offset >= page["count"]:
            return seen


def hook_list(states: list[str] | None) -> int:
    from metastudio_provider.hooks.metastudio import MetaStudioHook

    hook = MetaStudioHook(b.CONN_ID)
    return len(hook.list_training_jobs(states=states) if states else hook.list_training_jobs())


def list_requests(url: str) -> int:
    return sum(1 for r in b.admin(url, "GET", "/requests")["requests"] if r["operation"] == "list")


def measure(url: str, states: list[str] | None, runs: int) -> dict[str, dict]:
    clients = {
        "bare requests loop": lambda: bare_loop(url, states),
        "hook list_training_jobs": lambda: hook_list(states),
    }
    results: dict[str, dict] = {name: {"seconds": [], "cpu": [], "requests": [], "jobs": None} for name in clients}
    for client in clients.values():  # warm-up: imports, connection pools, SQLite cache
        client()
    for _ in range(runs):
        for name, client in clients.items():
            b.admin(url, "DELETE", "/requests")
            cpu = time.process_time()
            seconds, jobs = b.timed(client)
            results[name]["cpu"].append(time.process_time() - cpu)
            results[name]["seconds"].append(seconds)
            results[name]["requests"].append(list_requests(url))
            results[name]["jobs"] = jobs
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--all", action="store_true", help="also list every job (100 pages for 10,000 jobs; slow)")
    parser.add_argument("--quick", action="store_true", help="500 jobs, 3 runs, --all (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.runs, args.all = 500, 3, True
    print(f"machine: {b.machine()}")
    all_met = True
    with tempfile.TemporaryDirectory(prefix="bench-list-") as tmp:
        data = Path(tmp) / "data"
        jobs = scenario_jobs(args.jobs)
        failed = sum(1 for job in jobs if job["state"] in STATES)
        seconds = b.seed_data_dir(data, jobs)
        print(f"seeded {len(jobs)} jobs ({failed} verify-failed) into the sandbox store in {seconds:.2f} s")
        process, url = b.start_sandbox(data)
        os.environ.update(b.connection_env(url))
        try:
            cases = [("verify-failed", STATES, failed)] + ([("all jobs", None, len(jobs))] if args.all else [])
            for label, states, expected in cases:
                results = measure(url, states, args.runs)
                bare, hook = results["bare requests loop"], results["hook list_training_jobs"]
                limit = math.ceil(expected / 100)
                print(f"\n{label}: N={expected}, ceil(N/100)={limit}, medians of {args.runs} runs")
                for name, result in results.items():
                    if result["jobs"] != expected:
                        raise SystemExit(f"{name} listed {result['jobs']} jobs, expected {expected}")
                    print(
                        f"  {name:<24} {b.median(result['seconds']) * 1000:8.1f} ms wall "
                        f"({b.median(result['cpu']) * 1000:6.1f} ms client CPU)  "
                        f"{max(result['requests'])} requests  {result['jobs']} jobs"
                    )
                ratio = b.median(hook["seconds"]) / b.median(bare["seconds"])
                requests_ok = max(hook["requests"]) <= limit
                ratio_ok = ratio <= 1.2
                all_met &= requests_ok and ratio_ok
                print(f"  requests: {max(hook['requests'])} <= {limit}: {b.verdict(requests_ok)}")
                print(f"  time ratio hook / bare loop: {ratio:.2f} (goal <= 1.2): {b.verdict(ratio_ok)}")
        finally:
            b.stop(process)
    print(f"\nlist_jobs: all goals {b.verdict(all_met)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
