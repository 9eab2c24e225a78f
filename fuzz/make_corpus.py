"""Write the seed corpus ``fuzz/corpus/<target>/``: small real files, and a few hostile variants of them.

Real files are made by ``metastudio_sandbox.samples`` (PyAV, Pillow, zipfile), kept small so a
mutation reaches every box and field quickly; the variants come from ``tests/support/hostile_media``.
Re-run after changing a maker: ``.venv/bin/python fuzz/make_corpus.py``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.support

from metastudio_sandbox import samples  # noqa: E402
from tests.support import hostile_media  # noqa: E402

MANIFESTS = {
    "ok.yaml": (
        "version: 1\nassets_root: .\njobs:\n"
        "  0a11ce0000000000000000000000a001:\n    note: re-shot\n"
        "    update: {name: Ann, video_multipart_count: 1, tags: [a, b], voice_properties: {sex: FEMALE}}\n"
        "    assets: {id_card_front: id.jpg, cover: id.png, training_video: video.mp4}\n"
        "    preflight: {skip: [video.duration]}\n"
        "  0a11ce0000000000000000000000a002: {update: {batch_name: b}, preflight: false}\n"
    ),
    "ok.json": (
        '{"jobs": {"0a11ce0000000000000000000000a001": {"update": {"name": "Ann"}, "assets": {"cover": "id.jpg"}}}}'
    ),
    "alias.yaml": "a: &a [x, x]\nb: &b [*a, *a]\njobs: {j: {update: {tags: *b}}}\n",
    "tags.yaml": "jobs:\n  j: {update: {name: !!timestamp x, tags: !!set {a, b}}}\n",
    "keys.yaml": "jobs:\n  null: {update: {1: x}}\n  ? [a]\n  : {}\n",
}


def main() -> None:
    corpus = HERE / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    for target in ("manifest", "mp4", "jpeg", "png", "pdf", "zip"):
        (corpus / target).mkdir(parents=True)
    with tempfile.TemporaryDirectory() as work:
        tmp = Path(work)
        video = samples.make_video(tmp / "small.mp4", width=64, height=64, seconds=2, fps=1)
        shutil.copyfile(video, corpus / "mp4" / "small.mp4")
        samples.make_video(corpus / "mp4" / "portrait_rotated.mp4", width=64, height=32, seconds=2, fps=1, rotation=90)
        samples.make_video(corpus / "mp4" / "hd.mp4", width=1920, height=1080, seconds=180, fps=Fraction(1, 30))
        hostile_media.moov_size_form(video, corpus / "mp4" / "moov_64bit.mp4", "64bit")
        hostile_media.moov_size_form(video, corpus / "mp4" / "moov_to_end.mp4", "to_end")
        hostile_media.empty_box(video, corpus / "mp4" / "empty_mvhd.mp4", b"mvhd")
        hostile_media.with_mvex(video, corpus / "mp4" / "fragment_marks.mp4", hostile_media.box(b"mehd", b"\0" * 8))
        hostile_media.index_only(video, corpus / "mp4" / "index_only.mp4")
        hostile_media.box_flood(video, corpus / "mp4" / "small_flood.mp4", 64)
        samples.make_jpeg(corpus / "jpeg" / "id.jpg", width=64, height=40)
        samples.make_png(corpus / "png" / "id.png", width=64, height=40)
        samples.make_pdf(corpus / "pdf" / "letter.pdf")
        voice = samples.make_audio_zip(corpus / "zip" / "voice.zip", recordings=2, seconds=0.05)
        hostile_media.lying_zip(voice, corpus / "zip" / "lying.zip", 0xFFFFFFF0)
        hostile_media.zip_member_name_not_utf8(voice, corpus / "zip" / "name_not_utf8.zip")
        hostile_media.zip_member_empty_name(voice, corpus / "zip" / "empty_name.zip")
    for name, text in MANIFESTS.items():
        (corpus / "manifest" / name).write_text(text)
    total = sum(path.stat().st_size for path in corpus.rglob("*") if path.is_file())
    print(f"seed corpus: {sum(1 for p in corpus.rglob('*') if p.is_file())} files, {total} bytes in {corpus}")


if __name__ == "__main__":
    main()
