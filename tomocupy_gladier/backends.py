"""Building a flow client on a backend: the real Globus services, or the local one.

Both backends get the same Gladier client class, so they run the same generated
definition and the same input; only the managers plugged into it differ.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Union

from gladier.managers.login_manager import CallbackLoginManager

from tomocupy_gladier.config import ExperimentConfig
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.flows import FLOWS
from tomocupy_gladier.flows.tomocupy_flow import TomocupyClient


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
    return flow_class(name)(login_manager=CallbackLoginManager({}), storage_path=storage, **kwargs)


def globus_client(name: FlowRef, config: ExperimentConfig | None = None) -> TomocupyClient:
    """A client on the Globus services, logged in as the user or as a confidential client."""
    from tomocupy_gladier.auth import login_manager_for
    from tomocupy_gladier.globus_flows import GlobusFlowsManager

    globus = dict(config.globus) if config else {}
    flow_kwargs = {}
    if globus.get("subscription_id"):
        # gladier 0.11 does not send its own subscription_id when it creates a flow
        flow_kwargs["subscription_id"] = globus["subscription_id"]
    flows_manager = GlobusFlowsManager(subscription_id=globus.get("subscription_id"),
                                       globus_group=globus.get("group"), flow_kwargs=flow_kwargs)
    kwargs: dict[str, Any] = {}
    if config is not None:
        kwargs["recon_wait_time"] = config.wait_time
    return flow_class(name)(login_manager=login_manager_for(globus.get("client_id")),
                            flows_manager=flows_manager, **kwargs)


def local_client(name: FlowRef, config: ExperimentConfig) -> TomocupyClient:
    """A client on the local backend described by the experiment's ``[local]`` section."""
    from tomocupy_gladier.local.backend import LocalBackend

    backend = LocalBackend(config.local_state_dir, config.local_collections)
    return backend.client(flow_class(name), recon_wait_time=config.wait_time)


def make_client(name: FlowRef, config: ExperimentConfig, backend: str | None = None) -> TomocupyClient:
    """The client for ``config``'s backend (or ``backend`` when given)."""
    chosen = backend or config.backend
    if chosen == "local":
        return local_client(name, config)
    if chosen == "globus":
        return globus_client(name, config)
    raise UserError(f"unknown backend {chosen!r}; choose 'local' or 'globus'")
