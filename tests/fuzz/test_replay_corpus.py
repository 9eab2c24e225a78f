"""Every seed and every saved crash input of ``fuzz/`` ends in a named outcome (quick; part of ``make test``).

The fuzzers (``make fuzz``) search for new crashes; each one found is kept in
``fuzz/regressions/<target>/`` and replayed here, so it stays fixed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
sys.path.insert(0, str(FUZZ))

from fuzz_targets import TARGETS, seeds  # noqa: E402

CASES = [(target, path) for target in TARGETS for path in seeds(target)]


def test_every_target_has_seeds() -> None:
    assert {target for target, _ in CASES} == set(TARGETS)


@pytest.mark.parametrize(("target", "path"), CASES, ids=[f"{t}/{p.parent.parent.name}/{p.name}" for t, p in CASES])
def test_the_input_ends_in_a_named_outcome(target: str, path: Path) -> None:
    TARGETS[target](path.read_bytes())  # a crash raises; a finding or a ManifestError returns


def test_the_saved_zip_crash_is_now_a_finding() -> None:
    from fuzz_targets import MemorySource

    from metastudio_provider.media import inspect_asset

    data = (FUZZ / "regressions" / "zip" / "end_record_near_the_end").read_bytes()
    inspection = inspect_asset("audio", MemorySource(data, "audio.zip"), name="audio.zip")
    assert [finding.rule for finding in inspection.findings] == ["audio.format"]
