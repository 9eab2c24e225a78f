"""Per-operation throttling (token buckets) and fault injection (errors, latency, drops, disconnects).

Every random choice comes from a ``random.Random`` seeded per operation, and the ``*_next`` counters
("fail the next N requests") make tests fully deterministic.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from metastudio_sandbox.errors import APIGW_THROTTLED, MSS_INJECTED, ApiError

OPERATIONS = ("token", "list", "show", "create", "update", "delete", "command", "upload", "download")
ALL = "*"


@dataclass
class FaultSpec:
    """What to inject into one operation. Rates are probabilities in [0, 1]."""

    error_rate: float = 0.0
    error_next: int = 0
    error_status: int = 500
    error_code: str = MSS_INJECTED
    error_msg: str = "Injected fault"
    latency_ms: float = 0.0
    latency_next: int = -1  # -1: every request; N >= 0: only the next N requests are delayed
    drop_rate: float = 0.0  # close the connection without any response
    drop_next: int = 0
    disconnect_rate: float = 0.0  # uploads: read part of the body, then close the connection
    disconnect_next: int = 0
    disconnect_after_bytes: int = 65536
    retry_after: int = 0  # injected errors: send "Retry-After: N" when N > 0
    drop_response_rate: float = 0.0  # handle the request, then close the connection instead of answering
    drop_response_next: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FaultSpec:
        known = {item.name: item.type for item in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        spec = cls()
        for key, value in values.items():
            default = getattr(spec, key)
            try:
                setattr(spec, key, type(default)(value))
            except (TypeError, ValueError):
                raise ValueError(f"fault setting {key} must be a {type(default).__name__}") from None
        for key in ("error_rate", "drop_rate", "disconnect_rate", "drop_response_rate"):
            if not 0.0 <= getattr(spec, key) <= 1.0:
                raise ValueError(f"{key} must be between 0 and 1")
        if not 400 <= spec.error_status <= 599:
            raise ValueError("error_status must be a 4xx or 5xx status")
        return spec


@dataclass
class Decision:
    latency: float = 0.0  # seconds
    action: str | None = None  # "drop", "disconnect", "error" or "drop_response"
    error: ApiError | None = None
    disconnect_after: int = 0


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float) -> float | None:
        """Take one token; return None, or the seconds until one is available."""
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate if self.rate > 0 else 3600.0


def _operations(operation: str) -> tuple[str, ...]:
    if operation == ALL:
        return OPERATIONS
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; use one of {', '.join(OPERATIONS)} or *")
    return (operation,)


class Faults:
    """The live fault and throttle configuration of a sandbox."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.seed = seed
        self._specs: dict[str, FaultSpec] = {}
        self._rngs: dict[str, random.Random] = {}
        self._buckets: dict[str, TokenBucket] = {}

    def set_fault(self, operation: str, values: dict[str, Any]) -> None:
        spec = FaultSpec.from_dict(values)
        with self._lock:
            for op in _operations(operation):
                self._specs[op] = FaultSpec(**asdict(spec))
                self._rngs[op] = random.Random(f"{self.seed}:{op}")

    def clear_faults(self, operation: str = ALL) -> None:
        with self._lock:
            for op in _operations(operation):
                self._specs.pop(op, None)

    def set_throttle(self, operation: str, rate: float, burst: float | None = None) -> None:
        if rate < 0 or (burst is not None and burst < 1):
            raise ValueError("rate must be >= 0 and burst >= 1")
        with self._lock:
            for op in _operations(operation):
                self._buckets[op] = TokenBucket(rate, burst if burst is not None else max(1.0, rate))

    def clear_throttles(self, operation: str = ALL) -> None:
        with self._lock:
            for op in _operations(operation):
                self._buckets.pop(op, None)

    def view(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.seed,
                "faults": {op: asdict(spec) for op, spec in self._specs.items()},
                "throttles": {op: {"rate": b.rate, "burst": b.burst} for op, b in self._buckets.items()},
            }

    def throttle(self, operation: str) -> ApiError | None:
        with self._lock:
            bucket = self._buckets.get(operation)
            wait = bucket.take(time.monotonic()) if bucket else None
        if wait is None:
            return None
        return ApiError(
            429,
            APIGW_THROTTLED,
            "The throttling threshold has been reached: policy user, limit reached",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )

    def decide(self, operation: str) -> Decision:
        with self._lock:
            spec = self._specs.get(operation)
            if spec is None:
                return Decision()
            rng = self._rngs[operation]
            decision = Decision()
            if spec.latency_next != 0:
                decision.latency = spec.latency_ms / 1000.0
                if spec.latency_next > 0:
                    spec.latency_next -= 1
            if self._fires(spec, "drop", rng):
                decision.action = "drop"
            elif self._fires(spec, "disconnect", rng):
                decision.action, decision.disconnect_after = "disconnect", spec.disconnect_after_bytes
            elif self._fires(spec, "error", rng):
                decision.action = "error"
                headers = {"Retry-After": str(spec.retry_after)} if spec.retry_after > 0 else {}
                decision.error = ApiError(spec.error_status, spec.error_code, spec.error_msg, headers=headers)
            elif self._fires(spec, "drop_response", rng):
                decision.action = "drop_response"
            return decision

    @staticmethod
    def _fires(spec: FaultSpec, kind: str, rng: random.Random) -> bool:
        pending = getattr(spec, f"{kind}_next")
        if pending > 0:
            setattr(spec, f"{kind}_next", pending - 1)
            return True
        rate = getattr(spec, f"{kind}_rate")
        return rate > 0 and rng.random() < rate


def parse_fault_flag(flag: str) -> tuple[str, dict[str, str]]:
    """``create:error_next=2,error_status=503`` -> ("create", {...})."""
    operation, sep, settings = flag.partition(":")
    if not sep or not settings:
        raise ValueError(f"--fault expects OP:key=value[,key=value...], got {flag!r}")
    values = {}
    for item in settings.split(","):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"--fault setting {item!r} is not key=value")
        values[key.strip()] = value.strip()
    return operation, values


def parse_throttle_flag(flag: str) -> tuple[str, float, float | None]:
    """``list=5`` or ``list=5:10`` (rate per second, optional burst)."""
    operation, sep, value = flag.partition("=")
    if not sep:
        raise ValueError(f"--throttle expects OP=RATE[:BURST], got {flag!r}")
    rate, _, burst = value.partition(":")
    return operation, float(rate), float(burst) if burst else None
