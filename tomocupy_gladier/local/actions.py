"""The action-provider interface of the local backend: what the interpreter hands an action
provider for one Action state (:class:`ActionRequest`), what it gets back
(:class:`ActionResult`), and the providers by ``ActionUrl`` (:class:`ActionRegistry`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol
from urllib.parse import urlsplit


@dataclass
class ActionRequest:
    """What an action provider receives for one Action state."""

    action_id: str
    action_url: str
    state_name: str
    body: Any
    wait_time: float
    deadline: float  # on time.monotonic()'s clock
    run_id: str = ""
    flow_id: str = ""
    resumes: str | None = None  # the action this one repeats (its worker died; see store.py)
    user_id: str = ""           # who runs it: the run's $._context.user_id (an identity URN)

    def remaining(self) -> float:
        """Seconds left before this action times out."""
        return self.deadline - time.monotonic()


@dataclass
class ActionResult:
    """A provider's answer: ``status`` is ``SUCCEEDED`` or ``FAILED``."""

    status: str
    details: Any = field(default_factory=dict)
    display_status: str | None = None


class ActionProvider(Protocol):
    """Runs one action to completion. Raise :class:`InvalidRequest` for a body the real
    provider would reject (-> ``ActionUnableToRun``), :class:`ActionTimeout` when the deadline
    passes, :class:`ProviderError` for a request that fails (-> action ``FAILED``)."""

    def __call__(self, request: ActionRequest) -> ActionResult: ...


def normalize_action_url(url: str) -> str:
    """Key under which providers are registered: scheme and host lower-cased, no trailing '/'."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


class ActionRegistry:
    """Action providers by ``ActionUrl`` (trailing slashes and case of the host ignored)."""

    def __init__(self, providers: Mapping[str, ActionProvider] | None = None) -> None:
        self._providers: dict[str, ActionProvider] = {}
        for url, provider in (providers or {}).items():
            self.register(url, provider)

    def register(self, url: str, provider: ActionProvider) -> None:
        """Serve ``url`` with ``provider`` (replacing any earlier one)."""
        self._providers[normalize_action_url(url)] = provider

    def get(self, url: str) -> ActionProvider | None:
        """The provider for ``url``, or None."""
        return self._providers.get(normalize_action_url(url))

    def urls(self) -> list[str]:
        """Every registered (normalised) URL."""
        return sorted(self._providers)
