"""Pre-flight inspection on genuinely encoded files: every rule, exact messages, bounded reads, object storage."""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import fsspec
import pytest
from airflow.sdk import ObjectStoragePath

from metastudio_provider.media import AssetSourceError, Inspection, display_name, inspect_asset
from metastudio_sandbox import samples
from tests.support import hostile_media
from tests.support.media import SampleMedia

ACCEPTED = "MetaStudio accepts 1920x1080, 1080x1920, 3840x2160 or 2160x3840"


def video(media: SampleMedia, folder: Path, name: str = "training_video.mp4", **params: Any) -> Path:
    return media.make(folder / name, samples.make_video, **params)


def rules(inspection: Inspection) -> list[str]:
    return [finding.rule for finding in inspection.findings]


# --- training video rules ---------------------------------------------------------------------


def test_1080p_landscape_3_minutes_is_accepted_with_its_facts(media: SampleMedia, tmp_path: Path) -> None:
    path = video(media, tmp_path)
    inspection = inspect_asset("training_video", path)
    assert inspection.ok, inspection.findings
    assert inspection.name == "training_video.mp4"
    facts = inspection.facts
    assert (facts["width"], facts["height"], facts["rotation"]) == (1920, 1080, 0)
    assert facts["duration_s"] == 180.0
    assert (facts["container"], facts["codec"]) == ("mp4", "avc1")
    assert facts["size"] == path.stat().st_size
    assert inspection.to_dict()["ok"] is True


@pytest.mark.parametrize(("width", "height"), [(1080, 1920), (3840, 2160)])
def test_portrait_1080p_and_4k_are_accepted(media: SampleMedia, tmp_path: Path, width: int, height: int) -> None:
    # 4K is encoded at one frame every 6 s: the rule is about size and length, not frame rate.
    fps = 1 if width < 3840 else Fraction(1, 6)
    inspection = inspect_asset("training_video", video(media, tmp_path, width=width, height=height, fps=fps))
    assert inspection.ok, inspection.findings
    assert (inspection.facts["width"], inspection.facts["height"]) == (width, height)


def test_720p_is_refused_with_the_exact_message_and_review_code(media: SampleMedia, tmp_path: Path) -> None:
    inspection = inspect_asset("training_video", video(media, tmp_path, width=1280, height=720))
    assert not inspection.ok
    [finding] = inspection.findings
    assert finding.rule == "video.resolution"
    assert finding.message == f"training_video.mp4: 1280x720; {ACCEPTED}"
    assert finding.measured == "1280x720"
    assert finding.review_code == "44005901"
    assert finding.to_dict() == {
        "rule": "video.resolution",
        "message": finding.message,
        "measured": "1280x720",
        "review_code": "44005901",
    }


def test_2_minutes_is_too_short(media: SampleMedia, tmp_path: Path) -> None:
    inspection = inspect_asset("training_video", video(media, tmp_path, seconds=120))
    [finding] = inspection.findings
    assert finding.rule == "video.duration"
    assert finding.message == "training_video.mp4: 2 min 0 s long; MetaStudio accepts 3 to 10 minutes"
    assert finding.measured == "120.0 s"
    assert finding.review_code is None


def test_11_minutes_is_too_long(media: SampleMedia, tmp_path: Path) -> None:
    inspection = inspect_asset("training_video", video(media, tmp_path, seconds=660, fps=Fraction(1, 5)))
    [finding] = inspection.findings
    assert finding.message == "training_video.mp4: 11 min 0 s long; MetaStudio accepts 3 to 10 minutes"
    assert finding.measured == "660.0 s"


@pytest.mark.parametrize(
    ("seconds", "fps", "ok"),
    [(179, 1, False), (180, 1, True), (600, Fraction(1, 5), True), (605, Fraction(1, 5), False)],
)
def test_duration_bounds_are_inclusive(media: SampleMedia, tmp_path: Path, seconds: int, fps: Any, ok: bool) -> None:
    path = video(media, tmp_path, width=1920, height=1080, seconds=seconds, fps=fps)
    assert ("video.duration" not in rules(inspect_asset("training_video", path))) is ok


