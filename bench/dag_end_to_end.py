"""End to end: the remediation DAG under a real scheduler vs a plain sequential script with the hook.

Both fix the same ``--jobs`` verify-failed jobs (default 50) in a sandbox (a subprocess on
loopback, reset to the same scenario before each contender; review delay 1 h, so the jobs stay in
``AUTO_VERIFYING`` and no review work competes). Each job gets four corrected files, realistic in
kind and scaled down in size (stated in the output): a training video of ``--video-mib`` MiB
(default 64; real ones are 300 MiB to several GiB), ID card front and back (300 and 280 KiB) and a
signed authorization letter (150 KiB), genuine media (``_bench.write_media``) so that they pass
the DAG's pre-flight inspection. The bench writes the files, the scenario and the corrections
manifest in a temp dir.

* **plain script** (the baseline, run right before each DAG run; the ratio is the median of
  DAG run / plain script run just before it): one Python process (timed from its start, imports included)
  that lists the verify-failed jobs, then for each job in turn: Update, upload every file and
  video part, ``CONFIRM_MULTIPART_UPLOADED``, ``CONFIRM_AUTHORIZATION_LETTER``,
  ``SUBMITVERIFYING``; all with ``MetaStudioHook``.
* **DAG**: Airflow 3 with LocalExecutor on SQLite, as separate processes: ``airflow api-server``
  (the Execution API the tasks talk to), ``airflow scheduler``, ``airflow dag-processor``. The run
  is triggered with ``airflow dags trigger`` once the stack is warm: a dry run of the DAG about a
  job that does not exist (every task starts, nothing changes) has gone through first, as a
  deployment that has been up for days has served requests before its nightly run. The wall time
  is from the run's creation (``queued_at``: when the trigger lands, as the schedule or the UI's
  button creates it) to its ``end_date`` in the metadata DB; the trigger command's own start-up
  (Airflow's CLI importing itself) is printed apart. Also reported: task instances created, their
  summed run time, the run's own start-to-end time, and the CPU of the Airflow processes from
  their start to their stop (start-up and the warm-up run included).

Afterwards every job must be ``AUTO_VERIFYING`` with every byte received, for every contender.
Airflow settings under test (flags): ``[core] parallelism``, ``[core] max_active_tasks_per_dag``,
the ``metastudio_api`` pool's slots, the parts a job uploads at a time (Variable
``metastudio_upload_concurrency``).

``--compare NAME=ROOT`` (repeatable) runs another checkout of this project too, in every round,
under the same conditions: its ``dags/`` folder, with its ``plugins/`` and ``include/`` first on
``PYTHONPATH``. That is how DAG designs are compared (e.g. ``git archive <commit> | tar -x -C
/tmp/old`` then ``--compare old=/tmp/old``); the plain script and the sandbox are this tree's.

Goal (issues #6, #11): DAG wall time <= 1.5 x the plain script's.

    .venv/bin/python bench/dag_end_to_end.py [--jobs 50] [--video-mib 64] [--runs 1] [--quick]
        [--compare NAME=ROOT ...] [--upload-concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import _bench as b
import psutil
import yaml

DAG_ID = "metastudio_training_remediation"
COMPONENTS = ("api-server", "scheduler", "dag-processor")  # the scheduler's tree holds the executor and the tasks
AIRFLOW = str(Path(sys.executable).parent / "airflow")
SMALL_FILES = {  # manifest asset kind: (file name, size)
    "id_card_front": ("id_front.jpg", 300 * 1024),
    "id_card_back": ("id_back.jpg", 280 * 1024),
    "authorization_letter": ("letter.pdf", 150 * 1024),
}


# --------------------------------------------------------------------------------------------
# Inputs: scenario, assets, manifest
# --------------------------------------------------------------------------------------------


def write_inputs(tmp: Path, jobs: int, video_mib: int) -> tuple[dict[str, Any], Path, int]:
    """The scenario (verify-failed jobs), one set of assets per job and the manifest; total bytes."""
    scenario = {"jobs": [b.failed_job_spec(index, prefix="e2e") for index in range(1, jobs + 1)]}
    root = tmp / "assets"
    corrections: dict[str, Any] = {}
    total = 0
    for spec in scenario["jobs"]:
        folder = root / spec["job_id"]
        assets = {"training_video": f"{spec['job_id']}/training_video.mp4"}
        total += b.write_media(folder / "training_video.mp4", video_mib * b.MiB).stat().st_size
        for kind, (name, size) in SMALL_FILES.items():
            total += b.write_media(folder / name, size).stat().st_size
            assets[kind] = f"{spec['job_id']}/{name}"
        corrections[spec["job_id"]] = {"note": "re-shot and re-scanned", "assets": assets}
    manifest = tmp / "corrections.yaml"
    manifest.write_text(yaml.safe_dump({"version": 1, "assets_root": str(root), "jobs": corrections}))
    return scenario, manifest, total


# --------------------------------------------------------------------------------------------
# The plain script (run with --plain MANIFEST in its own process)
# --------------------------------------------------------------------------------------------


def plain(manifest_path: str) -> None:
    """What a cron script would do: the same calls as the DAG, one after the other."""
    from metastudio_provider.hooks.metastudio import MetaStudioHook
    from metastudio_remediation.planning import part_count_for, part_ranges

    manifest = yaml.safe_load(Path(manifest_path).read_text())
    root = Path(manifest["assets_root"])
    hook = MetaStudioHook(b.CONN_ID)
    failed = hook.list_training_jobs(states=["AUTO_VERIFY_FAILED", "MANUAL_VERIFY_FAILED"])
    for job in failed:
        correction = manifest["jobs"].get(job.job_id)
        if correction is None:
            continue
        video = root / correction["assets"]["training_video"]
        parts = part_count_for(video.stat().st_size, 256 * b.MiB)
        urls = hook.update_training_job(job.job_id, {"video_multipart_count": parts})
        for target, (offset, length) in zip(
            urls.for_asset("training_video"), part_ranges(video.stat().st_size, parts), strict=True
        ):
            hook.upload_file(target.url, video, offset=offset, length=length, asset=target.label)
        for kind in SMALL_FILES:
            (target,) = urls.for_asset(kind)
            hook.upload_file(target.url, root / correction["assets"][kind], content_type=target.content_type)
        hook.execute_command(job.job_id, "CONFIRM_MULTIPART_UPLOADED")
        hook.execute_command(job.job_id, "CONFIRM_AUTHORIZATION_LETTER")
        hook.execute_command(job.job_id, "SUBMITVERIFYING")


def children_cpu() -> float:
    """CPU seconds of every finished descendant (each reaped by its parent, so rusage adds up)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and every descendant, live or reaped (while the process still runs)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for process in tree:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:  # ended (and reaped, so counted by its parent) since the listing
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def process_cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def run_plain(env: dict[str, str], manifest: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--plain", str(manifest)],
        env={**env, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# Airflow: home, processes, trigger, metadata DB
# --------------------------------------------------------------------------------------------


def airflow_env(
    home: Path, sandbox_url: str, manifest: Path, args: argparse.Namespace, api_port: int, root: Path = b.PROJECT
) -> dict[str, str]:
    """The environment of one Airflow; ``root``: the project checkout whose DAG and code it runs."""
    from cryptography.fernet import Fernet

    code = {}
    if root != b.PROJECT:  # another checkout: its packages first (ahead of this tree's editable install)
        paths = [str(root / "plugins"), str(root / "include"), os.environ.get("PYTHONPATH", "")]
        code["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    return {
        **os.environ,
        **code,
        **b.connection_env(sandbox_url, conn_id="metastudio_default", read_timeout=60),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # no nightly run competing with the triggered one
        "AIRFLOW__CORE__PARALLELISM": str(args.parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(args.max_active_tasks),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": str(args.api_workers),
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
        "AIRFLOW__API__SECRET_KEY": os.urandom(16).hex(),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW_CONN_METASTUDIO_ALERTS": json.dumps(
            {"conn_type": "http", "host": f"{sandbox_url}/_sandbox/webhooks/alerts"}
        ),
        "AIRFLOW_VAR_METASTUDIO_CORRECTIONS_PATH": str(manifest),
        "AIRFLOW_VAR_METASTUDIO_REPORT_DIR": str(home / "reports"),
        "AIRFLOW_VAR_METASTUDIO_UPLOAD_CONCURRENCY": str(args.upload_concurrency),
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(env: dict[str, str], home: Path, *command: str) -> subprocess.Popen[bytes]:
    log = (home / f"{command[0]}.log").open("wb")
    # Own process group: stopping it stops the workers it forked too.
    return subprocess.Popen([AIRFLOW, *command], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def query(home: Path, sql: str, *params: Any) -> list[tuple]:
    with sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True, timeout=30) as db:
        return db.execute(sql, params).fetchall()


def when(value: str | None) -> datetime | None:
    """A metadata-DB timestamp (SQLite stores UTC, naive) as an aware datetime."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def wait_for(condition, timeout: float, what: str, processes: list[subprocess.Popen[bytes]]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{process.args[1]} exited with {process.returncode} while waiting for {what}")
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def run_dag(env: dict[str, str], home: Path, jobs: int, timeout: float) -> dict[str, Any]:
    processes = [start(env, home, command) for command in COMPONENTS]
    try:
        port = env["AIRFLOW__API__PORT"]
        wait_for(lambda: _healthy(port), 120, "the API server", processes)
        wait_for(
            lambda: query(home, "SELECT 1 FROM serialized_dag WHERE dag_id = ?", DAG_ID), 180, "the DAG", processes
        )
        warm_up = f"bench_warm_up__{int(time.time())}"
        # A dry run about a job that does not exist: it changes nothing in any DAG version compared.
        trigger(env, warm_up, {"dry_run": True, "job_ids": ["bench-warm-up-no-such-job"]})
        if finished_run(home, warm_up, timeout, processes)[0] != "success":
            raise SystemExit(f"the warm-up dry run failed; see the logs in {home}")
        run_id = f"bench__{int(time.time())}"
        trigger_seconds = trigger(env, run_id, {"max_jobs": max(jobs, 1)})
        state, run_start, run_end, queued = finished_run(home, run_id, timeout, processes)
        tis = query(
            home,
            "SELECT task_id, map_index, state, start_date, end_date, queued_dttm, duration FROM task_instance"
            " WHERE dag_id = ? AND run_id = ?",
            DAG_ID,
            run_id,
        )
        other_runs = query(
            home, "SELECT run_id FROM dag_run WHERE dag_id = ? AND run_id NOT IN (?, ?)", DAG_ID, run_id, warm_up
        )
        by_component = {command: tree_cpu(process.pid) for command, process in zip(COMPONENTS, processes, strict=True)}
    finally:
        for process in reversed(processes):
            stop_group(process)
    if state != "success":
        raise SystemExit(f"the DAG run ended {state}; see the logs in {home}")
    if other_runs:
        raise SystemExit(f"unexpected other runs competed for the jobs: {other_runs}")
    end = when(run_end)
    queue_waits = [(when(t[3]) - when(t[5])).total_seconds() for t in tis if t[3] and t[5]]
    return {
        "wall": (end - when(queued)).total_seconds(),
        "trigger_cli": trigger_seconds,
        "run": (end - when(run_start)).total_seconds(),
        "task_instances": len(tis),
        "task_seconds": sum(t[6] or 0 for t in tis),
        "queue_wait_median": b.median(queue_waits) if queue_waits else 0.0,
        "by_task": _by_task(tis),
        "states": dict(Counter(f"{t[0]} {t[2]}" for t in tis)),
        "cpu_by_component": by_component,
    }


def trigger(env: dict[str, str], run_id: str, conf: dict[str, Any]) -> float:
    """Trigger a run with the CLI; the seconds the command took (mostly its own start-up)."""
    started = time.perf_counter()
    command = [AIRFLOW, "dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps(conf)]
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def finished_run(home: Path, run_id: str, timeout: float, processes: list[subprocess.Popen[bytes]]) -> tuple:
    """The run's (state, start_date, end_date, queued_at) once it has ended."""
    sql = "SELECT state, start_date, end_date, queued_at FROM dag_run WHERE run_id = ?"
    ended = wait_for(
        lambda: [row for row in query(home, sql, run_id) if row[0] in ("success", "failed")],
        timeout,
        f"the DAG run {run_id}",
        processes,
    )
    return ended[0]


def _healthy(port: str) -> bool:
    import requests

    try:
        return requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _by_task(tis: list[tuple]) -> dict[str, tuple[int, float]]:
    grouped: dict[str, list[float]] = {}
    for task_id, _map_index, _state, _start, _end, _queued, duration in tis:
        if duration is not None:
            grouped.setdefault(task_id, []).append(duration)
    return {task: (len(values), b.median(values)) for task, values in grouped.items()}


# --------------------------------------------------------------------------------------------
# Checks and the report
# --------------------------------------------------------------------------------------------


def check_sandbox(url: str, scenario: dict[str, Any], total: int, who: str) -> None:
    wanted = {job["job_id"] for job in scenario["jobs"]}
    states: dict[str, int] = {}
    received = 0
    for entry in b.admin(url, "GET", "/jobs")["jobs"]:
        if entry["job"]["job_id"] in wanted:
            states[entry["job"]["state"]] = states.get(entry["job"]["state"], 0) + 1
            received += sum(f["size"] for f in entry["files"] if f["part"] >= 1 or f["asset"] != "training_video")
    if states != {"AUTO_VERIFYING": len(wanted)} or received != total:
        raise SystemExit(f"{who}: jobs ended {states}, {received} of {total} bytes received")


def contender(value: str) -> tuple[str, Path]:
    """``NAME=ROOT`` of ``--compare``: a project checkout with ``dags/``, ``plugins/`` and ``include/``."""
    name, _, root = value.partition("=")
    path = Path(root).resolve()
    if not name or not root or not (path / "dags").is_dir():
        raise argparse.ArgumentTypeError(f"{value!r}: expected NAME=ROOT, ROOT a project checkout with a dags/ folder")
    return name, path


def run_airflow(
    name: str, root: Path, tmp: Path, url: str, manifest: Path, scenario: dict[str, Any], total: int, args, n: int
) -> dict[str, Any]:
    """One DAG run of the checkout at ``root`` in a fresh Airflow home, against a reset sandbox."""
    b.admin(url, "POST", "/reset", json=scenario)
    os.sync()
    home = tmp / f"airflow-{name}-{n}"
    env = airflow_env(home, url, manifest, args, free_port(), root)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [AIRFLOW, "pools", "set", "metastudio_api", str(args.pool_slots), "bench"],
        env=env,
        check=True,
        capture_output=True,
    )
    cpu, sandbox_cpu = children_cpu(), process_cpu(args.sandbox_pid)
    result = run_dag(env, home, args.jobs, args.timeout)
    # Airflow's processes (and their workers and tasks) were stopped and reaped: all counted.
    result["airflow_cpu"] = children_cpu() - cpu
    result["sandbox_cpu"] = process_cpu(args.sandbox_pid) - sandbox_cpu
    check_sandbox(url, scenario, total, f"{name} (task instances: {result['states']})")
    print(
        f"round {n}: {name} {result['wall']:.1f} s from the run's creation to its end (the trigger command took"
        f" {result['trigger_cli']:.1f} s before it),"
        f" run {result['run']:.1f} s, {result['task_instances']} task instances; CPU: Airflow"
        f" {result['airflow_cpu']:.1f} s (from process start to stop), sandbox {result['sandbox_cpu']:.1f} s"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--video-mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=1, help="rounds of (plain script, DAG) for each DAG compared")
    parser.add_argument("--pool-slots", type=int, default=8, help="slots of the metastudio_api pool")
    parser.add_argument("--parallelism", type=int, default=32, help="[core] parallelism (LocalExecutor workers)")
    parser.add_argument("--max-active-tasks", type=int, default=16, help="[core] max_active_tasks_per_dag")
    parser.add_argument("--api-workers", type=int, default=1, help="[api] workers of the API server")
    parser.add_argument(
        "--upload-concurrency",
        type=int,
        default=4,
        help="parts a job uploads at a time (metastudio_upload_concurrency)",
    )
    parser.add_argument(
        "--compare",
        type=contender,
        action="append",
        default=[],
        metavar="NAME=ROOT",
        help="also run the DAG of another project checkout, in every round (e.g. an older commit)",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the DAG run")
    parser.add_argument("--quick", action="store_true", help="3 jobs, 4 MiB videos, 1 round (smoke test)")
    parser.add_argument("--plain", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain:
        plain(args.plain)
        return 0
    if args.quick:
        args.jobs, args.video_mib, args.runs = 3, 4, 1
    # SIGTERM (e.g. a test timing out) unwinds through the finally blocks: Airflow and the sandbox stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"machine: {b.machine()}")
    contenders = [("DAG", b.PROJECT), *args.compare]
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as name:
        tmp = Path(name)
        scenario, manifest, total = write_inputs(tmp, args.jobs, args.video_mib)
        print(
            f"{args.jobs} verify-failed jobs, each: training video {args.video_mib} MiB (real ones: 300 MiB to several"
            f" GiB), ID card front 300 KiB, back 280 KiB, letter 150 KiB; {total / 1e6:.0f} MB in all"
        )
        print(
            f"Airflow: LocalExecutor on SQLite, parallelism={args.parallelism},"
            f" max_active_tasks_per_dag={args.max_active_tasks}, pool metastudio_api={args.pool_slots} slots,"
            f" api-server workers={args.api_workers}, upload concurrency per job={args.upload_concurrency}"
        )
        for label, root in args.compare:
            print(f"compared: {label} = {root}")
        sandbox, url = b.start_sandbox(tmp / "sandbox", review_delay=3600)
        args.sandbox_pid = sandbox.pid
        plain_times: list[float] = []
        plain_cpu: list[tuple[float, float]] = []
        results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in contenders}
        try:
            base_env = {**os.environ, **b.connection_env(url), "AIRFLOW_HOME": str(tmp / "plain-home")}
            for round_number in range(1, args.runs + 1):
                # The plain script runs right before each DAG: on a shared machine the load moves
                # within minutes, so each DAG run is compared with the baseline measured next to it.
                for label, root in contenders:
                    b.admin(url, "POST", "/reset", json=scenario)
                    os.sync()
                    cpu, sandbox_cpu = children_cpu(), process_cpu(sandbox.pid)
                    seconds = run_plain(base_env, manifest)
                    plain_times.append(seconds)
                    plain_cpu.append((children_cpu() - cpu, process_cpu(sandbox.pid) - sandbox_cpu))
                    check_sandbox(url, scenario, total, "plain script")
                    print(
                        f"round {round_number}: plain script {seconds:.1f} s; CPU: script {plain_cpu[-1][0]:.1f} s,"
                        f" sandbox {plain_cpu[-1][1]:.1f} s"
                    )
                    result = run_airflow(label, root, tmp, url, manifest, scenario, total, args, round_number)
                    results[label].append({**result, "plain": seconds})
        finally:
            b.stop(sandbox)

    plain_wall = b.median(plain_times)
    print(f"\nmedians of {args.runs} round(s):")
    print(f"  plain script (sequential, hook only)  {plain_wall:7.1f} s   {total / plain_wall / 1e6:6.0f} MB/s")
    print(f"  CPU: plain script process          {b.median(c[0] for c in plain_cpu):7.1f} s")
    ratio = summarize("DAG", results["DAG"], total)
    for label, _root in args.compare:
        print(f"\ncompared: {label}")
        summarize(label, results[label], total)
    print(f"\ndag_end_to_end: all goals {b.verdict(ratio <= 1.5)}")
    return 0


def summarize(label: str, runs: list[dict[str, Any]], total: int) -> float:
    """Print one DAG's medians and per-task figures; returns the median of its ratios to the plain script."""
    wall = b.median(r["wall"] for r in runs)
    last = runs[-1]
    ratios = [r["wall"] / r["plain"] for r in runs]
    ratio = b.median(ratios)
    print(f"  {label}, run created to ended{'':<{14 - len(label)}}{wall:7.1f} s   {total / wall / 1e6:6.0f} MB/s")
    print(f"  {label} run, start to end{'':<{17 - len(label)}}{b.median(r['run'] for r in runs):7.1f} s")
    print(f"  task instances created                {last['task_instances']:7d}")
    print(f"  summed task run time                  {last['task_seconds']:7.1f} s")
    print(f"  median wait queued -> running         {last['queue_wait_median']:7.1f} s")
    print("  per task: instances, median run time")
    for task, (count, seconds) in sorted(last["by_task"].items(), key=lambda item: -item[1][0] * item[1][1]):
        print(f"    {task:<20} {count:4d} x {seconds:6.2f} s")
    airflow_cpu = b.median(r["airflow_cpu"] for r in runs)
    per_task = airflow_cpu / last["task_instances"]
    print(
        f"  CPU: Airflow, all processes         {airflow_cpu:7.1f} s   (~{per_task:.2f} s per task instance;"
        " start-up and the warm-up run included)"
    )
    components = ", ".join(f"{name} {b.median(r['cpu_by_component'][name] for r in runs):.1f} s" for name in COMPONENTS)
    print(f"  CPU by component at the end of the run (the scheduler's with executor and tasks): {components}")
    cores = os.cpu_count() or 1
    print(
        f"  CPU-bound floor of the DAG on {cores} cores: (Airflow + sandbox CPU) / cores ="
        f" {(airflow_cpu + b.median(r['sandbox_cpu'] for r in runs)) / cores:.1f} s (an upper bound: the"
        " Airflow CPU includes start-up and the warm-up run)"
    )
    each = ", ".join(f"{r:.2f}" for r in ratios)
    print(
        f"  ratio {label} / plain script: {ratio:.2f} (goal <= 1.5): {b.verdict(ratio <= 1.5)}"
        f"   (median of each run / the plain script run just before it: {each})"
    )
    return ratio


if __name__ == "__main__":
    sys.exit(main())
