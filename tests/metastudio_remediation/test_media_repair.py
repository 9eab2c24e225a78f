"""Media repair on real recordings: what each repair writes, what it refuses, and that sound stays in sync."""

from __future__ import annotations

import array
from pathlib import Path

import av
import pytest

from metastudio_provider.media import inspect_asset
from metastudio_remediation.media_repair import rules
from metastudio_remediation.media_repair.errors import RepairRefused
from metastudio_remediation.media_repair.progress import Progress
from metastudio_remediation.media_repair.repair import repair_file
from tests.metastudio_remediation.repair_media import BEEP_S, make_all
from tests.support.media import SampleMedia


@pytest.fixture(scope="module")
def videos(media: SampleMedia, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_all(media, tmp_path_factory.mktemp("repair-inputs"))


def flash_and_beep(path: Path) -> tuple[float, float]:
    """When the picture turns white and when the beep starts (seconds), decoded from the file."""
    with av.open(str(path)) as container:
        flash = next(frame.time for frame in container.decode(video=0) if sum(bytes(frame.planes[0])[:64]) / 64 > 200)
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            samples = array.array("f", bytes(frame.planes[0])[: 4 * frame.samples])
            loud = next((i for i, value in enumerate(samples) if abs(value) > 0.2), None)
            if loud is not None:
                return flash, frame.time + loud / frame.sample_rate
    raise AssertionError(f"{path.name}: no beep")


def test_a_long_phone_mov_is_remuxed_and_trimmed_from_the_start(videos: dict[str, Path], tmp_path: Path) -> None:
    original = videos["phone.mov"].read_bytes()
    result = repair_file(videos["phone.mov"], tmp_path / "phone.mp4")
    assert result.repairs == ("remux", "trim")
    after = inspect_asset("training_video", tmp_path / "phone.mp4")
    assert after.ok and after.facts["format"] == "mp4" and after.facts["audio_codec"] == "mp4a"
    # Cut just before a keyframe (one every 2 s) at or under 9 min 50 s.
    assert 588 <= after.facts["duration_s"] <= 590.1
    assert [(c["repair"], c["rule"], c["before"], c["after"]) for c in result.changes] == [
        ("remux", "video.container", "QuickTime MOV", "MP4"),
        ("trim", "video.duration", "10 min 30 s", "9 min 50 s"),
    ]
    assert videos["phone.mov"].read_bytes() == original  # the source is never touched
    flash, beep = flash_and_beep(tmp_path / "phone.mp4")
    assert flash == pytest.approx(BEEP_S, abs=0.01) and beep == pytest.approx(flash, abs=0.02)


def test_keeping_the_middle_cuts_at_a_keyframe_and_keeps_sound_in_sync(videos: dict[str, Path], tmp_path: Path) -> None:
    result = repair_file(videos["long.mp4"], tmp_path / "middle.mp4", keep="middle", max_duration=540)
    assert result.repairs == ("trim",)
    [trim] = result.changes
    assert trim["kept_from_s"] == 50  # (640 - 540) / 2, a keyframe (every 2 s)
    assert inspect_asset("training_video", tmp_path / "middle.mp4").facts["duration_s"] == pytest.approx(540, abs=2.1)
    flash, beep = flash_and_beep(tmp_path / "middle.mp4")
    assert flash == pytest.approx(BEEP_S - 50, abs=0.01)
    assert beep == pytest.approx(flash, abs=0.02)  # within the beep's first audio frame of the flash


def test_1440p_needs_downscale_by_name_and_then_becomes_1080p(videos: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "wide.mp4"
    with pytest.raises(RepairRefused, match="needs downscale, which is not allowed"):
        repair_file(videos["wide1440.mp4"], dest)
    assert list(tmp_path.iterdir()) == []
    result = repair_file(videos["wide1440.mp4"], dest, allow=["downscale"])
    assert result.changes[0] == {
        "repair": "downscale",
        "rule": "video.resolution",
        "before": "2560x1440",
        "after": "1920x1080",
    }
    after = inspect_asset("training_video", dest)
    assert after.ok and (after.facts["width"], after.facts["height"], after.facts["codec"]) == (1920, 1080, "avc1")
    with av.open(str(dest)) as container:
        assert container.streams.video[0].codec_context.profile == "High"
        assert container.streams.audio[0].codec_context.name == "aac"  # copied, not re-encoded


def test_a_portrait_phone_video_stays_portrait(videos: dict[str, Path], tmp_path: Path) -> None:
    before = inspect_asset("training_video", videos["portrait1440.mp4"])
    assert (before.facts["width"], before.facts["height"], before.facts["rotation"]) == (1440, 2560, 90)
    result = repair_file(videos["portrait1440.mp4"], tmp_path / "portrait.mp4", allow=rules.REPAIRS)
    after = result.after
    assert after is not None and after.ok
    assert (after.facts["width"], after.facts["height"], after.facts["rotation"]) == (1080, 1920, 90)
    assert (after.facts["stored_width"], after.facts["stored_height"]) == (1920, 1080)


def test_a_matroska_file_is_remuxed(videos: dict[str, Path], tmp_path: Path) -> None:
    before = inspect_asset("training_video", videos["camera.mkv"])
    assert [f.rule for f in before.findings] == ["video.container"] and before.facts["format"] == "matroska"
    result = repair_file(videos["camera.mkv"], tmp_path / "camera.mp4")
    assert result.repairs == ("remux",)
    assert result.after is not None and result.after.ok


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("short.mp4", "video.duration: shorter than 3 minutes: nothing can add recording time"),
        ("small720.mp4", "1280x720 is smaller than 1080p: upscaling adds no detail"),
        ("square43.mp4", "2048x1536 is not 16:9 or 9:16: reaching an accepted size would crop or stretch"),
        ("sound_only.mp4", "video.no_video_track: there is no picture to repair"),
        ("broken.mov", "video.truncated: the file is damaged"),
    ],
)
def test_what_cannot_be_repaired_honestly_is_refused_and_nothing_is_written(
    videos: dict[str, Path], tmp_path: Path, name: str, reason: str
) -> None:
    with pytest.raises(RepairRefused) as refused:
        repair_file(videos[name], tmp_path / "out.mp4", allow=rules.REPAIRS)
    assert str(refused.value).startswith(f"{name}: cannot be repaired honestly (")
    assert reason in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_passes_is_not_rewritten(media: SampleMedia, tmp_path: Path) -> None:
    from metastudio_sandbox import samples

    good = media.make(tmp_path / "good.mp4", samples.make_video)
    result = repair_file(good, tmp_path / "out.mp4")
    assert result.repairs == () and result.dest is None
    assert not (tmp_path / "out.mp4").exists()