def test_both_rules_broken_gives_both_findings(media: SampleMedia, tmp_path: Path) -> None:
    inspection = inspect_asset("training_video", video(media, tmp_path, width=1280, height=720, seconds=120))
    assert rules(inspection) == ["video.resolution", "video.duration"]


# --- rotation ---------------------------------------------------------------------------------


def test_phone_portrait_video_stored_landscape_with_rotation_90_shows_as_1080x1920(
    media: SampleMedia, tmp_path: Path
) -> None:
    inspection = inspect_asset("training_video", video(media, tmp_path, rotation=90))
    facts = inspection.facts
    assert (facts["stored_width"], facts["stored_height"], facts["rotation"]) == (1920, 1080, 90)
    assert (facts["width"], facts["height"]) == (1080, 1920)
    assert inspection.ok


@pytest.mark.parametrize(("rotation", "shown"), [(270, "720x1280"), (180, "1280x720")])
def test_rotation_is_applied_before_the_resolution_rule(
    media: SampleMedia, tmp_path: Path, rotation: int, shown: str
) -> None:
    inspection = inspect_asset("training_video", video(media, tmp_path, width=1280, height=720, rotation=rotation))
    assert inspection.facts["rotation"] == rotation
    [finding] = inspection.findings
    assert finding.message == f"training_video.mp4: {shown}; {ACCEPTED}"


# --- layout, damage and non-MP4 content -------------------------------------------------------


def test_moov_at_the_end_and_at_the_start_give_the_same_facts(media: SampleMedia, tmp_path: Path) -> None:
    at_end = inspect_asset("training_video", video(media, tmp_path, "end.mp4"))
    at_start = inspect_asset("training_video", video(media, tmp_path, "start.mp4", faststart=True))
    assert (at_end.facts["faststart"], at_start.facts["faststart"]) == (False, True)
    assert at_end.facts["moov_offset"] > at_end.facts["mdat_offset"]
    assert at_start.facts["moov_offset"] < at_start.facts["mdat_offset"]
    keep = ("width", "height", "duration_s", "codec", "rotation")
    assert {k: at_end.facts[k] for k in keep} == {k: at_start.facts[k] for k in keep}
    assert at_end.ok and at_start.ok


@pytest.mark.parametrize(("seconds", "ok"), [(200, True), (120, False)])
def test_a_fragmented_mp4_is_measured_from_its_last_fragment(
    media: SampleMedia, tmp_path: Path, seconds: int, ok: bool
) -> None:
    """Its moov holds no samples (mvhd says 0 s): the length is the last moof's decode time + samples."""
    inspection = inspect_asset("training_video", video(media, tmp_path, seconds=seconds, fragmented=True))
    assert inspection.facts["fragmented"] is True
    assert inspection.facts["duration_s"] == seconds
    assert inspection.ok is ok


@pytest.mark.parametrize("faststart", [False, True])
def test_a_truncated_mp4_is_a_finding_not_a_crash(media: SampleMedia, tmp_path: Path, faststart: bool) -> None:
    path = samples.truncate(video(media, tmp_path, faststart=faststart), 0.5)
    [finding] = inspect_asset("training_video", path).findings
    assert finding.rule == "video.truncated"
    assert finding.message.startswith("training_video.mp4: box mdat at offset ")
    assert "the file is incomplete or corrupt" in finding.message


def test_an_mp4_cut_right_before_its_moov_has_no_index(media: SampleMedia, tmp_path: Path) -> None:
    path = video(media, tmp_path)
    moov_offset = inspect_asset("training_video", path).facts["moov_offset"]
    samples.truncate(path, moov_offset / path.stat().st_size)
    [finding] = inspect_asset("training_video", path).findings
    assert finding.rule == "video.truncated"
    assert "no moov box" in finding.message


