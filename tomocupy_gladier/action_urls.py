"""Where Globus's hosted action providers answer: the ``ActionUrl`` of the flows' Action states.

Plain constants, the one place these URLs are written: the tools put them in the flow
definitions and the local backend (:mod:`tomocupy_gladier.local`) serves its providers at the
same URLs. So this module imports nothing: the local backend reads it without loading Gladier.
"""

# Globus Transfer's action provider (gladier-tools' Transfer states use it)
TRANSFER_URL = "https://transfer.actions.globus.org/transfer/"
# Globus Search's ingest action provider (gladier-tools' Publishv2 ingests through it)
SEARCH_INGEST_URL = "https://actions.globus.org/search/ingest"
# Globus Compute's action provider: the v2 request shape (``tasks`` of ``endpoint``,
# ``function``, ``payload``) at the root, v3 (``endpoint_id``, ``tasks``) under /v3
COMPUTE_V2_URL = "https://compute.actions.globus.org"
COMPUTE_V3_URL = f"{COMPUTE_V2_URL}/v3"
# Send Notification Email (Flows docs: Hosted Action Providers)
NOTIFY_URL = "https://actions.globus.org/notification/notify"
# Wait For User Selection (Flows docs: Hosted Action Providers)
WAIT_FOR_OPTION_URL = "https://actions.globus.org/weboption/wait_for_option"
# where that provider answers an option's URL suffix, and hosts a run's landing page
WEBOPTION_OPTION_URL = "https://actions.globus.org/weboption/option/{url_suffix}"
WEBOPTION_LANDING_URL = "https://actions.globus.org/weboption/landing_page/{url_suffix}"

# Globus Transfer's other action providers (Transfer docs: Transfer Action Providers)
TRANSFER_DELETE_URL = "https://transfer.actions.globus.org/delete"
TRANSFER_LS_URL = "https://transfer.actions.globus.org/ls"
TRANSFER_STAT_URL = "https://transfer.actions.globus.org/stat"
# The providers these replaced, shut down on 2025-01-22 (Transfer docs: Migrating Transfer Action
# Providers). The local backend serves them, in their own request shapes, so that the Flows
# docs' examples written for them run as printed; a flow for Globus must use the ones above.
RETIRED_TRANSFER_URL = "https://actions.globus.org/transfer/transfer"
RETIRED_DELETE_URL = "https://actions.globus.org/transfer/delete"
RETIRED_LS_URL = "https://actions.globus.org/transfer/ls"
