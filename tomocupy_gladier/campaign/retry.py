"""Exponential backoff with jitter that honours a service's Retry-After."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tomocupy_gladier.campaign.service import TransientError

T = TypeVar("T")


@dataclass
class RetryPolicy:
    """How long to wait between tries of a transiently failing request, and how often to try.

    The n-th pause (n = 0, 1, ...) is drawn uniformly from
    ``[base * 2**n / 2, base * 2**n]`` ("equal jitter"), capped at ``max_delay``; when the
    service sent Retry-After, the pause is at least that (capped at ``max_retry_after``).
    """

    base_delay: float = 1.0
    max_delay: float = 60.0
    max_attempts: int = 8
    max_retry_after: float = 300.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** attempt))
        pause = ceiling / 2 + self.rng.random() * ceiling / 2
        if retry_after is not None and retry_after > 0:
            pause = max(pause, min(float(retry_after), self.max_retry_after))
        return pause

    def call(self, func: Callable[[], T], *, on_retry: Callable[[int, TransientError], None] | None = None) -> T:
        """Call ``func``; repeat it after a pause while it raises :class:`TransientError`.

        The last error is raised when ``max_attempts`` tries have failed.
        """
        attempt = 0
        while True:
            try:
                return func()
            except TransientError as exc:
                if attempt + 1 >= self.max_attempts:
                    raise
                if on_retry is not None:
                    on_retry(attempt, exc)
                self.sleep(self.delay(attempt, exc.retry_after))
                attempt += 1