def test_progress_is_reported_in_order_and_ends_at_the_whole(videos: dict[str, Path], tmp_path: Path) -> None:
    seen: list[Progress] = []
    repair_file(videos["phone.mov"], tmp_path / "p.mp4", progress=seen.append)
    fractions = [report.fraction for report in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert 10 < len(seen) <= 202  # throttled: at most every half per cent, plus the end
    assert {report.step for report in seen} == {"remux+trim"}


@pytest.mark.parametrize(
    ("size", "target"),
    [
        ((2560, 1440), (1920, 1080)),
        ((1440, 2560), (1080, 1920)),
        ((3200, 1800), (1920, 1080)),
        ((5120, 2880), (3840, 2160)),
        ((7680, 4320), (3840, 2160)),
        ((4320, 7680), (2160, 3840)),
        ((1920, 1080), None),
        ((1280, 720), None),
        ((4096, 2160), None),
    ],
)
def test_downscale_target_is_the_largest_accepted_size_of_the_same_aspect(
    size: tuple[int, int], target: tuple[int, int] | None
) -> None:
    assert rules.downscale_target(*size) == target


def test_bad_arguments_are_named(videos: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown repair"):
        repair_file(videos["phone.mov"], tmp_path / "a.mp4", allow=["transcode"])
    with pytest.raises(ValueError, match="outside MetaStudio's 180 to 600 s"):
        repair_file(videos["phone.mov"], tmp_path / "a.mp4", max_duration=660)
    with pytest.raises(ValueError, match=r"name it \.mp4"):
        repair_file(videos["phone.mov"], tmp_path / "a.mov")
