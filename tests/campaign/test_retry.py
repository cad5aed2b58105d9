"""Backoff: exponential, jittered, at least what Retry-After asks, bounded attempts."""

from __future__ import annotations

import random

import pytest

from tomocupy_gladier.campaign.retry import RetryPolicy
from tomocupy_gladier.campaign.service import PermanentError, TransientError


def test_delays_grow_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, rng=random.Random(1))
    for attempt, ceiling in enumerate([1, 2, 4, 8, 8, 8]):
        delays = [policy.delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1, "jittered"


def test_retry_after_is_a_floor_and_is_capped():
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0, max_retry_after=30)
    assert policy.delay(0, retry_after=7) == 7
    assert policy.delay(0, retry_after=3600) == 30


def test_call_retries_transient_errors_then_succeeds():
    slept: list[float] = []
    answers = iter([TransientError("429", retry_after=2), TransientError("503"), "ok"])

    def flaky():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    policy = RetryPolicy(base_delay=0.01, sleep=slept.append)
    assert policy.call(flaky) == "ok"
    assert len(slept) == 2 and slept[0] >= 2


def test_call_gives_up_after_max_attempts_and_never_retries_permanent_errors():
    calls = []

    def always(exc):
        def f():
            calls.append(1)
            raise exc
        return f

    policy = RetryPolicy(max_attempts=3, sleep=lambda s: None)
    with pytest.raises(TransientError):
        policy.call(always(TransientError("down")))
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(PermanentError):
        policy.call(always(PermanentError("no")))
    assert len(calls) == 1
