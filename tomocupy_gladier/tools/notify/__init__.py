"""The email when a run ends or waits: tool.py (the states added to every flow, the waiting
email's tool), schema.py (its input), flow_input.py (its block and the sending account). The
local stand-in for Send Notification Email is local/providers/notify.py; the account is read by
smtp_account.py and kept private by redaction.py, which the local backend shares."""

from tomocupy_gladier.tools.notify.schema import NOTIFY_PROPERTIES, NOTIFY_REQUIRED
from tomocupy_gladier.tools.notify.tool import NotifyWaiting
from tomocupy_gladier.tools.step import Step

# every TomocupyClient definition ends with the notification (tool.add_notifications)
STEP = Step("notify", (NotifyWaiting,), NOTIFY_PROPERTIES, NOTIFY_REQUIRED, in_every_flow=True)
