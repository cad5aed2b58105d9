"""The shape of the flow input, as :mod:`tomocupy_gladier.planning.flow_input` builds it: ``{"input": {...}}``
with one block per step, each typed in its step's ``tools/<step>/flow_input.py``.

These are the sections that ``flows/tomocupy.schema.json`` describes (``tests/test_flow_input.py``
keeps the two in step). They are ``TypedDict``: at run time the blocks stay plain dicts (JSON for
the flow), the names and types are for readers and type checkers. Function ids
(``<function>_function_id``) are not here: Gladier adds them.
"""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from typing import Any, NotRequired, TypedDict

from tomocupy_gladier.experiment.schema import CollectionPath
from tomocupy_gladier.tools.notify.flow_input import NotifyBlock
from tomocupy_gladier.tools.previews.flow_input import PreviewsBlock
from tomocupy_gladier.tools.publish.flow_input import Publishv2Block
from tomocupy_gladier.tools.recon.flow_input import EndpointConfig, TomocupyBlock
from tomocupy_gladier.tools.return_data.flow_input import ReturnDataBlock
from tomocupy_gladier.tools.transfer.flow_input import TransferInput

__all__ = ["CollectionPath", "EndpointConfig", "FlowInput", "FlowInputData", "NotifyBlock", "PreviewsBlock",
           "Publishv2Block", "ReturnDataBlock", "TomocupyBlock", "TransferInput"]


class FlowInputData(TransferInput):
    """The value of ``input``. ``source``, ``destination`` and the ``transfer_*`` keys
    (:class:`TransferInput`) are there only when the scan is transferred first
    (``TomocupyFlow``)."""

    recon: dict[str, Any]  # tomocupy's options by their command-line names
    tomocupy: TomocupyBlock
    compute_endpoint: str
    tomocupy_endpoint_config: EndpointConfig
    previews: PreviewsBlock
    publishv2: Publishv2Block
    return_data: ReturnDataBlock
    tomocupy_gladier_version: str  # the client's: the compute endpoint's must be the same
    notify: NotifyBlock


class FlowInput(TypedDict):
    """The flow input: ``{"input": {...}}``, and the notification's sending account when
    ``notify`` is on: ``credential_value`` of Send Notification Email's SMTP credential
    (``hostname``, ``port``; on Globus ``username`` and ``password`` too; ``{}`` locally
    without ``smtp``: the mailbox file). Its name starts with ``_private``, so Flows leaves it
    out of the run's state wherever a run is shown (the Flows docs' "Protecting Secrets")."""

    input: FlowInputData
    _private_email_credentials: NotRequired[dict[str, Any]]