def test_ftyp_followed_by_random_bytes_is_not_a_video(tmp_path: Path) -> None:
    """What the old synthetic test files look like: they pass a magic-byte sniff, not inspection."""
    path = tmp_path / "training_video.mp4"
    path.write_bytes(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + os.urandom(4096))
    inspection = inspect_asset("training_video", path)
    assert rules(inspection) == ["video.truncated"]


def test_a_corrupt_box_inside_moov_is_a_finding(media: SampleMedia, tmp_path: Path) -> None:
    path = video(media, tmp_path, faststart=True)
    data = bytearray(path.read_bytes())
    mvhd = data.index(b"mvhd") - 4
    data[mvhd : mvhd + 4] = struct.pack(">I", 0x7FFFFFFF)  # mvhd claims 2 GiB inside a small moov
    path.write_bytes(bytes(data))
    [finding] = inspect_asset("training_video", path).findings
    assert finding.rule == "video.truncated"
    assert "the moov box is corrupt" in finding.message


def test_a_quicktime_mov_is_not_an_mp4(media: SampleMedia, tmp_path: Path) -> None:
    path = video(media, tmp_path, "training_video.mov")
    data = bytearray(path.read_bytes())
    data[8:12] = b"qt  "  # the major brand of a QuickTime movie
    path.write_bytes(bytes(data))
    [finding] = inspect_asset("training_video", path).findings
    assert finding.rule == "video.container"
    assert finding.message == "training_video.mov: QuickTime MOV; MetaStudio accepts MP4 for training_video"


def test_a_jpeg_uploaded_as_the_training_video(media: SampleMedia, tmp_path: Path) -> None:
    path = media.make(tmp_path / "training_video.mp4", samples.make_jpeg)
    inspection = inspect_asset("training_video", path)
    assert rules(inspection) == ["extension.mismatch", "video.container"]
    assert inspection.findings[1].message == "training_video.mp4: JPEG; MetaStudio accepts MP4 for training_video"


def test_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "cover.jpg").write_bytes(b"")
    [finding] = inspect_asset("cover", tmp_path / "cover.jpg").findings
    assert (finding.rule, finding.message) == ("file.empty", "cover.jpg: the file is empty (0 bytes)")


def test_action_video_gets_container_checks_only(media: SampleMedia, tmp_path: Path) -> None:
    short_720p = video(media, tmp_path, "action_video.mp4", width=1280, height=720, seconds=20)
    inspection = inspect_asset("action_video", short_720p)
    assert inspection.ok
    assert (inspection.facts["width"], inspection.facts["duration_s"]) == (1280, 20.0)
    cut = samples.truncate(short_720p, 0.4, dest=tmp_path / "cut.mp4")
    assert rules(inspect_asset("action_video", cut)) == ["video.truncated"]


# --- images, letter, audio --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["id_card_front", "id_card_back", "cover"])
def test_jpeg_and_png_photos_are_accepted_with_their_size(media: SampleMedia, tmp_path: Path, kind: str) -> None:
    jpeg = inspect_asset(kind, media.make(tmp_path / "photo.jpg", samples.make_jpeg, width=800, height=500))
    png = inspect_asset(kind, media.make(tmp_path / "photo.png", samples.make_png, width=600, height=400))
    assert jpeg.ok and png.ok
    assert (jpeg.facts["format"], jpeg.facts["width"], jpeg.facts["height"]) == ("jpeg", 800, 500)
    assert (png.facts["format"], png.facts["width"], png.facts["height"]) == ("png", 600, 400)


def test_a_png_renamed_jpg_is_a_finding(media: SampleMedia, tmp_path: Path) -> None:
    path = media.make(tmp_path / "id_card_front.jpg", samples.make_png)
    inspection = inspect_asset("id_card_front", path)
    [finding] = inspection.findings
    assert finding.rule == "extension.mismatch"
    assert finding.message == "id_card_front.jpg: named .jpg but the content is PNG; rename it or convert it"
    assert finding.measured == "PNG"
    assert inspection.facts["width"] == 856  # still measured


