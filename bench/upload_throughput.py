"""Upload throughput and memory: ``MetaStudioHook.upload_file`` vs ``curl -T`` vs a bare ``requests`` PUT.

Starts the sandbox (``python -m metastudio_sandbox``, a subprocess on loopback), writes a random
file of each ``--sizes`` MiB (default 256 and 1024), and uploads it to the training-video URLs
that an Update returns:

* single stream (``video_multipart_count: 1``): ``curl -T``, ``requests.put(data=<file>)``, the hook;
* 8 parts at once (``video_multipart_count: 8``, each part its own presigned URL, 8 threads):
  bare ``requests`` (a length-limited file reader per part) and the hook. curl has no way to send a
  byte range of a file, so it has no parts row.

Every upload runs in a child process (``curl`` itself, or this script with ``--child``) whose
peak RSS (``VmHWM``) is read from ``/proc``; the Python children also report their RSS just before
uploading (after imports: the hook's child imports Airflow, which is most of its memory). The time is measured
around the transfer only (curl's ``time_total``). After each upload the sandbox's record is
checked (every byte arrived), the job is deleted and ``sync()`` is called, so every run starts
from the same page-cache state. Methods are interleaved inside each run; medians of ``--runs``.

Memory is reported as *growth*: the child's peak RSS minus its RSS just before the upload. The
absolute peak is mostly the import set (the hook's child imports Airflow: ~130 MB before a byte
is sent), which says nothing about the upload and moves with every dependency bump.

The client and the sandbox share this machine's cores, and the sandbox spends about as much CPU
per byte as the hook (it hashes and writes what it receives). ``--receiver sink`` replaces it by a
minimal HTTP sink (this script with ``--serve-sink``: one ``recv_into`` buffer per connection,
bytes counted and dropped, 200 only if exactly ``Content-Length`` bytes arrived), which is closer
to a remote OBS, whose CPU is not the uploader's: the figures then show what the client costs.

Goals (issue #11): hook >= 0.9 x curl single-stream; hook peak RSS growth during the upload
<= 20 MB single-stream (<= 40 MB with 8 parts at once) whatever the size; parts in parallel no
slower than one stream.

    .venv/bin/python bench/upload_throughput.py [--sizes 256,1024] [--runs 3] [--receiver sandbox|sink]
        [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _bench as b

PARTS = 8
RSS_GROWTH_GOAL_MB = 20.0  # one stream (issue #11)
PARTS_GROWTH_GOAL_MB = 40.0  # 8 streams of a few MiB of buffers each, plus their threads
METHODS = [
    ("curl", 1),
    ("requests", 1),
    ("hook", 1),
    ("requests", PARTS),
    ("hook", PARTS),
]


# --------------------------------------------------------------------------------------------
# Child side: one upload, then one JSON line on stdout
# --------------------------------------------------------------------------------------------


class RangeReader:
    """The least a bare ``requests`` client needs to PUT a byte range: ``read`` and ``len``."""

    def __init__(self, path: str, offset: int, length: int) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._file.seek(offset)
        self._left = length

    def __len__(self) -> int:
        return self._left

    def read(self, size: int = -1) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        data = self._file.read(size)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


def child(method: str, source: str, targets: list[dict[str, Any]]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import psutil

    if method == "hook":
        from metastudio_provider.hooks.metastudio import MetaStudioHook

        hook = MetaStudioHook(b.CONN_ID)
        hook.config  # noqa: B018 - read the connection before the clock starts

        def send(target: dict[str, Any]) -> None:
            hook.upload_file(target["url"], source, offset=target["offset"], length=target["length"])
    else:
        import requests

        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=PARTS)
        session.mount("http://", adapter)

        def send(target: dict[str, Any]) -> None:
            headers = {"Content-Type": "application/octet-stream"}
            if len(targets) == 1:
                with open(source, "rb") as handle:
                    response = session.put(target["url"], data=handle, headers=headers, timeout=600)
            else:
                reader = RangeReader(source, target["offset"], target["length"])
                try:
                    response = session.put(target["url"], data=reader, headers=headers, timeout=600)
                finally:
                    reader.close()
            response.raise_for_status()

    reset_peak_rss()
    rss_before = psutil.Process().memory_info().rss / 1e6
    cpu_started, started = time.process_time(), time.perf_counter()
    if len(targets) == 1:
        send(targets[0])
    else:
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            list(pool.map(send, targets))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rss_before_mb": rss_before, "peak_rss_mb": peak_rss_mb()}))


# --------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------


def reset_peak_rss() -> None:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0), so the peak read after the
    upload is the upload's own, not a transient of the imports. Where the kernel refuses, the peak
    stays the lifetime one: the growth is then over-, never under-, stated."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """``VmHWM`` of a process: its peak RSS since its last ``exec`` (``ru_maxrss`` would count the
    parent's memory copied at ``fork``, i.e. this Airflow-importing script's)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return None if kib is None else kib * 1024 / 1e6


