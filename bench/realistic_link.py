"""A realistic link: the same workload three ways against a sandbox whose connections are rate-limited.

MetaStudio's uploads go to OBS, where one connection gets a bounded rate and parallel part uploads
are how a client fills its link. The sandbox imitates that with ``--upload-rate-mbps`` (each
upload connection paced to that many megabits per second, server side). In one run, against one
such sandbox (reset to the same scenario before each way), ``--jobs`` verify-failed jobs (default
20) are fixed three ways:

* **sequential**: a plain script with ``MetaStudioHook``, one job after the other, one upload at
  a time (the video's parts one after the other);
* **threaded**: the same calls from a script with the DAG's concurrency: ``--pool-slots`` jobs at
  a time (the ``metastudio_api`` pool's slots, default 8), each uploading ``--upload-concurrency``
  files and parts at a time (the Variable ``metastudio_upload_concurrency``, default 4);
* **DAG**: the remediation DAG of this tree under a real scheduler, run as
  ``bench/dag_end_to_end.py`` runs it (its helpers are imported: same Airflow settings, a warm-up
  dry run first, same wall-time definition, from the run's creation to its ``end_date``), with
  ``wait_for_review`` off (the sandbox's review delay is 1 h).

Each job gets a training video of ``--video-mib`` MiB (default 300, a typical real size) split in
parts of ``--part-mib`` MiB (the Variable ``metastudio_part_size_mb``, default 64 here), ID card
front and back (300 and 280 KiB) and an authorization letter (150 KiB). The files are genuine
media (they pass the DAG's pre-flight inspection): the video is the sandbox's real 1080p H.264
sample padded with an unreferenced ``mdat`` box that is a hole in a sparse file, so writing 6 GB
of inputs costs no time and no disk; every byte is still read and sent. Each way scripts and
sandbox are checked afterwards: every job ``AUTO_VERIFYING``, every byte received.

Each script runs in its own process and is timed from its start (imports included). Printed:
wall time and aggregate MB/s per way, the ratios DAG / sequential and DAG / threaded, and the CPU
time of the client side and of the sandbox.

Goals (issue #11): DAG >= 3 x faster than the sequential script (ratio <= 0.33) and <= 1.2 x the
threaded script.

    .venv/bin/python bench/realistic_link.py [--jobs 20] [--video-mib 300] [--part-mib 64]
        [--rate-mbps 40] [--pool-slots 8] [--upload-concurrency 4] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _bench as b
import dag_end_to_end as e2e
import yaml

DAG_SLOWER_THAN_THREADED_GOAL = 1.2
DAG_VS_SEQUENTIAL_GOAL = 1 / 3
COMMANDS = ("CONFIRM_MULTIPART_UPLOADED", "CONFIRM_AUTHORIZATION_LETTER", "SUBMITVERIFYING")


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def write_inputs(tmp: Path, jobs: int, video_mib: int) -> tuple[dict[str, Any], Path, int]:
    """Scenario, one set of genuine media per job (the videos sparse) and the manifest; total bytes."""
    from metastudio_sandbox import samples

    cache = Path(tempfile.gettempdir()) / "metastudio-bench-samples"
    seed = samples.make_cached(tmp / "seed.mp4", samples.make_video, cache)
    small = {kind: b.write_media(tmp / "small" / name, size) for kind, (name, size) in e2e.SMALL_FILES.items()}
    scenario = {"jobs": [b.failed_job_spec(index, prefix="link") for index in range(1, jobs + 1)]}
    root = tmp / "assets"
    corrections: dict[str, Any] = {}
    total = 0
    for spec in scenario["jobs"]:
        folder = root / spec["job_id"]
        folder.mkdir(parents=True)
        video = samples.pad_mdat(seed, video_mib * b.MiB, dest=folder / "training_video.mp4")
        assets = {"training_video": f"{spec['job_id']}/{video.name}"}
        total += video.stat().st_size
        for kind, source in small.items():
            copy = shutil.copyfile(source, folder / source.name)
            assets[kind] = f"{spec['job_id']}/{copy.name}"
            total += copy.stat().st_size
        corrections[spec["job_id"]] = {"note": "re-shot and re-scanned", "assets": assets}
    manifest = tmp / "corrections.yaml"
    manifest.write_text(yaml.safe_dump({"version": 1, "assets_root": str(root), "jobs": corrections}))
    return scenario, manifest, total


# --------------------------------------------------------------------------------------------
# The two scripts (each run with --script MODE in its own process)
# --------------------------------------------------------------------------------------------


def fix_job(job_id: str, correction: dict[str, Any], root: Path, part_size: int, concurrency: int) -> None:
    """Update, upload every file and part (``concurrency`` at a time), confirm, resubmit: as the DAG does."""
    from metastudio_provider.hooks.metastudio import MetaStudioHook
    from metastudio_remediation.planning import part_count_for, part_ranges

    hook = MetaStudioHook(b.CONN_ID)  # one per job, as one per DAG task
    video = root / correction["assets"]["training_video"]
    size = video.stat().st_size
    parts = part_count_for(size, part_size)
    urls = hook.update_training_job(job_id, {"video_multipart_count": parts})
    sends = [
        (target, video, offset, length)
        for target, (offset, length) in zip(urls.for_asset("training_video"), part_ranges(size, parts), strict=True)
    ]
    for kind in e2e.SMALL_FILES:
        (target,) = urls.for_asset(kind)
        source = root / correction["assets"][kind]
        sends.append((target, source, 0, source.stat().st_size))

    def send(item: tuple[Any, Path, int, int]) -> None:
        target, source, offset, length = item
        hook.upload_file(
            target.url, source, offset=offset, length=length, content_type=target.content_type, asset=target.label
        )

    if concurrency == 1:
        for item in sends:
            send(item)
    else:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="upload") as pool:
            list(pool.map(send, sends))
    for command in COMMANDS:
        hook.execute_command(job_id, command)


def script(mode: str, manifest_path: str, part_mib: int, slots: int, concurrency: int) -> None:
    from metastudio_provider.hooks.metastudio import MetaStudioHook

    manifest = yaml.safe_load(Path(manifest_path).read_text())
    root = Path(manifest["assets_root"])
    failed = MetaStudioHook(b.CONN_ID).list_training_jobs(states=["AUTO_VERIFY_FAILED", "MANUAL_VERIFY_FAILED"])
    jobs = [(job.job_id, manifest["jobs"][job.job_id]) for job in failed if job.job_id in manifest["jobs"]]
    part_size = part_mib * b.MiB
    if mode == "sequential":
        for job_id, correction in jobs:
            fix_job(job_id, correction, root, part_size, 1)
        return
    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="job") as pool:
        futures = [
            pool.submit(fix_job, job_id, correction, root, part_size, concurrency) for job_id, correction in jobs
        ]
        for future in futures:
            future.result()


def run_script(mode: str, env: dict[str, str], manifest: Path, args: argparse.Namespace) -> float:
    started = time.perf_counter()
    options = ["--part-mib", str(args.part_mib), "--pool-slots", str(args.pool_slots)]
    options += ["--upload-concurrency", str(args.upload_concurrency)]
    subprocess.run(
        [sys.executable, __file__, "--script", mode, str(manifest), *options],
        env={**env, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# One run, three ways
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--video-mib", type=int, default=300)
    parser.add_argument("--part-mib", type=int, default=64, help="Variable metastudio_part_size_mb")
    parser.add_argument("--rate-mbps", type=float, default=40.0, help="per-connection upload rate of the sandbox")
    parser.add_argument("--pool-slots", type=int, default=8, help="slots of the metastudio_api pool")
    parser.add_argument(
        "--upload-concurrency", type=int, default=4, help="uploads a job runs at a time (metastudio_upload_concurrency)"
    )
    parser.add_argument("--parallelism", type=int, default=32, help="[core] parallelism (LocalExecutor workers)")
    parser.add_argument("--max-active-tasks", type=int, default=16, help="[core] max_active_tasks_per_dag")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the DAG run")
    parser.add_argument("--quick", action="store_true", help="3 jobs, 6 MiB videos in 2 MiB parts (smoke test)")
    parser.add_argument("--script", nargs=2, metavar=("MODE", "MANIFEST"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.script:
        mode, manifest = args.script
        script(mode, manifest, args.part_mib, args.pool_slots, args.upload_concurrency)
        return 0
    if args.quick:
        args.jobs, args.video_mib, args.part_mib = 3, 6, 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: Airflow and the sandbox stop
    print(f"machine: {b.machine()}")
    rate_mb_s = args.rate_mbps / 8
    with tempfile.TemporaryDirectory(prefix="bench-link-") as name:
        tmp = Path(name)
        scenario, manifest, total = write_inputs(tmp, args.jobs, args.video_mib)
        parts = -(-args.video_mib // args.part_mib)
        print(
            f"workload: {args.jobs} verify-failed jobs, each: training video {args.video_mib} MiB in {parts} parts of"
            f" up to {args.part_mib} MiB (metastudio_part_size_mb), ID card front 300 KiB, back 280 KiB, letter"
            f" 150 KiB; {total / 1e6:.0f} MB in all"
        )
        print(f"link: {args.rate_mbps:g} Mbps ({rate_mb_s:g} MB/s) per upload connection (sandbox --upload-rate-mbps)")
        print(
            f"concurrency: pool metastudio_api {args.pool_slots} slots, {args.upload_concurrency} uploads at a time"
            " per job (metastudio_upload_concurrency); the threaded script uses the same"
        )
        os.environ["AIRFLOW_VAR_METASTUDIO_PART_SIZE_MB"] = str(args.part_mib)  # read by e2e.airflow_env
        sandbox, url = b.start_sandbox(tmp / "sandbox", review_delay=3600, upload_rate_mbps=args.rate_mbps)
        args.sandbox_pid = sandbox.pid
        args.api_workers = 1
        results: dict[str, dict[str, float]] = {}
        try:
            env = {**os.environ, **b.connection_env(url), "AIRFLOW_HOME": str(tmp / "script-home")}
            for mode in ("sequential", "threaded"):
                b.admin(url, "POST", "/reset", json=scenario)
                os.sync()
                cpu, sandbox_cpu = e2e.children_cpu(), e2e.process_cpu(sandbox.pid)
                wall = run_script(mode, env, manifest, args)
                results[mode] = {
                    "wall": wall,
                    "client_cpu": e2e.children_cpu() - cpu,
                    "sandbox_cpu": e2e.process_cpu(sandbox.pid) - sandbox_cpu,
                }
                e2e.check_sandbox(url, scenario, total, f"{mode} script")
                print(f"{mode} script: {wall:.1f} s, every job resubmitted, {total} bytes received")
            dag = e2e.run_airflow("DAG", b.PROJECT, tmp, url, manifest, scenario, total, args, 1)
            print(f"DAG: every job resubmitted, {total} bytes received")
            results["DAG"] = {"wall": dag["wall"], "client_cpu": dag["airflow_cpu"], "sandbox_cpu": dag["sandbox_cpu"]}
        finally:
            b.stop(sandbox)
    return report(results, total, args, dag)


def report(results: dict[str, dict[str, float]], total: int, args: argparse.Namespace, dag: dict[str, Any]) -> int:
    labels = {
        "sequential": "sequential script (hook)",
        "threaded": f"threaded script ({args.pool_slots} jobs x {args.upload_concurrency} uploads)",
        "DAG": f"DAG under a scheduler ({dag['task_instances']} task instances)",
    }
    print(f"\n  {'way':<44} {'wall s':>8} {'MB/s':>7} {'client CPU s':>13} {'sandbox CPU s':>14}")
    for mode, label in labels.items():
        r = results[mode]
        print(
            f"  {label:<44} {r['wall']:8.1f} {total / r['wall'] / 1e6:7.1f} {r['client_cpu']:13.1f}"
            f" {r['sandbox_cpu']:14.1f}"
        )
    print(f"  one connection's rate: {args.rate_mbps / 8:.1f} MB/s")
    tasks = ", ".join(f"{task} {count} x {seconds:.1f} s" for task, (count, seconds) in dag["by_task"].items())
    print(f"  DAG tasks (instances x median run time): {tasks}")
    print(
        f"  DAG: run created to ended {dag['wall']:.1f} s, started to ended {dag['run']:.1f} s"
        f" (the trigger command took {dag['trigger_cli']:.1f} s before the run was created)"
    )
    vs_sequential = results["DAG"]["wall"] / results["sequential"]["wall"]
    vs_threaded = results["DAG"]["wall"] / results["threaded"]["wall"]
    faster = vs_sequential <= DAG_VS_SEQUENTIAL_GOAL
    close = vs_threaded <= DAG_SLOWER_THAN_THREADED_GOAL
    print(
        f"  ratio DAG / sequential: {vs_sequential:.3f} (the DAG at {1 / vs_sequential:.1f} x the sequential"
        f" speed; goal >= 3 x): {b.verdict(faster)}"
    )
    print(f"  ratio DAG / threaded: {vs_threaded:.2f} (goal <= {DAG_SLOWER_THAN_THREADED_GOAL}): {b.verdict(close)}")
    print(f"\nrealistic_link: all goals {b.verdict(faster and close)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