def test_a_pdf_as_id_card_is_refused(media: SampleMedia, tmp_path: Path) -> None:
    [finding] = inspect_asset("id_card_back", media.make(tmp_path / "id.pdf", samples.make_pdf)).findings
    assert finding.rule == "image.format"
    assert finding.message == "id.pdf: PDF; MetaStudio accepts JPEG or PNG for id_card_back"


def test_a_jpeg_cut_before_its_frame_header(tmp_path: Path) -> None:
    path = tmp_path / "id.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    assert rules(inspect_asset("id_card_front", path)) == ["image.truncated"]


@pytest.mark.parametrize(("maker", "name"), [(samples.make_pdf, "letter.pdf"), (samples.make_jpeg, "letter.jpg")])
def test_letter_as_pdf_or_image_is_accepted(media: SampleMedia, tmp_path: Path, maker: Any, name: str) -> None:
    assert inspect_asset("authorization_letter", media.make(tmp_path / name, maker)).ok


def test_letter_rules(media: SampleMedia, tmp_path: Path) -> None:
    pdf = media.make(tmp_path / "letter.pdf", samples.make_pdf)
    assert inspect_asset("authorization_letter", pdf).facts["pdf_version"] == "1.4"
    cut = samples.truncate(pdf, 0.6, dest=tmp_path / "cut.pdf")
    [finding] = inspect_asset("authorization_letter", cut).findings
    assert (finding.rule, finding.message) == (
        "letter.truncated",
        "cut.pdf: a PDF without %%EOF at its end; the file is cut short",
    )
    docx = tmp_path / "letter.docx"
    docx.write_bytes(b"PK\x03\x04" + bytes(100))
    [finding] = inspect_asset("authorization_letter", docx).findings
    assert finding.message == "letter.docx: ZIP; MetaStudio accepts PDF, JPEG or PNG for authorization_letter"


def test_audio_zip_of_wav_and_txt(media: SampleMedia, tmp_path: Path) -> None:
    inspection = inspect_asset("audio", media.make(tmp_path / "audio.zip", samples.make_audio_zip, recordings=2))
    assert inspection.ok
    assert (inspection.facts["wav_files"], inspection.facts["txt_files"]) == (2, 2)
    # The end record and the central directory, never the members: a small archive is read once.
    assert inspection.bytes_read <= inspection.facts["size"] + 64


def test_audio_rules(media: SampleMedia, tmp_path: Path) -> None:
    wav_only = media.make(tmp_path / "audio.zip", samples.make_audio_zip, with_txt=False)
    [finding] = inspect_asset("audio", wav_only).findings
    assert finding.rule == "audio.members"
    assert finding.message.startswith("audio.zip: the zip holds 3 wav and 0 txt files;")
    plain_wav = samples.make_wav(tmp_path / "voice.wav")
    [finding] = inspect_asset("audio", plain_wav).findings
    assert finding.message == "voice.wav: WAV; MetaStudio accepts ZIP for audio"
    cut = samples.truncate(wav_only, 0.5, dest=tmp_path / "cut.zip")
    [finding] = inspect_asset("audio", cut).findings
    assert finding.rule == "audio.format"


# --- what is read -----------------------------------------------------------------------------


@pytest.mark.parametrize("faststart", [False, True])
def test_a_1_gib_video_reads_a_few_kib(media: SampleMedia, tmp_path: Path, faststart: bool) -> None:
    small = video(media, tmp_path, "small.mp4", faststart=faststart)
    big = samples.pad_mdat(small, 1024**3, dest=tmp_path / "training_video.mp4")  # sparse
    reference = inspect_asset("training_video", small)
    inspection = inspect_asset("training_video", big)
    assert inspection.ok
    assert inspection.facts["size"] == 1024**3
    assert {k: v for k, v in inspection.facts.items() if k not in ("size", "mdat_offset", "moov_offset")} == {
        k: v for k, v in reference.facts.items() if k not in ("size", "mdat_offset", "moov_offset")
    }
    # The head (64 B), one header per top-level box (16 B each, at most 5 here) and the moov box
    # (about 1.5 KiB for 180 frames): 8 KiB is a generous ceiling, 1/131072 of the file.
    assert inspection.bytes_read < 8 * 1024
    assert inspection.bytes_read - reference.bytes_read <= 16  # the padding box costs one header


