"""The backend a run goes to, chosen once: the real Globus services, or the local ones.

An experiment file names its backend (``[experiment] backend``, else ``globus`` when it has a
``[globus]`` section or confidential-client credentials, else ``local``); ``--backend``
overrides it. :func:`choose` turns that name into a :class:`Backend`, and the rest of the
package asks that object what differs between the two, never the name. This module is the
only place that compares backend names (``tests/test_backend_choice.py`` holds it to that).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Union

from tomocupy_gladier.errors import UserError

if TYPE_CHECKING:
    from tomocupy_gladier.experiment.config import ExperimentConfig
    from tomocupy_gladier.flows.tomocupy_flow import TomocupyClient

BACKEND_NAMES = ("local", "globus")
"""The backends an experiment file or ``--backend`` may name."""

GLOBUS_RUN_PAGE = "https://app.globus.org/runs/"  # + run id: a run's page in the Globus web app

CPU_ENGINE_PROGRAMS = ("tomocupy-cpu", "tomocupy_gladier.engine")
"""How ``[compute] executable`` names this package's CPU engine: its console script
(pyproject's ``[project.scripts]``) or its module (``python -m tomocupy_gladier.engine``)."""


class Engine(Protocol):
    """The program that reconstructs, as far as the client can tell what it can do."""

    @property
    def name(self) -> str:
        """As messages name it."""

    def unsupported(self, recon: Mapping[str, Any]) -> str | None:
        """Why the engine cannot run ``recon`` (tomocupy's names), or None when it can."""

    def lacks(self, command: str) -> Mapping[str, frozenset[str] | None]:
        """What tomocupy offers for ``command`` and this engine lacks: option -> the values it
        lacks, or None for the whole option (forms leave them out, ``--help`` marks them)."""


@dataclass(frozen=True)
class Tomocupy:
    """tomocupy itself (or a program the endpoint chooses): every option is its own."""

    name: str = "tomocupy"

    def unsupported(self, recon: Mapping[str, Any]) -> str | None:
        return None

    def lacks(self, command: str) -> Mapping[str, frozenset[str] | None]:
        return {}


@dataclass(frozen=True)
class CpuEngine:
    """This package's CPU engine (``tomocupy-cpu``): a subset of tomocupy's options."""

    name: str = "tomocupy-cpu"

    def unsupported(self, recon: Mapping[str, Any]) -> str | None:
        from tomocupy_gladier.engine.options import unsupported

        params = {k: v for k, v in recon.items() if k not in ("command", "out-path-name")}
        return unsupported(str(recon.get("command", "recon")), params)

    def lacks(self, command: str) -> Mapping[str, frozenset[str] | None]:
        from tomocupy_gladier.engine.options import lacking

        return lacking(command)


def configured_engine(executable: str | tuple[str, ...] | list[str]) -> Engine:
    """The engine ``[compute] executable`` names: the CPU engine when a word of it is one of
    :data:`CPU_ENGINE_PROGRAMS`, tomocupy otherwise."""
    words = [executable] if isinstance(executable, str) else list(executable)
    if any(Path(w).name == CPU_ENGINE_PROGRAMS[0] or w == CPU_ENGINE_PROGRAMS[1] for w in words):
        return CpuEngine()
    return Tomocupy()


class Backend(Protocol):
    """What differs between running on the Globus services and running on this machine."""

    @property
    def name(self) -> str:
        """As the experiment file and ``--backend`` spell it; shown to users and kept in ledgers."""

    @property
    def is_local(self) -> bool:
        """Its services are on this machine: collections are folders here (scans are checked
        before a run, the reconstruction log is tailed, results are found), runs are in the
        local run store, the search index is a file, schedules are cron lines. False: Globus."""

    @property
    def follow_delay(self) -> float:
        """Seconds between two polls of a run that is followed."""

    def client(self, flow: Any, config: ExperimentConfig, *, background: bool = False) -> TomocupyClient:
        """The Gladier client of ``flow`` (a name or a client class) on this backend;
        ``background``: local runs go on in a worker process (Globus runs always go on remotely)."""

    def run_page(self, config: ExperimentConfig) -> str:
        """A run's page without the run id (the notification links it, the flow appends the id)."""

    def choice_page(self, config: ExperimentConfig) -> dict[str, str]:
        """Where an interactive run's centre is chosen: ``choose_page`` + run id + ``choose_suffix``."""

    def email_credentials(self, smtp: tuple[str, int] | None) -> dict[str, Any]:
        """``credential_value`` of the notification's SMTP credential (``[notify] smtp``)."""

    def engine(self, config: ExperimentConfig) -> Engine:
        """The engine that reconstructs this experiment's scans, as the client knows it."""

    def collection_folder(self, config: ExperimentConfig, collection: str) -> Path | None:
        """The folder on this machine that is ``collection``, when there is one."""

    def identity(self, config: ExperimentConfig) -> str | None:
        """The Globus identity (id or URN) runs are started as, when it is known without the
        network; None otherwise. Compute steps run as that identity."""


@dataclass(frozen=True)
class Globus:
    """Globus Flows, Transfer, Compute, Search and Timers, as deployed for the experiment."""

    name: str = "globus"
    is_local: bool = False
    follow_delay: float = 5.0

    def client(self, flow: Any, config: ExperimentConfig, *, background: bool = False) -> TomocupyClient:
        from tomocupy_gladier.clients.client_factory import globus_client

        return globus_client(flow, config)

    def run_page(self, config: ExperimentConfig) -> str:
        return GLOBUS_RUN_PAGE

    def choice_page(self, config: ExperimentConfig) -> dict[str, str]:
        # the Wait For User Selection provider's landing page
        from tomocupy_gladier.compute.choice import LANDING_SUFFIX
        from tomocupy_gladier.action_urls import WEBOPTION_LANDING_URL

        return {"choose_page": WEBOPTION_LANDING_URL.format(url_suffix=""), "choose_suffix": LANDING_SUFFIX}

    def email_credentials(self, smtp: tuple[str, int] | None) -> dict[str, Any]:
        # Globus's Send Notification Email sends through the experiment's SMTP server with its
        # account (hostname, port, username, password), read from the environment, never a file
        from tomocupy_gladier.experiment.smtp_account import account_from_environment, missing_account_variables

        if smtp is None:
            raise UserError("[notify] on the globus backend needs smtp = \"host:port\": Globus's Send "
                            "Notification Email sends through your SMTP server")
        missing = missing_account_variables()
        if missing:
            raise UserError(f"[notify] on the globus backend needs the SMTP account in {' and '.join(missing)}")
        return {"hostname": smtp[0], "port": smtp[1], **account_from_environment()}

    def engine(self, config: ExperimentConfig) -> Engine:
        # the endpoint's environment chooses the program (TOMOCUPY_GLADIER_PROGRAM), not the file
        return Tomocupy()

    def collection_folder(self, config: ExperimentConfig, collection: str) -> Path | None:
        return None

    def identity(self, config: ExperimentConfig) -> str | None:
        # the stored login's identity (globus-sdk keeps it with the tokens): no request
        from tomocupy_gladier.globus.auth import stored_identity

        return stored_identity(config.globus.get("client_id"))


@dataclass(frozen=True)
class Local:
    """The local services (``tomocupy_gladier.local``) of the experiment's ``[local]`` section."""

    name: str = "local"
    is_local: bool = True
    follow_delay: float = 0.5

    def client(self, flow: Any, config: ExperimentConfig, *, background: bool = False) -> TomocupyClient:
        from tomocupy_gladier.clients.client_factory import local_experiment_client

        return local_experiment_client(flow, config, background=background)

    def run_page(self, config: ExperimentConfig) -> str:
        # serve's page of a run, where the local Wait For User Selection provider also lands
        from tomocupy_gladier.local.providers.weboption import landing_page_url

        return landing_page_url(config.local_serve_url, "")

    def choice_page(self, config: ExperimentConfig) -> dict[str, str]:
        return {"choose_page": self.run_page(config), "choose_suffix": ""}

    def email_credentials(self, smtp: tuple[str, int] | None) -> dict[str, Any]:
        # only the server: the local provider reads the account from its own environment, so the
        # run store never holds it; without smtp, {} and the provider fills a mailbox file
        return {} if smtp is None else {"hostname": smtp[0], "port": smtp[1]}

    def engine(self, config: ExperimentConfig) -> Engine:
        return configured_engine(config.executable)

    def collection_folder(self, config: ExperimentConfig, collection: str) -> Path | None:
        folder = config.local_collections.get(collection)
        return Path(folder) if folder is not None else None

    def identity(self, config: ExperimentConfig) -> str | None:
        # a local run's user is the local login (the local backend's $._context.user_id)
        from tomocupy_gladier.local.backend import run_identity

        return run_identity(config.local_state_dir)


GLOBUS = Globus()
LOCAL = Local()
_BY_NAME: dict[str, Backend] = {backend.name: backend for backend in (LOCAL, GLOBUS)}

BackendChoice = Union[str, Backend, None]
"""A backend as callers pass it: its name (``--backend``), the object, or None (the file's)."""


def backend_named(name: str) -> Backend:
    """The backend called ``name``; :class:`UserError` for any other name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UserError(f"unknown backend {name!r}; choose 'local' or 'globus'") from None


def choose(config: ExperimentConfig, override: BackendChoice = None) -> Backend:
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
