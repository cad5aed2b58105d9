"""Shared helpers for the local backend tests."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from tomocupy_gladier.local.errors import InvalidRequest
from tomocupy_gladier.local.actions import ActionRegistry, ActionRequest, ActionResult

ECHO_URL = "https://echo.example.org/run"
FAIL_URL = "https://fail.example.org/run"
PICKY_URL = "https://picky.example.org/run"


class Recorder:
    """An action provider that records each request and answers with ``answer(body)``."""

    def __init__(self, answer: Callable[[Any], ActionResult] | None = None) -> None:
        self.requests: list[ActionRequest] = []
        self.answer = answer or (lambda body: ActionResult("SUCCEEDED", {"echo": body}))

    def __call__(self, request: ActionRequest) -> ActionResult:
        self.requests.append(request)
        return self.answer(request.body)


def _picky(body: Any) -> ActionResult:
    if not isinstance(body, dict) or "needed" not in body:
        raise InvalidRequest("'needed' is required")
    return ActionResult("SUCCEEDED", {"ok": True})


@pytest.fixture
def echo() -> Recorder:
    return Recorder()


@pytest.fixture
def providers(echo: Recorder) -> ActionRegistry:
    return ActionRegistry({
        ECHO_URL: echo,
        FAIL_URL: Recorder(lambda body: ActionResult("FAILED", {"reason": "it broke"})),
        PICKY_URL: Recorder(_picky),
    })
