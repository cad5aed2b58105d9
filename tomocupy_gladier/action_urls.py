"""Where Globus's hosted action providers answer: the ``ActionUrl`` of the flows' Action states.

Plain constants, the one place these URLs are written: the tools put them in the flow
definitions and the local backend (:mod:`tomocupy_gladier.local`) serves its providers at the
same URLs. So this module imports nothing: the local backend reads it without loading Gladier.
"""

# Globus Compute's action provider: the v2 request shape (``tasks`` of ``endpoint``,
# ``function``, ``payload``) at the root, v3 (``endpoint_id``, ``tasks``) under /v3
COMPUTE_V2_URL = "https://compute.actions.globus.org"
COMPUTE_V3_URL = f"{COMPUTE_V2_URL}/v3"
# Send Notification Email (Flows docs: Hosted Action Providers)
NOTIFY_URL = "https://actions.globus.org/notification/notify"
# Wait For User Selection (Flows docs: Hosted Action Providers)
WAIT_FOR_OPTION_URL = "https://actions.globus.org/weboption/wait_for_option"

# Globus Transfer's action providers (Transfer docs: Transfer Action Providers); the transfer
# provider's own URL is gladier-tools' (its Transfer tool)
TRANSFER_DELETE_URL = "https://transfer.actions.globus.org/delete"
TRANSFER_LS_URL = "https://transfer.actions.globus.org/ls"
TRANSFER_STAT_URL = "https://transfer.actions.globus.org/stat"
# The providers these replaced, shut down on 2025-01-22 (Transfer docs: Migrating Transfer Action
# Providers). The local backend serves them, in their own request shapes, so that the Flows
# docs' examples written for them run as printed; a flow for Globus must use the ones above.
RETIRED_TRANSFER_URL = "https://actions.globus.org/transfer/transfer"
RETIRED_DELETE_URL = "https://actions.globus.org/transfer/delete"
RETIRED_LS_URL = "https://actions.globus.org/transfer/ls"
