"""What ``serve`` shows for an experiment: its runs, campaigns and catalogue on its backend."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.backends import choose
from tomocupy_gladier.tools.publish.config import publish_config
from tomocupy_gladier.web import data
from tomocupy_gladier.web.app import Sources
from tomocupy_gladier.web.space import Retention
from tomocupy_gladier.web.start import Starter


def sources_for(config: Any) -> Sources:
    """Local backend: the run store, the ledgers and the index in the experiment's state folder.
    Globus backend: the flow's runs on Globus Flows and the Globus Search index."""
    from tomocupy_gladier.campaign.wiring import default_campaigns_dir

    campaigns = default_campaigns_dir(config)
    publish = publish_config(config)
    index = publish.index if publish else None
    backend = choose(config)
    if backend.is_local:
        from tomocupy_gladier.local.store import RunStore

        store = RunStore(config.local_state_dir / "runs.db")
        catalogue = (data.Catalogue.local(config.local_state_dir, index, data.published_folders(config))
                     if publish else None)
        return Sources(data.LocalRuns(store), campaigns, catalogue, config.name,
                       starter=Starter(config, backend), retention=Retention(config, local=True))
    runs, flow_ids = _globus_runs(config)
    return Sources(runs, campaigns, _globus_catalogue(config, index), config.name,
                   starter=Starter(config, backend, flow_ids), retention=Retention(config, local=False))


def _globus_runs(config: Any) -> tuple[data.GlobusRuns, dict[str, str]]:
    """The runs of every flow this login has deployed (ids from Gladier's storage, no network)."""
    from tomocupy_gladier.clients.client_factory import globus_client
    from tomocupy_gladier.errors import UserError
    from tomocupy_gladier.flows import FLOWS

    clients = {name: globus_client(name, config) for name in FLOWS}
    deployed = {name: client.get_flow_id() for name, client in clients.items()}
    flow_ids = {name: str(flow_id) for name, flow_id in deployed.items() if flow_id}
    if not flow_ids:
        raise UserError("no flow deployed for this login yet: `tomocupy-gladier deploy` or a "
                        "first `tomocupy-gladier run ...` deploys it")
    any_client = next(iter(clients.values()))
    return data.GlobusRuns(any_client.flows_manager.flows_client, list(flow_ids.values())), flow_ids


def _globus_catalogue(config: Any, index: str | None) -> data.Catalogue | None:
    if not index:
        return None
    from tomocupy_gladier.runs.catalog import globus_search_client, search_globus

    client = globus_search_client(config)
    return data.Catalogue(lambda query, filters: search_globus(client, index, query, filters, limit=50))
