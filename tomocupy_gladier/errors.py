"""Errors a user can fix: shown as one clear message, never as a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user gave us (config, scan, parameters); the message says which."""


class ConfigError(UserError):
    """The experiment configuration file is missing, malformed or inconsistent."""


class FlowInputError(UserError):
    """The flow input does not satisfy the flow's input schema."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid flow input:\n" + "\n".join(f"  - {p}" for p in problems))
