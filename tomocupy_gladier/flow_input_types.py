"""The shape of the flow input, block by block, as :mod:`tomocupy_gladier.flow_input` builds it.

These are the sections of ``{"input": {...}}`` that ``flows/tomocupy.schema.json`` describes
(``tests/test_flow_input.py`` keeps the two in step). They are ``TypedDict``: at run time
the blocks stay plain dicts (JSON for the flow), the names and types are for readers and type
checkers. Function ids (``<function>_function_id``) are not here: Gladier adds them.
"""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from typing import Any, Literal, NotRequired, TypedDict


class CollectionPath(TypedDict):
    """A path on a Globus collection."""

    id: str
    path: str


class TomocupyBlock(TypedDict):
    """``tomocupy``: the scan and where this run writes (POSIX paths on the compute nodes)."""

    file_name: str
    output: str
    logs: str
    timeout: NotRequired[float | None]  # seconds before tomocupy is stopped


class EndpointConfig(TypedDict, total=False):
    """``tomocupy_endpoint_config``: the batch job of the compute endpoint (PBS)."""

    queue: str
    account: str
    walltime: str  # HH:MM:SS
    nodes: int


class PreviewsBlock(TypedDict, total=False):
    """``previews``: options of the previews step (every one has a default)."""

    folder: str
    percentiles: list[float]
    max_size: int
    max_sections: int
    pixel_size_um: float
    tile_size: int
    montage_max: int


class Publishv2Block(TypedDict):
    """``publishv2``: gladier-tools' Publishv2 input. Every ``enable_*`` flag is explicit:
    Publishv2 silently skips a step whose flag is absent."""

    dataset: str
    destination: str
    source_collection: str
    source_collection_basepath: str | None
    destination_collection: str
    index: str
    visible_to: list[str]
    checksum_algorithms: list[str]
    metadata: dict[str, Any]
    enable_transfer: bool
    enable_publish: bool
    enable_meta_dc: bool
    enable_meta_files: bool


class ReturnDataBlock(TypedDict):
    """``return_data``: the optional copy back after publication (only ``enable`` when off)."""

    enable: bool
    what: NotRequired[Literal["previews", "reconstruction"]]
    destination: NotRequired[CollectionPath]  # a folder: the run's results land in a subfolder


class NotifyBlock(TypedDict):
    """``notify``: the email when a run ends (only ``enable`` when off). The sending account
    is not here: it travels at the top of the flow input, in ``_private_email_credentials``
    (:data:`~tomocupy_gladier.redaction.EMAIL_CREDENTIALS_KEY`)."""

    enable: bool
    destination: NotRequired[str]  # the addresses, comma-separated
    sender: NotRequired[str]
    subject: NotRequired[str]
    scan: NotRequired[str]
    output: NotRequired[str]
    record: NotRequired[str]  # where the record was published, or why it was not
    run_page: NotRequired[str]
    choose_page: NotRequired[str]  # interactive runs: where the centre is chosen (+ run id + suffix)
    choose_suffix: NotRequired[str]

class FlowInputData(TypedDict):
    """The value of ``input``. ``source``, ``destination`` and the ``transfer_*`` keys are
    there only when the scan is transferred first (``TomocupyFlow``)."""

    source: NotRequired[CollectionPath]
    destination: NotRequired[CollectionPath]
    transfer_recursive: NotRequired[bool]
    transfer_sync_level: NotRequired[int]
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
