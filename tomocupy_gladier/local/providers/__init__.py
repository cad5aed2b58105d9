"""Local action providers: Transfer (and its Delete, ls and stat providers, in :mod:`.delete`
and :mod:`.listing`), Compute (v2, v3), Search ingest (and Send Notification Email, in
:mod:`.notify`; Wait For User Selection, in :mod:`.weboption`)."""

from tomocupy_gladier.action_urls import COMPUTE_V2_URL, COMPUTE_V3_URL

from .compute import ComputeProvider
from .search import SEARCH_INGEST_URL, SearchIndex, SearchIngestProvider, summarize
from .transfer import TRANSFER_URL, TransferFault, TransferProvider

__all__ = [
    "COMPUTE_V2_URL", "COMPUTE_V3_URL", "ComputeProvider", "SEARCH_INGEST_URL", "SearchIndex",
    "SearchIngestProvider", "summarize", "TRANSFER_URL", "TransferFault", "TransferProvider",
]