def run_child(command: list[str], env: dict[str, str]) -> tuple[str, float]:
    """Run ``command``; return its stdout and its peak RSS in MB, sampled from ``/proc`` every 10 ms
    while it runs (``VmHWM`` only grows, so the last sample is the peak up to then)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            value = peak_rss_mb(process.pid)
            if value is not None and process.poll() is None:
                peak = max(peak, value)
            stop.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed with status {process.returncode}: {output[-500:]}")
    return output, peak


# --------------------------------------------------------------------------------------------
# The minimal receiver (--receiver sink)
# --------------------------------------------------------------------------------------------


def serve_sink() -> None:
    """HTTP PUT sink on a free loopback port (printed first): reads each body into one reused
    buffer and drops it; 200 if exactly ``Content-Length`` bytes arrived, else 400."""

    def handle(connection: socket.socket) -> None:
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                head += chunk
            header, _, body = head.partition(b"\r\n\r\n")
            lines = header.split(b"\r\n")
            if any(line.lower().replace(b" ", b"") == b"expect:100-continue" for line in lines):
                connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits 1 s for it otherwise
            length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:"))
            buffer = memoryview(bytearray(1024 * 1024))
            received = len(body)
            while received < length and (count := connection.recv_into(buffer, min(length - received, len(buffer)))):
                received += count
            status = b"200 OK" if received == length else b"400 Bad Request"
            connection.sendall(
                b"HTTP/1.1 " + status + b'\r\nContent-Length: 0\r\nETag: "sink"\r\nConnection: close\r\n\r\n'
            )

    server = socket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    while True:
        connection, _ = server.accept()
        threading.Thread(target=handle, args=(connection,), daemon=True).start()


@dataclass
class Receiver:
    """Where the uploads go: the sandbox (presigned URLs from an Update) or the sink."""

    kind: str
    url: str
    pid: int

    def targets(self, source: Path, parts: int, index: int) -> list[dict[str, Any]]:
        from metastudio_provider.hooks.metastudio import MetaStudioHook
        from metastudio_remediation.planning import part_ranges

        ranges = part_ranges(source.stat().st_size, parts)
        if self.kind == "sink":
            urls = [f"{self.url}/upload/{index}/{part}?Signature=bench" for part in range(1, parts + 1)]
        else:
            job = b.failed_job_spec(index, prefix="upload")
            b.admin(self.url, "POST", "/scenario", json={"jobs": [job]})
            update = MetaStudioHook(b.CONN_ID).update_training_job(job["job_id"], {"video_multipart_count": parts})
            urls = [target.url for target in update.for_asset("training_video")]
        return [
            {"url": url, "offset": offset, "length": length} for url, (offset, length) in zip(urls, ranges, strict=True)
        ]

    def check_and_clear(self, source: Path, parts: int, index: int, method: str) -> None:
        """The sandbox: every byte recorded, then the job deleted (the sink answered 200 only if
        every byte arrived, and curl, ``requests`` and the hook all fail on anything else)."""
        if self.kind == "sink":
            return
        job_id = b.failed_job_spec(index)["job_id"]
        files = b.admin(self.url, "GET", f"/jobs/{job_id}")["files"]
        received = sum(f["size"] for f in files if f["asset"] == "training_video" and f["part"] >= 1)
        if received != source.stat().st_size:
            raise SystemExit(f"{method} x{parts}: the sandbox received {received} of {source.stat().st_size} bytes")
        b.admin(self.url, "DELETE", f"/jobs/{job_id}")


def upload_once(
    receiver: Receiver, env: dict[str, str], source: Path, method: str, parts: int, index: int
) -> dict[str, Any]:
    size = source.stat().st_size
    targets = receiver.targets(source, parts, index)
    server_pid = receiver.pid
    if method == "curl":
        command = ["curl", "-sS", "-T", str(source), "-H", "Content-Type: application/octet-stream"]
        command += ["-o", "/dev/null", "-w", "%{http_code} %{time_total}", targets[0]["url"]]
        usage, server_cpu = resource.getrusage(resource.RUSAGE_CHILDREN), process_cpu(server_pid)
        output, peak = run_child(command, env)
        after, server_cpu = resource.getrusage(resource.RUSAGE_CHILDREN), process_cpu(server_pid) - server_cpu
        status, seconds = output.split()
        if status != "200":
            raise SystemExit(f"curl upload answered {status}")
        cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
        result = {"seconds": float(seconds), "cpu_s": cpu, "rss_before_mb": None}
    else:
        command = [sys.executable, __file__, "--child", method, "--source", str(source)]
        command += ["--targets", json.dumps(targets)]
        server_cpu = process_cpu(server_pid)
        output, peak = run_child(command, env)
        server_cpu = process_cpu(server_pid) - server_cpu  # the child's start-up is idle time for the server
        result = json.loads(output.strip().splitlines()[-1])
        # The child's own VmHWM at the end, reset just before the upload: exact for the growth.
        # The sampled one may hold an import-time transient from before the reset: the lifetime peak.
        result["upload_peak_rss_mb"] = result.pop("peak_rss_mb")
        peak = max(peak, result["upload_peak_rss_mb"])
    receiver.check_and_clear(source, parts, index, method)
    os.sync()
    return {**result, "server_cpu_s": server_cpu, "peak_rss_mb": peak, "mb_s": size / result["seconds"] / 1e6}


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process, all threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def growth_mb(results: list[dict[str, Any]]) -> float | None:
    """The largest growth of peak RSS over the RSS just before the upload, over the runs; ``None``
    for curl, which reports no "before" (its whole footprint is the transfer's)."""
    growths = [r["upload_peak_rss_mb"] - r["rss_before_mb"] for r in results if r["rss_before_mb"] is not None]
    return max(growths) if growths else None


def label(method: str, parts: int) -> str:
    return f"{method} {'single stream' if parts == 1 else f'{parts} parts'}"


def bench_size(receiver: Receiver, env: dict[str, str], tmp: Path, size_mib: int, runs: int, warmup: int) -> bool:
    source = b.write_file(tmp / f"upload-{size_mib}.bin", size_mib * b.MiB)
    os.sync()
    results: dict[tuple[str, int], list[dict[str, Any]]] = {key: [] for key in METHODS}
    counter = size_mib * 1000
    for run in range(warmup + runs):
        for method, parts in METHODS:
            counter += 1
            result = upload_once(receiver, env, source, method, parts, counter)
            if run >= warmup:
                results[(method, parts)].append(result)
    source.unlink()

    def med(key: tuple[str, int], field: str) -> float:
        return b.median(r[field] for r in results[key])

    curl = med(("curl", 1), "mb_s")
    print(f"\n{size_mib} MiB file to the {receiver.kind}, medians of {runs} runs (after {warmup} warm-up):")
    print(
        f"  {'method':<24} {'MB/s':>7} {'x curl':>7} {'CPU s':>6} {'server CPU s':>12} {'peak RSS MB':>12}"
        f" {'RSS before MB':>14} {'growth MB':>10}"
    )
    for key in METHODS:
        before = [r["rss_before_mb"] for r in results[key] if r["rss_before_mb"] is not None]
        peak = max(r["peak_rss_mb"] for r in results[key])
        before_text = f"{b.median(before):14.1f}" if before else f"{'-':>14}"
        growth = growth_mb(results[key])
        growth_text = f"{growth:10.1f}" if growth is not None else f"{'-':>10}"
        rate = med(key, "mb_s")
        print(
            f"  {label(*key):<24} {rate:7.0f} {rate / curl:7.2f} {med(key, 'cpu_s'):6.2f}"
            f" {med(key, 'server_cpu_s'):12.2f} {peak:12.1f} {before_text} {growth_text}"
        )
    # Client and server share this machine's cores: when they are all busy (other load), time follows
    # CPU, and hook / curl tends to (curl's CPU + the server's) / (the hook's + the server's).
    curl_cpu = med(("curl", 1), "cpu_s") + med(("curl", 1), "server_cpu_s")
    hook_cpu = med(("hook", 1), "cpu_s") + med(("hook", 1), "server_cpu_s")
    estimate = curl_cpu / hook_cpu
    print(f"  CPU-bound estimate of hook / curl single stream: {curl_cpu:.2f} / {hook_cpu:.2f} = {estimate:.2f}")
    hook_single, hook_parts = med(("hook", 1), "mb_s"), med(("hook", PARTS), "mb_s")
    single_growth, parts_growth = growth_mb(results[("hook", 1)]) or 0.0, growth_mb(results[("hook", PARTS)]) or 0.0
    goals = {
        "hook single >= 0.9 x curl": hook_single / curl >= 0.9,
        f"hook single RSS growth <= {RSS_GROWTH_GOAL_MB:.0f} MB ({single_growth:.1f})": single_growth
        <= RSS_GROWTH_GOAL_MB,
        f"hook {PARTS} parts RSS growth <= {PARTS_GROWTH_GOAL_MB:.0f} MB ({parts_growth:.1f})": parts_growth
        <= PARTS_GROWTH_GOAL_MB,
        f"hook {PARTS} parts >= hook single ({hook_parts / hook_single:.2f} x)": hook_parts >= hook_single * 0.95,
    }
    for goal, ok in goals.items():
        print(f"  goal {goal}: {b.verdict(ok)}")
    return all(goals.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="256,1024", help="file sizes in MiB, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="rounds done first and not counted")
    parser.add_argument(
        "--receiver", choices=("sandbox", "sink"), default="sandbox", help="who receives the uploads (see above)"
    )
    parser.add_argument("--quick", action="store_true", help="64 MiB, 1 run, no warm-up (smoke test)")
    parser.add_argument("--serve-sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--targets", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.source, json.loads(args.targets))
        return 0
    if args.serve_sink:
        serve_sink()
    if args.quick:
        args.sizes, args.runs, args.warmup = "64", 1, 0
    print(f"machine: {b.machine()}")
    all_met = True
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as name:
        tmp = Path(name)
        process, url = b.start_sandbox(tmp / "data")
        env = {**os.environ, **b.connection_env(url), "AIRFLOW_HOME": str(tmp / "airflow")}
        os.environ.update(env)
        receiver = Receiver("sandbox", url, process.pid)
        sink = None
        try:
            if args.receiver == "sink":
                command = [sys.executable, __file__, "--serve-sink"]
                sink = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
                receiver = Receiver("sink", f"http://127.0.0.1:{int(sink.stdout.readline())}", sink.pid)
            for size in (int(s) for s in args.sizes.split(",")):
                all_met &= bench_size(receiver, env, tmp, size, args.runs, args.warmup)
        finally:
            if sink is not None:
                b.stop(sink)
            b.stop(process)
    print(f"\nupload_throughput: all goals {b.verdict(all_met)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
