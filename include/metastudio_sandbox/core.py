"""The sandbox's state and parts, without a web framework: store, auth, faults, jobs, uploads, request log.

``Sandbox`` builds its parts from :class:`Settings` and offers what the HTTP layers and the tests
need (load, reset, settings changes, the request log). The FastAPI app (:mod:`.app`), the admin
API (:mod:`.admin`) and the gateway (:mod:`.gateway`) are given these parts; :mod:`.server` wires
them into one ASGI application.
"""

from __future__ import annotations

import tempfile
from collections import deque
from pathlib import Path
from typing import Any

from metastudio_sandbox.auth import AkSkVerifier, Authenticator, TokenIssuer
from metastudio_sandbox.faults import Faults, parse_fault_flag, parse_throttle_flag
from metastudio_sandbox.jobs import JobService
from metastudio_sandbox.scenario import DEFAULT_SCENARIO, load_scenario, read_scenario
from metastudio_sandbox.settings import Settings
from metastudio_sandbox.store import Store
from metastudio_sandbox.uploads import DownloadHandler, UploadHandler, UrlSigner

REQUEST_LOG_SIZE = 5000  # the gateway records at most this many requests (oldest dropped first)


class Sandbox:
    """One sandbox instance: its parts, its scenario and its request log."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if settings.data_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="metastudio-sandbox-")
            settings.data_dir = Path(self._tempdir.name)
        self.store = Store(Path(settings.data_dir))
        fresh = not self.store.all_jobs() and not (Path(settings.data_dir) / "seeded").exists()
        self.signer = UrlSigner(self.store.secret)
        self.tokens = TokenIssuer(self.store.secret)
        self.authenticator = Authenticator(
            AkSkVerifier(settings.ak, settings.sk, settings.clock_skew), self.tokens, settings.project_id
        )
        self.faults = Faults(settings.fault_seed)
        for operation, values in settings.faults.items():
            self.faults.set_fault(operation, values)
        for operation, throttle in settings.throttles.items():
            self.faults.set_throttle(operation, throttle["rate"], throttle.get("burst"))
        self.jobs = JobService(self.store, settings, self.signer)
        self.uploads = UploadHandler(self.store, self.signer, settings)
        self.downloads = DownloadHandler(self.store, self.signer)
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        if fresh:  # a restart with a data dir keeps its jobs instead of re-seeding
            self.load(read_scenario(settings.scenario) if settings.scenario else DEFAULT_SCENARIO)
            (Path(settings.data_dir) / "seeded").touch()

    def load(self, scenario: dict[str, Any]) -> list[str]:
        return load_scenario(self.store, scenario, self.settings.project_id)

    def reset(self, scenario: dict[str, Any] | None = None) -> list[str]:
        self.store.reset()
        self.request_log.clear()
        self.faults.clear_faults()
        self.faults.clear_throttles()
        return self.load(DEFAULT_SCENARIO if scenario is None else scenario)

    def close(self) -> None:
        self.store.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(self.request_log)

    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the run-time settings (``Settings.MUTABLE``); all or nothing. Returns the public view.

        Raises ``ValueError`` naming the first key that cannot be set.
        """
        for key, value in changes.items():
            if key not in self.settings.MUTABLE or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key}: only {', '.join(self.settings.MUTABLE)} (non-negative numbers) can be set")
        for key, value in changes.items():
            setattr(self.settings, key, float(value))
        self.authenticator.verifier.max_skew = self.settings.clock_skew
        return self.settings.public_view()

    def set_fault_flags(self, faults: list[str], throttles: list[str]) -> None:
        """Apply ``--fault`` / ``--throttle`` CLI flags."""
        for flag in faults:
            operation, values = parse_fault_flag(flag)
            self.faults.set_fault(operation, values)
        for flag in throttles:
            operation, rate, burst = parse_throttle_flag(flag)
            self.faults.set_throttle(operation, rate, burst)

    def base_url(self, client_origin: str) -> str:
        """Where presigned URLs point: --public-url, else ``client_origin`` (the host the client used)."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return client_origin
