"""Fuzz one target for a while: ``python fuzz/run.py TARGET --seconds N`` (``make fuzz`` runs them all).

With ``atheris`` installed (a dev dependency on Python 3.11+) the run is coverage-guided
(libFuzzer), with a per-input time limit and a memory limit: an input that makes the code slower
or hungrier than that counts as a crash too. Without it (Python 3.10, where atheris has no
wheel) a plain mutation loop runs instead: it flips, inserts, deletes and splices bytes of the
seed corpus, with the same per-input time limit, and no coverage guidance.

A crashing input is written to ``fuzz/crashes/<target>-<sha1>``; copy it to
``fuzz/regressions/<target>/`` once fixed, and ``tests/fuzz`` replays it in every test run.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
PER_INPUT_SECONDS = 10
RSS_LIMIT_MB = 1024  # the inspector's own bound is far lower (docs/reliability.md, "Hostile inputs")

try:
    import atheris
except ImportError:  # Python 3.10: no wheel
    atheris = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--plain", action="store_true", help="use the plain mutation loop even with atheris")
    args = parser.parse_args()
    if atheris is not None and not args.plain:
        return _atheris(args.target, args.seconds)
    return _plain(args.target, args.seconds)


def _atheris(target: str, seconds: int) -> int:
    with atheris.instrument_imports(include=["metastudio_provider", "metastudio_remediation", "yaml", "jsonschema"]):
        from fuzz_targets import TARGETS, seeds
    work = Path(tempfile.mkdtemp(prefix=f"fuzz-{target}-"))  # new inputs go here, never into the repo
    for seed in seeds(target):
        shutil.copyfile(seed, work / seed.name)
    crashes = HERE / "crashes"
    crashes.mkdir(exist_ok=True)
    argv = [
        sys.argv[0],
        str(work),
        f"-max_total_time={seconds}",
        f"-timeout={PER_INPUT_SECONDS}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-artifact_prefix={crashes}/{target}-",
    ]
    atheris.Setup(argv, TARGETS[target])
    atheris.Fuzz()
    return 0


def _plain(target: str, seconds: int) -> int:
    from fuzz_targets import TARGETS, seeds

    run = TARGETS[target]
    pool = [path.read_bytes() for path in seeds(target)] or [b""]
    rng = random.Random(0)
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        data = mutate(rng, rng.choice(pool), pool)
        started = time.monotonic()
        try:
            run(data)
        except Exception:
            return _crash(target, data, traceback.format_exc())
        if time.monotonic() - started > PER_INPUT_SECONDS:
            return _crash(target, data, f"slow input: {time.monotonic() - started:.1f} s")
        count += 1
    print(f"{target}: {count} inputs in {seconds} s, no crash (plain mutation, no coverage guidance)")
    return 0


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """One to eight random edits: flip, set to a boundary value, insert, delete, duplicate, splice."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(out) + 1)
        choice = rng.randrange(6)
        if choice == 0 and out:
            out[min(position, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1 and len(out) >= 4:
            at = min(position, len(out) - 4)
            out[at : at + 4] = rng.choice(
                [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x00\x00\x00\x01", b"\x7f\xff\xff\xff"]
            )
        elif choice == 2:
            out[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif choice == 3 and out:
            del out[position : position + rng.randint(1, 64)]
        elif choice == 4 and out:
            start = rng.randrange(len(out))
            out[position:position] = out[start : start + rng.randint(1, 256)]
        else:
            other = rng.choice(pool)
            start = rng.randrange(len(other) + 1)
            out[position:] = other[start:]
    return bytes(out)


def _crash(target: str, data: bytes, why: str) -> int:
    crashes = HERE / "crashes"
    crashes.mkdir(exist_ok=True)
    path = crashes / f"{target}-{hashlib.sha1(data).hexdigest()}"  # noqa: S324 - a file name, not security
    path.write_bytes(data)
    print(f"{target}: crash, input saved to {path}\n{why}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
