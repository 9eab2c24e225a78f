"""Run-time settings of one sandbox instance (CLI flags, or keyword arguments in tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Settings:
    """Everything a sandbox needs to know; mutable fields can be changed through the admin API."""

    ak: str = "sandbox-ak"
    sk: str = "sandbox-sk"
    project_id: str = "0123456789abcdef0123456789abcdef"
    iam_domain: str = "sandbox-domain"
    iam_user: str = "sandbox-user"
    iam_password: str = "sandbox-password"  # noqa: S105 - documented default of a local fake
    iam_project_name: str = "cn-north-4"
    data_dir: Path | None = None
    scenario: Path | None = None
    public_url: str | None = None  # base of presigned URLs; default: the Host header of the request
    # Mutable at run time (PATCH /_sandbox/settings).
    review_delay: float = 5.0  # seconds from SUBMITVERIFYING to the review verdict
    token_ttl: float = 24 * 3600.0  # IAM token lifetime in seconds
    url_ttl: float = 24 * 3600.0  # presigned upload/download URL lifetime in seconds
    clock_skew: float = 15 * 60.0  # accepted difference between X-Sdk-Date and the server clock
    upload_rate_mbps: float = 0.0  # per-connection upload rate in megabits per second; 0: unlimited
    fault_seed: int = 0
    faults: dict[str, dict[str, object]] = field(default_factory=dict)
    throttles: dict[str, dict[str, float]] = field(default_factory=dict)

    MUTABLE = ("review_delay", "token_ttl", "url_ttl", "clock_skew", "upload_rate_mbps")

    def public_view(self) -> dict[str, object]:
        """Settings safe to show over the admin API (no secrets)."""
        return {
            "project_id": self.project_id,
            "iam_project_name": self.iam_project_name,
            "data_dir": str(self.data_dir) if self.data_dir else None,
            **{name: getattr(self, name) for name in self.MUTABLE},
        }
