"""Real sample media for tests, made once per parameter set and kept in pytest's cache folder.

``media.make(dest, samples.make_video, width=1280, height=720)`` copies a cached, genuinely encoded
file to ``dest``; ``media.asset_set(folder)`` writes a complete valid set of job assets. The cache
(``.pytest_cache/d/metastudio-samples``) survives between runs; its keys include the generator
version, so a changed maker never serves a stale file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from metastudio_sandbox import samples


class SampleMedia:
    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir

    def make(self, dest: str | os.PathLike[str], maker: Callable[..., Path], **params: Any) -> Path:
        return samples.make_cached(dest, maker, self.cache_dir, **params)

    def asset_set(self, folder: str | os.PathLike[str], **video: Any) -> dict[str, Path]:
        return samples.make_asset_set(folder, cache_dir=self.cache_dir, **video)


@pytest.fixture(scope="session")
def media(request: pytest.FixtureRequest) -> SampleMedia:
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    if cache is None:
        folder = Path(request.config.rootpath) / "var" / "cache" / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        return SampleMedia(folder)
    return SampleMedia(Path(cache.mkdir("metastudio-samples")))
