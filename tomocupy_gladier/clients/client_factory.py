"""The flow's Gladier client, built for a backend: the real Globus services, or the local one.

Both backends get the same Gladier client class, so they run the same generated
definition and the same input; only the managers plugged into it differ. This module maps a
backend (``backends.py``: plain values) to its client (:data:`CLIENTS`) and to the identity its
runs start as (:data:`IDENTITIES`).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Union

from gladier.managers.login_manager import CallbackLoginManager

from tomocupy_gladier.backends import GLOBUS, LOCAL, Backend, BackendChoice, choose
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.experiment.limits import wait_times
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.clients.gladier_local import local_client
from tomocupy_gladier.flows import FLOWS, data_access_collections
from tomocupy_gladier.flows.tomocupy_flow import TomocupyClient
from tomocupy_gladier.globus import auth  # read at call time: tests replace its login
from tomocupy_gladier.flows.start_form import use_deployed_schema
from tomocupy_gladier.globus.flows_manager import GlobusFlowsManager
from tomocupy_gladier.globus.gladier_storage import client_with_storage
from tomocupy_gladier.local.backend import LocalBackend, keep_resuming, run_identity
from tomocupy_gladier.experiment.compute_endpoints import endpoint_of


FlowRef = Union[str, Any]  # a name from FLOWS, or a (decorated) Gladier client class


def flow_class(name: FlowRef) -> Any:
    """The client class for a flow name; a class is returned as it is (extended flows)."""
    if not isinstance(name, str):
        return name
    try:
        return FLOWS[name]
    except KeyError:
        raise UserError(f"unknown flow {name!r}; choose one of {', '.join(FLOWS)}") from None


def offline_client(name: FlowRef, **kwargs: Any) -> TomocupyClient:
    """A client for reading the definition and schema: no login, no network, no files kept."""
    storage = Path(tempfile.mkdtemp(prefix="tomocupy-gladier-")) / "offline.cfg"
    return client_with_storage(flow_class(name), storage, login_manager=CallbackLoginManager({}), **kwargs)


def globus_client(name: FlowRef, config: ExperimentConfig | None = None, *,
                  login_manager: Any = None, compute_manager: Any = None,
                  storage_file: str | os.PathLike[str] | None = None) -> TomocupyClient:
    """A client on the Globus services, logged in as the user or as a confidential client.

    ``login_manager``, ``compute_manager`` and ``storage_file`` (Gladier's id file) replace the
    defaults; ``deploy --dry-run`` uses them to go through the real deploy without sending.
    """
    globus = dict(config.globus) if config else {}
    flow_kwargs = {}
    if globus.get("subscription_id"):
        # gladier 0.11 does not send its own subscription_id when it creates a flow
        flow_kwargs["subscription_id"] = globus["subscription_id"]
    consents = data_access_collections(flow_class(name), config) if config is not None else []
    flows_manager = GlobusFlowsManager(subscription_id=globus.get("subscription_id"),
                                       globus_group=globus.get("group"), flow_kwargs=flow_kwargs,
                                       data_access_collections=consents)
    kwargs: dict[str, Any] = {**wait_times(config)} if config is not None else {}
    kwargs.update(login_manager=login_manager or auth.login_manager_for(globus.get("client_id")),
                  flows_manager=flows_manager)
    if compute_manager is not None:
        kwargs["compute_manager"] = compute_manager
    if storage_file is not None:
        client = client_with_storage(flow_class(name), storage_file, **kwargs)
    else:
        client = flow_class(name)(**kwargs)
    if config is not None:
        # the flow is deployed per experiment: its start form has the experiment's settings as
        # defaults (`tomocupy-gladier deploy`); runs keep that schema rather than the generic one
        use_deployed_schema(client, config)
    return client


def local_endpoint_env(config: ExperimentConfig) -> dict[str, str]:
    """The environment of the local compute endpoint: it, not the flow input, chooses the program.

    ``[compute] executable`` becomes ``TOMOCUPY_GLADIER_PROGRAM`` (as an endpoint's environment
    would set it on Polaris) and ``[compute] env`` is added; programs installed beside this
    Python (``tomocupy-cpu``) are found first.
    """
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
    program = [config.executable] if isinstance(config.executable, str) else list(config.executable)
    return {**dict(config.env), "PATH": path, "TOMOCUPY_GLADIER_PROGRAM": json.dumps(program)}


def local_backend(config: ExperimentConfig) -> Any:
    """The local backend of an experiment: its ``[local]`` state folder, collection folders,
    endpoint environment (:func:`local_endpoint_env`), the collections that need a consent and
    its compute endpoint as Compute will treat it (who may use it, what configuration it takes)."""
    endpoint = endpoint_of(config)  # ALCF's (its documented options) or the facility's (our template's)
    return LocalBackend(config.local_state_dir, config.local_collections, env=local_endpoint_env(config),
                        serve_url=config.local_serve_url, consent_required=list(config.local_consent_required),
                        endpoints={endpoint.id: endpoint.as_json()})


def resume_local_runs(config: ExperimentConfig, backend: str | None = None) -> None:
    """On the local backend, resume the runs whose worker died, now and periodically, while
    this (long-lived) process lives: what ``serve``, ``watch`` and ``campaign run`` do."""
    if not choose(config, backend).is_local:
        return
    local_backend(config).close()  # the experiment's collections saved for the workers
    keep_resuming(config.local_state_dir)


def local_experiment_client(name: FlowRef, config: ExperimentConfig, *,
                            background: bool = False) -> TomocupyClient:
    """A client on the local backend described by the experiment's ``[local]`` section.

    ``background``: runs go on in a worker process and ``run_flow`` returns at once.
    """
    return local_client(flow_class(name), local_backend(config), background=background,
                        **wait_times(config))


def make_client(name: FlowRef, config: ExperimentConfig, backend: BackendChoice = None, *,
                background: bool = False) -> TomocupyClient:
    """The client for ``config``'s backend (or ``backend`` when given: a name or the backend).

    ``background`` applies to the local backend (Globus runs always go on remotely).
    """
    return CLIENTS[choose(config, backend)](name, config, background=background)


def _globus_client(name: FlowRef, config: ExperimentConfig, *, background: bool = False) -> TomocupyClient:
    return globus_client(name, config)  # Globus runs always go on remotely


#: each backend's client: the local backend's runs in this machine's run store, or Globus Flows
CLIENTS: dict[Backend, Callable[..., TomocupyClient]] = {LOCAL: local_experiment_client, GLOBUS: _globus_client}


def _local_identity(config: ExperimentConfig) -> str | None:
    # a local run's user is the local login (the local backend's $._context.user_id)
    return run_identity(config.local_state_dir)


def _globus_identity(config: ExperimentConfig) -> str | None:
    # the stored login's identity (globus-sdk keeps it with the tokens): no request
    return auth.stored_identity(config.globus.get("client_id"))


#: who each backend's runs start as, when it is known without the network (None otherwise):
#: compute steps run as that identity
IDENTITIES: dict[Backend, Callable[[ExperimentConfig], str | None]] = {
    LOCAL: _local_identity, GLOBUS: _globus_identity}


def identity(config: ExperimentConfig, backend: BackendChoice = None) -> str | None:
    """The Globus identity (id or URN) ``config``'s runs on ``backend`` start as (:data:`IDENTITIES`)."""
    return IDENTITIES[choose(config, backend)](config)
