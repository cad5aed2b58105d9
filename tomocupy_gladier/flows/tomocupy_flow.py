"""The Gladier clients: reconstruct a scan, with or without moving it first."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from gladier import GladierBaseClient, generate_flow_definition
from gladier.storage.tokens import GladierSecretsConfig
from gladier.utils.name_generation import get_snake_case
from gladier_tools.publish import Publishv2

from tomocupy_gladier.schema import (
    PUBLISH_PROPERTIES,
    RECON_PROPERTIES,
    TRANSFER_PROPERTIES,
    flow_input_schema,
)
from tomocupy_gladier.tools.tomocupy_recon import DEFAULT_WAIT_TIME, TomocupyRecon
from tomocupy_gladier.tools.transfer import ScanTransfer

RECON_STATE = "TomocupyRecon"
RECON_REQUIRED = ("recon", "tomocupy", "compute_endpoint", "tomocupy_recon_function_id",
                  "tomocupy_endpoint_config")
TRANSFER_REQUIRED = ("source", "destination")
PUBLISH_REQUIRED = ("publishv2", "publishv2_gather_metadata_function_id")


class TomocupyClient(GladierBaseClient):
    """Behaviour shared by the tomocupy flows.

    ``recon_wait_time`` (seconds) becomes the ``WaitTime`` of the reconstruction state; the
    rest of the definition is exactly what Gladier generates from ``gladier_tools``.
    ``storage_path`` keeps Gladier's record of flow and function ids in a file of the
    caller's choice (the local backend keeps its own; default ``~/.gladier/<client>.cfg``).
    """

    recon_wait_time: int = DEFAULT_WAIT_TIME
    schema_parts: tuple[dict[str, Any], ...] = ()

    def __init__(self, *args: Any, recon_wait_time: int | None = None,
                 storage_path: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        if recon_wait_time is not None:
            self.recon_wait_time = int(recon_wait_time)
        self._storage_path = Path(storage_path) if storage_path else None
        super().__init__(*args, **kwargs)

    def _determine_storage(self) -> GladierSecretsConfig:
        if self._storage_path is None:
            return super()._determine_storage()
        self._storage_path.parent.mkdir(parents=True, exist_ok=True)
        client_id = os.getenv("GLADIER_CLIENT_ID") or self.client_id
        return GladierSecretsConfig(self._storage_path, get_snake_case(self.__class__.__name__),
                                    tokens_section=f"tokens_{client_id}")

    def get_flow_definition(self) -> dict:
        definition = copy.deepcopy(super().get_flow_definition())
        if RECON_STATE in definition["States"]:
            definition["States"][RECON_STATE]["WaitTime"] = self.recon_wait_time
        return definition


@generate_flow_definition
class TomocupyFlow(TomocupyClient):
    """Copy a scan from the beamline to the facility, reconstruct it with tomocupy, publish the result."""

    gladier_tools = [ScanTransfer, TomocupyRecon, Publishv2]
    schema_parts = (TRANSFER_PROPERTIES, RECON_PROPERTIES, PUBLISH_PROPERTIES)
    flow_schema = flow_input_schema(
        *schema_parts,
        required=TRANSFER_REQUIRED + RECON_REQUIRED + PUBLISH_REQUIRED,
        title="tomocupy: transfer, reconstruct, publish",
        description="Copies a scan to the computing facility, reconstructs it with tomocupy on a GPU "
        "node and publishes the reconstruction with its metadata.",
    )


@generate_flow_definition
class TomocupyReconFlow(TomocupyClient):
    """Reconstruct a scan already at the facility with tomocupy, then publish (or only catalogue) it."""

    gladier_tools = [TomocupyRecon, Publishv2]
    schema_parts = (RECON_PROPERTIES, PUBLISH_PROPERTIES)
    flow_schema = flow_input_schema(
        *schema_parts,
        required=RECON_REQUIRED + PUBLISH_REQUIRED,
        title="tomocupy: reconstruct, publish",
        description="Reconstructs a scan that is already at the computing facility and publishes the result.",
    )


FLOWS = {"tomocupy": TomocupyFlow, "recon": TomocupyReconFlow}