# --- sources ----------------------------------------------------------------------------------


class FsspecSource:
    """An object-storage path on any fsspec filesystem (here ``memory://``), like ObjectStoragePath."""

    def __init__(self, fs: Any, path: str) -> None:
        self.fs, self.path = fs, path
        self.open_kwargs: dict[str, Any] = {}

    def open(self, mode: str, **kwargs: Any) -> IO[bytes]:
        self.open_kwargs = kwargs
        return self.fs.open(self.path, mode, **kwargs)

    def stat(self) -> dict[str, Any]:
        return self.fs.info(self.path)


def test_object_storage_path_on_file_scheme(media: SampleMedia, tmp_path: Path) -> None:
    path = video(media, tmp_path, width=1280, height=720)
    inspection = inspect_asset("training_video", ObjectStoragePath(f"file://{path}"))
    assert inspection.name == "training_video.mp4"
    assert rules(inspection) == ["video.resolution"]
    assert inspect_asset("training_video", f"file://{path}").to_dict() == inspection.to_dict()


def test_fsspec_memory_filesystem_reads_the_same_bytes_in_small_blocks(media: SampleMedia, tmp_path: Path) -> None:
    local = video(media, tmp_path)
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/jobs/training_video.mp4", local.read_bytes())
    source = FsspecSource(fs, "/bucket/jobs/training_video.mp4")
    remote = inspect_asset("training_video", source)
    assert remote.to_dict() == inspect_asset("training_video", local).to_dict()
    assert source.open_kwargs == {"block_size": 64 * 1024}


def test_name_is_the_base_name_without_query_or_the_callers_choice(media: SampleMedia, tmp_path: Path) -> None:
    assert display_name("s3://bucket/jobs/training_video.mp4?X-Amz-Signature=abc") == "training_video.mp4"
    assert display_name(tmp_path / "a" / "cover.jpg") == "cover.jpg"
    path = video(media, tmp_path, width=1280, height=720)
    inspection = inspect_asset("training_video", path, name="replacement.mp4")
    assert inspection.name == "replacement.mp4"
    assert inspection.findings[0].message.startswith("replacement.mp4: 1280x720;")


def test_an_unreadable_source_raises_naming_it(tmp_path: Path) -> None:
    with pytest.raises(AssetSourceError, match=r"cannot read training_video asset .*/missing\.mp4: No such file"):
        inspect_asset("training_video", tmp_path / "missing.mp4")
    with pytest.raises(AssetSourceError) as raised:
        inspect_asset("cover", "nosuchscheme://bucket/cover.jpg?X-Amz-Signature=abc123&token=secret")
    assert "nosuchscheme://bucket/cover.jpg" in str(raised.value)
    assert "secret" not in str(raised.value) and "abc123" not in str(raised.value)


def test_an_unknown_kind_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown asset kind 'selfie'; use one of training_video, action_video"):
        inspect_asset("selfie", tmp_path / "x.jpg")


# --- hostile files: each ends in a finding, with bounded reads ----------------------------------

FAST = Fraction(1, 10)  # one frame every 10 s: a 3-minute 1080p video encodes in a fraction of a second


@pytest.fixture
def good(media: SampleMedia, tmp_path: Path) -> Path:
    """A real 3-minute 1920x1080 H.264 video that passes every rule, its moov box at the end."""
    return video(media, tmp_path, "good.mp4", seconds=180, fps=FAST)


def test_a_box_flood_before_moov_stops_at_the_cap(good: Path, tmp_path: Path) -> None:
    flooded = hostile_media.box_flood(good, tmp_path / "flood.mp4", 200_000)
    inspection = inspect_asset("training_video", flooded)
    assert rules(inspection) == ["video.truncated"]
    assert "more than 10000 boxes before the moov box" in inspection.findings[0].message
    assert inspection.bytes_read <= 64 + 10_001 * 16  # the header reads only, never the 1.6 MB of boxes


