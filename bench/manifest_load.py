"""Loading a corrections manifest of 10,000 jobs: time and memory against plain ``yaml.load``.

Writes a manifest of ``--jobs`` jobs (each with a few Update fields, a note and a tag list: no
asset files, so only the loading is measured), then times ``load_manifest`` (size check, event
scan refusing aliases/tags/deep nesting, C loader, value checks, schema and per-job validation)
and, as the baseline, ``yaml.load`` of the same text with PyYAML's pure-Python ``SafeLoader``
(what the project used before: no checks at all). Median of ``--runs`` runs after a warm-up;
memory is the ``tracemalloc`` peak of one more run of each.

    .venv/bin/python bench/manifest_load.py [--jobs 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _bench as b
import yaml

from metastudio_remediation.manifest import MAX_MANIFEST_BYTES, load_manifest


def write_manifest(path: Path, jobs: int) -> Path:
    lines = ["version: 1", "jobs:"]
    for index in range(jobs):
        lines += [
            f"  0a11ce{index:026x}:",
            f"    note: re-shot {index} at 1920x1080 after review",
            f"    update: {{name: Anchor {index}, batch_name: spring-{index % 7}, tags: [retake, b{index % 13}]}}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def plain_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=yaml.SafeLoader)


def peak_memory(function: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {b.machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-manifest-") as folder:
        path = write_manifest(Path(folder) / "corrections.yaml", args.jobs)
        size = path.stat().st_size
        print(
            f"manifest: {args.jobs:,} jobs, {size:,} bytes ({100 * size / MAX_MANIFEST_BYTES:.0f}% of the size limit)"
        )
        readers = {
            "load_manifest": lambda: load_manifest(path),
            "baseline: yaml.load, SafeLoader": lambda: plain_yaml(path),
        }
        results = {}
        for name, reader in readers.items():
            reader()
            seconds = b.median(b.timed(reader)[0] for _ in range(args.runs))
            results[name] = seconds, peak_memory(reader)
        manifest = load_manifest(path)
        assert len(manifest.corrections) == args.jobs, manifest.errors
        print(f"  {'reader':36} {'median s':>9} {'peak memory':>12}")
        for name, (seconds, peak) in results.items():
            print(f"  {name:36} {seconds:9.2f} {peak / b.MiB:9.1f} MiB")
        ours, base = results["load_manifest"], results["baseline: yaml.load, SafeLoader"]
        print(f"load_manifest / baseline: {ours[0] / base[0]:.2f} x the time, {ours[1] / base[1]:.2f} x the memory")


if __name__ == "__main__":
    main()
