"""When and how long to retry a provider call.

The SDKs' own retries are disabled (``max_retries=0``) so that this is the one
policy: rate limits, 5xx, timeouts and dropped connections are retried with
exponential backoff, or after exactly the delay the server asked for in
``Retry-After`` (seconds or an HTTP date) / ``retry-after-ms``. Anything else is
final and surfaces as :class:`LLMError` with a message naming the fix.

Why tenacity rather than the SDKs' own retries (which also read ``Retry-After``):
- one policy for every provider: both SDKs cap their backoff at 8 s and ignore a
  ``Retry-After`` above 120 s (falling back to that 8 s backoff, so a rate-limited
  week-long run would hammer the provider), while here the server's delay is honoured
  up to ``retry_after_cap_s`` and the backoff to ``backoff_max_s``;
- every retry is reported to the run log (``llm_retry``: attempt, delay, reason),
  which the SDKs offer no hook for;
- ``llm.max_retries`` means the same for every provider, and tests pass a sleep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from orchestrator.errors import LLMError

T = TypeVar("T")
log = logging.getLogger("avo.llm")

#: HTTP statuses worth retrying besides 5xx: request timeout, conflict, rate limit.
RETRYABLE_STATUS = frozenset({408, 409, 429})


class TransientLLMError(LLMError):
    """A failure a later attempt may not see; ``retry_after`` is the server's requested delay."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RetryPolicy(BaseModel):
    """How many retries, and the backoff between them when the server names no delay."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_retries: int = Field(default=6, ge=0)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    retry_after_cap_s: float = Field(default=300.0, ge=0)


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: datetime | None = None) -> float | None:
    """The delay a response asks for: ``retry-after-ms``, ``Retry-After`` seconds or HTTP date."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


def call_with_retries(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    *,
    describe: str,
    on_retry: Callable[[int, float, str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``attempt`` until it succeeds, raises a final error, or retries run out.

    ``attempt`` raises :class:`TransientLLMError` for what is worth retrying; after the
    last retry that becomes an ``LLMError`` naming how many attempts were made.
    """
    backoff = wait_random_exponential(multiplier=policy.backoff_base_s, max=policy.backoff_max_s)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientLLMError) and exc.retry_after is not None:
            return min(exc.retry_after, policy.retry_after_cap_s)
        return backoff(state)

    def before_sleep(state: RetryCallState) -> None:
        reason = str(state.outcome.exception()) if state.outcome else ""
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s: attempt %d failed (%s); retrying in %.1fs", describe, state.attempt_number, reason, delay)
        if on_retry is not None:
            on_retry(state.attempt_number, delay, reason)

    retrying = Retrying(
        stop=stop_after_attempt(policy.max_retries + 1),
        retry=retry_if_exception_type(TransientLLMError),
        wait=wait,
        before_sleep=before_sleep,
        sleep=sleep,
    )
    try:
        return retrying(attempt)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise LLMError(
            f"{describe}: still failing after {policy.max_retries + 1} attempts ({last}); "
            "the provider is unavailable or rate-limiting; resume the run later"
        ) from last
