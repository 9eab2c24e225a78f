"""The installed ``metastudio-media`` command, run as a real process on real recordings."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from metastudio_provider.media import inspect_asset
from metastudio_sandbox import samples
from tests.metastudio_remediation.repair_media import make_all
from tests.support.media import SampleMedia

COMMAND = Path(sys.executable).parent / "metastudio-media"  # the console script pyproject.toml installs


@pytest.fixture(scope="module")
def videos(media: SampleMedia, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_all(media, tmp_path_factory.mktemp("cli-inputs"))


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *map(str, args)], capture_output=True, text=True, timeout=300, check=False)


def test_check_passes_a_good_video_with_status_0(media: SampleMedia, tmp_path: Path) -> None:
    good = media.make(tmp_path / "good.mp4", samples.make_video)
    done = run("check", good)
    assert (done.returncode, done.stdout) == (0, "PASS  good.mp4\n")


def test_check_prints_a_line_per_finding_and_the_repair_with_status_1(videos: dict[str, Path]) -> None:
    done = run("check", videos["phone.mov"], videos["short.mp4"])
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "FAIL  phone.mov  video.container [QuickTime MOV]: QuickTime MOV; MetaStudio accepts MP4 for training_video "
        "(repair: remux)",
        "FAIL  phone.mov  video.duration [630.0 s]: 10 min 30 s long; MetaStudio accepts 3 to 10 minutes "
        "(repair: trim)",
        f"      repair it: metastudio-media repair {videos['phone.mov']} OUT.mp4 --allow remux,trim",
        # (the sound track runs 0.1 s longer than the picture)
        "FAIL  short.mp4  video.duration [120.1 s]: 2 min 0.1 s long; MetaStudio accepts 3 to 10 minutes "
        "(not repairable)",
    ]


def test_check_json_and_an_object_storage_url(videos: dict[str, Path]) -> None:
    url = f"local://{videos['wide1440.mp4']}"  # read through airflow.sdk.ObjectStoragePath, as s3:// would be
    done = run("check", "--json", url)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    [checked] = report["files"]
    assert report["ok"] is False and checked["source"] == url
    assert [f["rule"] for f in checked["findings"]] == ["video.resolution"]
    assert checked["repairs"] == {"needed": ["downscale"], "repairable": True}


def test_check_usage_errors_and_unreadable_files_give_status_2(tmp_path: Path) -> None:
    assert run("check").returncode == 2
    assert run("check", "--kind", "poster", tmp_path / "x.mp4").returncode == 2
    missing = run("check", tmp_path / "missing.mp4")
    assert missing.returncode == 2
    assert "missing.mp4: No such file or directory" in missing.stdout


def test_repair_writes_a_checked_mp4_and_says_what_it_did(videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "phone.mp4"
    done = run("repair", videos["phone.mov"], out)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        f"repaired phone.mov -> {out}: remux (video.container: QuickTime MOV -> MP4), "
        "trim (video.duration: 10 min 30 s -> 9 min 50 s)"
    )
    original = hashlib.sha256(videos["phone.mov"].read_bytes()).hexdigest()
    assert lines[1:] == [
        f"sha256 {original}  phone.mov (original)",
        f"sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}  {out} (repaired; passes the pre-flight rules)",
    ]
    assert inspect_asset("training_video", out).ok
    assert run("check", out).returncode == 0
    # Not a terminal: a line at each tenth of the work, not a redrawn bar.
    progress = [line for line in done.stderr.splitlines() if line.startswith("progress")]
    assert progress[0].startswith("progress   0%") and progress[-1].startswith("progress 100%")
    assert len(progress) == 11 and "\r" not in done.stderr


def test_repair_from_an_object_storage_url_keeping_the_middle(videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "long.mp4"
    done = run("repair", f"local://{videos['long.mp4']}", out, "--keep", "middle", "--max-duration", "9:00", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["repairs"] == ["trim"] and result["changes"][0]["kept_from_s"] == 50
    assert result["after"]["ok"] is True and len(result["dest_sha256"]) == 64


def test_downscale_only_when_allowed(videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "portrait.mp4"
    refused = run("repair", videos["portrait1440.mp4"], out)
    assert refused.returncode == 1 and not out.exists()
    assert "needs downscale, which is not allowed" in refused.stderr
    done = run("repair", videos["portrait1440.mp4"], out, "--allow", "remux,trim,downscale")
    assert done.returncode == 0, done.stderr
    assert "downscale (video.resolution: 1440x2560 -> 1080x1920)" in done.stdout
    facts = inspect_asset("training_video", out).facts
    assert (facts["width"], facts["height"], facts["rotation"]) == (1080, 1920, 90)


@pytest.mark.parametrize("name", ["short.mp4", "small720.mp4", "square43.mp4", "sound_only.mp4", "broken.mov"])
def test_repair_refuses_what_cannot_be_repaired_and_writes_nothing(
    videos: dict[str, Path], tmp_path: Path, name: str
) -> None:
    done = run("repair", videos[name], tmp_path / "out.mp4", "--allow", "remux,trim,downscale")
    assert done.returncode == 1
    assert done.stderr.startswith(f"refused: {name}: cannot be repaired honestly (")
    assert list(tmp_path.iterdir()) == []


def test_repair_usage_errors_give_status_2(videos: dict[str, Path], tmp_path: Path) -> None:
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"keep me")
    for args, words in [
        (("--allow", "transcode"), "unknown repair(s) transcode"),
        (("--max-duration", "11m"), "outside MetaStudio's 180 to 600 s"),
        (("--max-duration", "soon"), "use seconds (590), 9m50s or 9:50"),
    ]:
        done = run("repair", videos["phone.mov"], tmp_path / "out.mp4", *args)
        assert done.returncode == 2 and words in done.stderr
    exists = run("repair", videos["phone.mov"], taken)
    assert exists.returncode == 2 and "pass --force" in exists.stderr
    assert taken.read_bytes() == b"keep me"
