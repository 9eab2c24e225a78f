"""Write the full lock of requirements*.txt for one Python.

``python3.X .ci/lock.py OUT [--seed LOCK] REQUIREMENTS...`` (``make lock`` runs it once per
supported version). In a throw-away virtual environment of the interpreter running it, pip
resolves a fresh install of the requirements (``pip install --dry-run --report``: nothing is
installed); the result is written as ``name==version`` lines, Airflow's one-constraints-file-per-
Python convention.

``--seed`` keeps what a lock already pins (like pip-tools without ``--upgrade``): its pins
constrain the resolution, except for the packages the requirements pin themselves, so changing a
pin in requirements*.txt moves only what has to move. A seed pin that does not fit this Python
(no release for it, a conflict) is dropped and said; pip names one per run, so after
``SEED_RETRIES`` runs the lock is resolved afresh (a new Python's lock seeded from a distant one:
Python 3.10's from 3.11's would take some 25 runs).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

# What pip names when a seed pin cannot be had: no release for this Python, or a pin in a conflict.
UNAVAILABLE = re.compile(
    r"(?:No matching distribution found for|The user requested \(constraint\)) ([A-Za-z0-9][A-Za-z0-9._-]*)"
)
SEED_RETRIES = 8
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_names(path: Path) -> set[str]:
    return {canonical(match.group(1)) for line in path.read_text().splitlines() if (match := PIN.match(line))}


def resolve(requirements: list[Path], seed: Path | None) -> dict[str, str]:
    """Resolve ``requirements`` for this interpreter; returns {distribution name: version}."""
    with tempfile.TemporaryDirectory(prefix="metastudio-lock-") as scratch:
        venv.create(scratch, with_pip=True)
        report = Path(scratch) / "report.json"
        command = [str(Path(scratch) / "bin" / "python"), "-m", "pip", "install", "--quiet", "--dry-run"]
        command += ["--ignore-installed", "--report", str(report)]
        command += [arg for path in requirements for arg in ("-r", str(path))]
        if seed is not None:
            direct = set().union(*(pinned_names(path) for path in requirements))
            kept = {canonical(m.group(1)): line for line in seed.read_text().splitlines() if (m := PIN.match(line))}
            kept = {name: line for name, line in kept.items() if name not in direct}
            _resolve_seeded(command, kept, Path(scratch) / "seed.txt", seed)
        else:
            subprocess.run(command, check=True)  # noqa: S603 - our own venv's pip with our own files
        installs = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in installs}


def _resolve_seeded(command: list[str], kept: dict[str, str], constraints: Path, seed: Path) -> None:
    """Resolve with the seed's pins; pins pip cannot satisfy for this Python are dropped (and said), then retried."""
    for _ in range(SEED_RETRIES):
        constraints.write_text("\n".join(kept.values()) + "\n")
        verbose = [arg for arg in command if arg != "--quiet"]  # pip names the conflicting pins only when not quiet
        done = subprocess.run([*verbose, "-c", str(constraints)], capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode == 0:
            return
        said = "\n".join(line for line in (done.stdout + done.stderr).splitlines() if "Location" not in line)
        missing = {canonical(m.group(1)) for m in UNAVAILABLE.finditer(said)} & set(kept)
        if not missing:
            print(said[-3000:], file=sys.stderr)
            break
        print(f"{seed} pins that do not fit this Python, resolved afresh: {', '.join(sorted(missing))}")
        for name in missing:
            del kept[name]
    print(f"the pins of {seed} do not resolve for this Python; resolving afresh", file=sys.stderr)
    subprocess.run(command, check=True)  # noqa: S603


def main(argv: list[str]) -> int:
    out, rest = Path(argv[0]), argv[1:]
    seed = None
    if rest[:1] == ["--seed"]:
        seed, rest = Path(rest[1]), rest[2:]
        seed = seed if seed.exists() else None
    requirements = [Path(name) for name in rest]
    pins = resolve(requirements, seed)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    header = [
        f"# Full lock, for Python {version}, of everything {' + '.join(map(str, requirements))} install.",
        "# One file per supported Python (Airflow's convention). Regenerate all of them with: make lock",
    ]
    lines = sorted((f"{name}=={pin}" for name, pin in pins.items()), key=str.lower)
    out.write_text("\n".join([*header, *lines]) + "\n")
    print(f"{out}: {len(lines)} packages for Python {version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
