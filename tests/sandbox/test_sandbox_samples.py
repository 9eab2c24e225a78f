"""The sample media are what they claim: FFmpeg (through PyAV) opens and decodes every one of them."""

from __future__ import annotations

import re
import wave
import zipfile
from fractions import Fraction
from pathlib import Path

import av
import pytest

from metastudio_sandbox import samples
from tests.support.media import SampleMedia


def probe_video(path: Path) -> tuple[str, int, int, float, int, int]:
    """(codec, coded width, coded height, duration s, frames decoded, display rotation ccw) as FFmpeg sees it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return (
            stream.codec_context.name,
            stream.codec_context.width,
            stream.codec_context.height,
            float(container.duration / av.time_base),
            len(frames),
            frames[0].rotation,
        )


def test_default_video_is_3_minutes_of_1080p_h264_at_1_fps_and_small(media: SampleMedia, tmp_path: Path) -> None:
    path = media.make(tmp_path / "v.mp4", samples.make_video)
    assert probe_video(path) == ("h264", 1920, 1080, 180.0, 180, 0)
    assert path.stat().st_size < 500 * 1024


def test_video_variants(media: SampleMedia, tmp_path: Path) -> None:
    portrait = media.make(tmp_path / "p.mp4", samples.make_video, width=1080, height=1920, seconds=30)
    assert probe_video(portrait)[:5] == ("h264", 1080, 1920, 30.0, 30)
    slow = media.make(tmp_path / "s.mp4", samples.make_video, width=640, height=360, seconds=60, fps=Fraction(1, 5))
    assert probe_video(slow)[3:5] == (60.0, 12)


def test_fragmented_video_plays_whole(media: SampleMedia, tmp_path: Path) -> None:
    path = media.make(tmp_path / "f.mp4", samples.make_video, width=640, height=360, seconds=40, fragmented=True)
    assert path.read_bytes().count(b"moof") == 4  # a fragment per 10-second keyframe interval
    assert probe_video(path) == ("h264", 640, 360, 40.0, 40, 0)


def test_padded_photo_and_letter_stay_valid(tmp_path: Path) -> None:
    jpeg = samples.make_jpeg(tmp_path / "id.jpg", width=320, height=200, size=200_000)
    assert jpeg.stat().st_size >= 200_000
    with av.open(str(jpeg)) as container:
        assert next(container.decode(video=0)).width == 320
    pdf = samples.make_pdf(tmp_path / "letter.pdf", size=100_000).read_bytes()
    assert len(pdf) >= 100_000 and pdf.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\n(\d+)\n", pdf).group(1))  # type: ignore[union-attr]
    offsets = re.findall(rb"(\d{10}) 00000 n ", pdf[startxref:])
    assert [pdf[int(o) :].split(b"\n", 1)[0] for o in offsets] == [b"%d 0 obj" % n for n in range(1, 7)]


def test_rotation_is_a_display_matrix_ffmpeg_reads(media: SampleMedia, tmp_path: Path) -> None:
    path = media.make(tmp_path / "r.mp4", samples.make_video, width=640, height=360, seconds=5, rotation=90)
    # FFmpeg reports counter-clockwise degrees; our rotation=90 is clockwise (a phone's "rotate" tag).
    assert probe_video(path) == ("h264", 640, 360, 5.0, 5, -90)


def test_faststart_puts_moov_first(media: SampleMedia, tmp_path: Path) -> None:
    start = media.make(tmp_path / "a.mp4", samples.make_video, width=640, height=360, seconds=5, faststart=True)
    end = media.make(tmp_path / "b.mp4", samples.make_video, width=640, height=360, seconds=5)
    assert start.read_bytes().index(b"moov") < start.read_bytes().index(b"mdat")
    assert end.read_bytes().index(b"moov") > end.read_bytes().index(b"mdat")
    assert probe_video(start) == probe_video(end)


@pytest.mark.parametrize("faststart", [False, True])
def test_padded_video_still_plays(media: SampleMedia, tmp_path: Path, faststart: bool) -> None:
    small = media.make(tmp_path / "a.mp4", samples.make_video, width=640, height=360, seconds=5, faststart=faststart)
    big = samples.pad_mdat(small, 64 * 1024**2, dest=tmp_path / "big.mp4")
    assert big.stat().st_size == 64 * 1024**2
    assert big.stat().st_blocks * 512 < 8 * 1024**2  # sparse: the padding is a hole
    assert probe_video(big) == probe_video(small)
    filled = samples.pad_mdat(small, 8 * 1024**2, dest=tmp_path / "filled.mp4", random_fill=True)
    assert filled.stat().st_blocks * 512 >= 8 * 1024**2 - 4096  # every byte written
    assert probe_video(filled) == probe_video(small)


def test_truncated_video_fails_in_ffmpeg_too(media: SampleMedia, tmp_path: Path) -> None:
    path = media.make(tmp_path / "a.mp4", samples.make_video, width=640, height=360, seconds=5)
    samples.truncate(path, 0.5)
    with pytest.raises(av.error.InvalidDataError):
        probe_video(path)


@pytest.mark.parametrize(("maker", "codec"), [(samples.make_jpeg, "mjpeg"), (samples.make_png, "png")])
def test_images_decode(tmp_path: Path, maker: object, codec: str) -> None:
    path = maker(tmp_path / f"id.{codec}", width=320, height=200)  # type: ignore[operator]
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        assert (container.streams.video[0].codec_context.name, frame.width, frame.height) == (codec, 320, 200)


def test_pdf_cross_reference_offsets_point_at_their_objects(tmp_path: Path) -> None:
    data = samples.make_pdf(tmp_path / "letter.pdf").read_bytes()
    assert data.startswith(b"%PDF-1.4\n") and data.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\n(\d+)\n", data).group(1))  # type: ignore[union-attr]
    assert data[startxref:].startswith(b"xref\n0 6\n")
    offsets = re.findall(rb"(\d{10}) 00000 n ", data[startxref:])
    assert [data[int(o) :].split(b"\n", 1)[0] for o in offsets] == [b"%d 0 obj" % n for n in range(1, 6)]
    length = int(re.search(rb"/Length (\d+)", data).group(1))  # type: ignore[union-attr]
    stream = data.index(b"stream\n") + len(b"stream\n")
    assert data[stream + length :].startswith(b"endstream")


def test_audio_zip_holds_playable_wavs_and_their_scripts(tmp_path: Path) -> None:
    path = samples.make_audio_zip(tmp_path / "audio.zip", recordings=2, seconds=0.5)
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["001.wav", "001.txt", "002.wav", "002.txt"]
        archive.extract("002.wav", tmp_path)
    with wave.open(str(tmp_path / "002.wav")) as recording:
        assert (recording.getframerate(), recording.getnframes()) == (16_000, 8_000)
    with av.open(str(tmp_path / "002.wav")) as container:
        assert sum(frame.samples for frame in container.decode(audio=0)) == 8_000


def test_cache_makes_each_file_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = samples.make_cached(tmp_path / "one.pdf", samples.make_pdf, cache, title="A")
    second = samples.make_cached(tmp_path / "two.pdf", samples.make_pdf, cache, title="A")
    samples.make_cached(tmp_path / "three.pdf", samples.make_pdf, cache, title="B")
    assert first.read_bytes() == second.read_bytes()
    assert len(list(cache.iterdir())) == 2


def test_asset_set_is_complete_and_valid(media: SampleMedia, tmp_path: Path) -> None:
    from metastudio_provider.media import inspect_asset

    made = media.asset_set(tmp_path / "job")
    assert set(made) == {"training_video", "cover", "id_card_front", "id_card_back", "authorization_letter", "audio"}
    assert all(inspect_asset(kind, path).ok for kind, path in made.items())


def test_seeded_jobs_video_is_genuine_and_unique_per_job(tmp_path: Path) -> None:
    from metastudio_provider.media import inspect_asset
    from metastudio_sandbox.assets import synthetic

    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    first.write_bytes(synthetic("mp4", "job-a:training_video"))
    second.write_bytes(synthetic("mp4", "job-b:training_video"))
    assert first.read_bytes() != second.read_bytes()
    assert probe_video(first) == ("h264", 1920, 1080, 180.0, 18, 0)
    assert inspect_asset("training_video", first).ok
