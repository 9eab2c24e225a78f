"""The upload targets of an Update, as they may be stored: every presigned URL sealed.

Shared by :class:`~metastudio_provider.operators.training_job.MetaStudioUpdateTrainingJobOperator`
(which returns them as XCom) and the remediation DAG's per-job task (which keeps them in its
checkpoint). Call :func:`~metastudio_provider.url_vault.ensure_sealing_available` before the
Update: a URL that could not be sealed after it would be lost, and the old ones are already void.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from metastudio_provider.models import UploadUrls
from metastudio_provider.url_vault import seal_url


def sealed_targets(urls: UploadUrls, wanted: Collection[tuple[str, int | None]] | None = None) -> list[dict[str, Any]]:
    """One dict per target (``asset``, ``part_number``, ``part_count``, ``content_type``, ``sealed_url``).

    ``wanted``: keep only these ``(asset, part_number)`` targets (``None``: all of them).
    """
    return [
        {
            "asset": target.asset,
            "part_number": target.part_number,
            "part_count": target.part_count,
            "content_type": target.content_type,
            "sealed_url": seal_url(target.url),
        }
        for target in urls.targets
        if wanted is None or (target.asset, target.part_number) in wanted
    ]
