"""The backend a run goes to, chosen once: the real Globus services, or the local ones.

An experiment file names its backend (``[experiment] backend``, else ``globus`` when it has a
``[globus]`` section or confidential-client credentials, else ``local``); ``--backend``
overrides it. :func:`choose` turns that name into a :class:`Backend`: plain values that say
what the backend is. The rest of the package asks those values, never the name; where the
behaviour differs, the mapping from a backend lives with the behaviour, above this leaf: its
Gladier client and the identity runs start as (``clients/client_factory.py``), the engine the
client knows (``experiment/engines.py``), the run and choice pages and the email account the
notification carries (the steps that need them, in their folders). This module imports nothing of the package but its
errors, and is the only one that compares backend names (``tests/test_backend_choice.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Union

from tomocupy_gladier.errors import UserError

BACKEND_NAMES = ("local", "globus")
"""The backends an experiment file or ``--backend`` may name."""

GLOBUS_RUN_PAGE = "https://app.globus.org/runs/"  # + run id: a run's page in the Globus web app


@dataclass(frozen=True)
class Backend:
    """What a backend is.

    ``name``: as the experiment file and ``--backend`` spell it; shown to users and kept in
    ledgers. ``is_local``: its services are on this machine: collections are folders here (scans
    are checked before a run, the reconstruction log is tailed, results are found), runs are in
    the local run store, the search index is a file, schedules are cron lines; False: Globus.
    ``follow_delay``: seconds between two polls of a run that is followed. ``knows_program``:
    the client knows the program that reconstructs (``[compute] executable`` is what the local
    endpoint runs); on Globus the endpoint's environment chooses it. ``sends_email_account``: a
    run's notification carries the SMTP account (Globus's Send Notification Email sends with
    it); locally only the server, the local provider reads the account from its own environment.
    """

    name: str
    is_local: bool
    follow_delay: float
    knows_program: bool
    sends_email_account: bool


GLOBUS = Backend("globus", is_local=False, follow_delay=5.0, knows_program=False, sends_email_account=True)
LOCAL = Backend("local", is_local=True, follow_delay=0.5, knows_program=True, sends_email_account=False)
_BY_NAME: dict[str, Backend] = {backend.name: backend for backend in (LOCAL, GLOBUS)}

BackendChoice = Union[str, Backend, None]
"""A backend as callers pass it: its name (``--backend``), the object, or None (the file's)."""


class NamesBackend(Protocol):
    """An experiment (``ExperimentConfig``) as far as the choice reads it: its backend's name."""

    @property
    def backend(self) -> str: ...


def backend_named(name: str) -> Backend:
    """The backend called ``name``; :class:`UserError` for any other name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UserError(f"unknown backend {name!r}; choose 'local' or 'globus'") from None


def choose(config: NamesBackend, override: BackendChoice = None) -> Backend:
    """The backend of a run: ``override`` (``--backend``, a campaign's) when given, else the
    experiment file's (:func:`configured_name`)."""
    if override is None or isinstance(override, str):
        return backend_named(override or config.backend)
    return override


def configured_name(raw: Mapping[str, Any]) -> str:
    """The backend an experiment file (parsed, validated) chooses: ``[experiment] backend``,
    else ``globus`` when it has a ``[globus]`` section or confidential-client credentials
    (``GLADIER_CLIENT_ID`` and ``GLADIER_CLIENT_SECRET``), else ``local``."""
    explicit = raw.get("experiment", {}).get("backend")
    if explicit:
        return str(explicit)
    has_credentials = bool(os.environ.get("GLADIER_CLIENT_ID") and os.environ.get("GLADIER_CLIENT_SECRET"))
    return GLOBUS.name if ("globus" in raw or has_credentials) else LOCAL.name