def test_a_box_flood_after_moov_keeps_the_verdict_of_the_moov(good: Path, tmp_path: Path) -> None:
    flooded = hostile_media.box_flood(good, tmp_path / "flood.mp4", 200_000, before_moov=False)
    inspection = inspect_asset("training_video", flooded)
    assert inspection.ok, inspection.findings
    assert inspection.bytes_read <= 64 + 10_001 * 16 + good.stat().st_size


@pytest.mark.parametrize("form", ["64bit", "to_end"])
def test_every_legal_size_form_of_the_moov_box_is_read(good: Path, tmp_path: Path, form: str) -> None:
    legal = hostile_media.moov_size_form(good, tmp_path / f"{form}.mp4", form)
    inspection = inspect_asset("training_video", legal)
    assert inspection.ok, inspection.findings
    assert (inspection.facts["width"], inspection.facts["height"], inspection.facts["duration_s"]) == (1920, 1080, 180)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ((b"mvhd",), "box mvhd is 0 bytes, too short"),
        ((b"trak", b"tkhd"), "box tkhd is 0 bytes, too short"),
        ((b"trak", b"mdia", b"mdhd"), "box mdhd is 0 bytes, too short"),
        ((b"trak", b"mdia", b"minf", b"stbl", b"stsz"), "box stsz is 0 bytes, too short"),
        ((b"trak", b"mdia", b"minf", b"stbl", b"stco"), "box stco is 0 bytes, too short"),
    ],
)
def test_an_empty_box_is_a_finding(good: Path, tmp_path: Path, path: tuple[bytes, ...], message: str) -> None:
    broken = hostile_media.empty_box(good, tmp_path / "empty.mp4", *path)
    inspection = inspect_asset("training_video", broken)
    assert rules(inspection) == ["video.truncated"]
    assert message in inspection.findings[0].message


@pytest.mark.parametrize("empty", [b"mehd", b"trex"])
def test_an_empty_fragment_box_is_a_finding(good: Path, tmp_path: Path, empty: bytes) -> None:
    broken = hostile_media.with_mvex(good, tmp_path / "fragmented.mp4", hostile_media.box(empty, b""))
    inspection = inspect_asset("training_video", broken)
    assert rules(inspection) == ["video.truncated"]
    assert f"box {empty.decode()} is 0 bytes" in inspection.findings[0].message


def test_a_lying_sample_count_is_a_finding_not_a_huge_read(good: Path, tmp_path: Path) -> None:
    def claim_four_billion_samples(stsz: bytes) -> bytes:
        return stsz[:4] + struct.pack(">II", 0, 0xFFFFFFFF) + stsz[12:]

    path = (b"trak", b"mdia", b"minf", b"stbl", b"stsz")
    broken = hostile_media.changed_moov(good, tmp_path / "lying.mp4", path, claim_four_billion_samples)
    inspection = inspect_asset("training_video", broken)
    assert rules(inspection) == ["video.truncated"]
    assert "box stsz is" in inspection.findings[0].message


def test_an_index_without_its_media_data_is_not_a_good_video(good: Path, tmp_path: Path) -> None:
    only_index = hostile_media.index_only(good, tmp_path / "index.mp4")
    inspection = inspect_asset("training_video", only_index)
    assert only_index.stat().st_size < 2000  # the index of a 3-minute 1080p video
    assert rules(inspection) == ["video.truncated"]
    assert "no media data (no mdat box)" in inspection.findings[0].message


def test_chunk_offsets_past_the_end_are_not_a_good_video(good: Path, tmp_path: Path) -> None:
    def far_offsets(stco: bytes) -> bytes:
        count = struct.unpack_from(">I", stco, 4)[0]
        return stco[:8] + struct.pack(f">{count}I", *[2**31 + n for n in range(count)])

    path = (b"trak", b"mdia", b"minf", b"stbl", b"stco")
    broken = hostile_media.changed_moov(good, tmp_path / "far.mp4", path, far_offsets)
    inspection = inspect_asset("training_video", broken)
    assert rules(inspection) == ["video.truncated"]
    assert "the index points past the end of the file" in inspection.findings[0].message


