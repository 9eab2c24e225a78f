"""Which failures are retried, and how long to wait between attempts.

Connection errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter; a
``Retry-After`` header wins over the computed backoff. Every call is bounded both in attempts
and in total time (the deadline includes the next wait, so we never sleep past it). Any other
4xx is final: retrying an invalid request only burns the tenant's rate limit.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity

from metastudio_provider.exceptions import MetaStudioApiError, MetaStudioTransportError

T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    """Transport failures, 429 and 5xx."""
    if isinstance(exc, MetaStudioTransportError):
        return True
    return isinstance(exc, MetaStudioApiError) and exc.retryable


def is_retryable_non_idempotent(exc: BaseException) -> bool:
    """For calls that must not run twice (create): only failures where nothing was processed.

    A refused connection or a connect timeout never reached the server, and 429/503 are
    answered before the request is handled. A read timeout or a 500 may hide a created job.
    """
    if isinstance(exc, MetaStudioTransportError):
        return exc.connect_failed
    return isinstance(exc, MetaStudioApiError) and exc.status in (429, 503)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter that honours ``Retry-After``.

    :param retry_limit: retries after the first attempt
    :param base_delay: first backoff in seconds; doubles per attempt
    :param max_delay: cap of one computed backoff (a longer ``Retry-After`` is still honoured)
    :param deadline: total seconds one call may take, waits included
    :param sleep: injectable for tests
    """

    retry_limit: int
    base_delay: float
    max_delay: float
    deadline: float
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def backoff(self, attempt: int, exc: BaseException | None) -> float:
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return retry_after + random.uniform(0, min(1.0, self.base_delay) * 0.1)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def tenacity_options(
        self, *, description: str, logger: logging.Logger, retryable: Callable[[BaseException], bool]
    ) -> dict[str, Any]:
        """The settings shared by :meth:`call` and its async twin (``tenacity.AsyncRetrying``)."""

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.backoff(state.attempt_number, exc)

        def log_retry(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            logger.warning(
                "%s failed (%s); retry %d/%d in %.1f s",
                description,
                exc,
                state.attempt_number,
                self.retry_limit,
                state.upcoming_sleep,
            )

        return {
            "retry": tenacity.retry_if_exception(retryable),
            "stop": tenacity.stop_after_attempt(self.retry_limit + 1) | tenacity.stop_before_delay(self.deadline),
            "wait": wait,
            "before_sleep": log_retry,
            "reraise": True,
        }

    def call(
        self,
        fn: Callable[[], T],
        *,
        description: str,
        logger: logging.Logger,
        retryable: Callable[[BaseException], bool] = is_retryable,
    ) -> T:
        """Run ``fn`` until it succeeds, fails for good, or runs out of attempts or time."""
        options = self.tenacity_options(description=description, logger=logger, retryable=retryable)
        return tenacity.Retrying(sleep=self.sleep, **options)(fn)


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    description: str,
    logger: logging.Logger,
    retryable: Callable[[BaseException], bool] = is_retryable,
) -> T:
    """The async twin of :meth:`RetryPolicy.call`: same predicate, backoff, ``Retry-After`` and bounds."""
    options = policy.tenacity_options(description=description, logger=logger, retryable=retryable)
    return await tenacity.AsyncRetrying(**options)(fn)
