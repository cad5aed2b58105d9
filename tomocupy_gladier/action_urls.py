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