def test_a_cut_media_data_box_is_not_a_good_video(good: Path, tmp_path: Path) -> None:
    """The mdat box made smaller than what the index describes (and the file shorter with it)."""
    boxes = hostile_media.top_level(good.read_bytes())
    mdat = next(data for kind, data in boxes if kind == b"mdat")
    cut = hostile_media.box(b"mdat", mdat[8 : len(mdat) // 2])
    (tmp_path / "cut.mp4").write_bytes(b"".join(cut if kind == b"mdat" else data for kind, data in boxes))
    inspection = inspect_asset("training_video", tmp_path / "cut.mp4")
    assert rules(inspection) == ["video.truncated"]


@pytest.fixture
def voice(media: SampleMedia, tmp_path: Path) -> Path:
    return media.make(tmp_path / "voice.zip", samples.make_audio_zip, recordings=2, seconds=0.2)


def test_a_zip_whose_directory_claims_a_huge_size_is_refused_without_reading_it(voice: Path, tmp_path: Path) -> None:
    lying = hostile_media.lying_zip(voice, tmp_path / "lying.zip", 0xFFFF_FFF0)
    inspection = inspect_asset("audio", lying)
    assert rules(inspection) == ["audio.format"]
    assert "the central directory claims 4294967280 bytes" in inspection.findings[0].message
    assert inspection.bytes_read <= lying.stat().st_size + 64


@pytest.mark.parametrize(
    ("maker", "finding"),
    [
        (hostile_media.zip_member_name_not_utf8, "member 1 has a name that is not valid UTF-8"),
        (hostile_media.zip_member_empty_name, "member 1 has an empty name"),
    ],
)
def test_odd_zip_members_are_findings(voice: Path, tmp_path: Path, maker: Any, finding: str) -> None:
    inspection = inspect_asset("audio", maker(voice, tmp_path / "odd.zip"))
    assert rules(inspection) == ["audio.format"]
    assert finding in inspection.findings[0].message


def test_a_zip_member_of_a_future_version_is_still_counted(voice: Path, tmp_path: Path) -> None:
    inspection = inspect_asset("audio", hostile_media.zip_member_future_version(voice, tmp_path / "future.zip"))
    assert inspection.ok and inspection.facts["wav_files"] == 2


def test_a_jpeg_flooded_with_fill_bytes_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "fill.jpg"
    path.write_bytes(b"\xff\xd8" + b"\xff" * 2_000_000)  # bad on purpose: fill bytes and no frame header
    inspection = inspect_asset("cover", path)
    assert rules(inspection) == ["image.truncated"]
    assert inspection.bytes_read <= 64 + 1024 * 1024


def test_compact_sample_sizes_stz2_count_as_samples(good: Path, tmp_path: Path) -> None:
    """An MP4 whose sample table uses the compact ``stz2`` box (16-bit sizes) instead of ``stsz``."""

    def compact(stbl: bytes) -> bytes:
        out = b""
        for box_type, whole in hostile_media.top_level(stbl):
            if box_type == b"stsz":
                uniform, count = struct.unpack_from(">II", whole, 12)
                sizes = struct.unpack_from(f">{count}I", whole, 20) if not uniform else (uniform,) * count
                body = b"\0\0\0\0" + b"\0\0\x10" + struct.pack(">I", count) + struct.pack(f">{count}H", *sizes)
                whole = hostile_media.box(b"stz2", body)
            out += whole
        return out

    path = (b"trak", b"mdia", b"minf", b"stbl")
    converted = hostile_media.changed_moov(good, tmp_path / "stz2.mp4", path, compact)
    assert b"stz2" in converted.read_bytes()
    inspection = inspect_asset("training_video", converted)
    assert inspection.ok, inspection.findings
