"""What ``serve`` shows for an experiment: its runs, campaigns and catalogue on its backend."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.web import data
from tomocupy_gladier.web.app import Sources
from tomocupy_gladier.web.start import Starter


def sources_for(config: Any) -> Sources:
    """Local backend: the run store, the ledgers and the index in the experiment's state folder.
    Globus backend: the flow's runs on Globus Flows and the Globus Search index."""
    from tomocupy_gladier.campaign.wiring import default_campaigns_dir

    campaigns = default_campaigns_dir(config)
    index = config.publish.index if config.publish else None
    if config.backend == "local":
        from tomocupy_gladier.local.store import RunStore

        store = RunStore(config.local_state_dir / "runs.db")
        catalogue = (data.Catalogue.local(config.local_state_dir, index, data.published_folders(config))
                     if config.publish else None)
        return Sources(data.LocalRuns(store), campaigns, catalogue, config.name,
                       starter=Starter(config, "local"))
    runs = _globus_runs(config)
    return Sources(runs, campaigns, _globus_catalogue(config, index), config.name,
                   starter=Starter(config, "globus", {"tomocupy": runs.flow_id}))


def _globus_runs(config: Any) -> data.GlobusRuns:
    from tomocupy_gladier.client_factory import globus_client
    from tomocupy_gladier.errors import UserError

    client = globus_client("tomocupy", config)
    flow_id = client.get_flow_id()
    if not flow_id:
        raise UserError("no TomocupyFlow deployed for this login yet: start a run first "
                        "(`tomocupy-gladier run ...`)")
    return data.GlobusRuns(client.flows_manager.flows_client, flow_id)


def _globus_catalogue(config: Any, index: str | None) -> data.Catalogue | None:
    if not index:
        return None
    from tomocupy_gladier.catalog import search_globus
    from tomocupy_gladier.cli.local_commands import _globus_search_client

    client = _globus_search_client(config)
    return data.Catalogue(lambda query, filters: search_globus(client, index, query, filters, limit=50))
