"""The notify step's contract (``STEP``), as the registry (``tools/registry.py``) lists it."""

from tomocupy_gladier.tools.notify.config import SECTION
from tomocupy_gladier.tools.notify.flow_input import NotifyInput, notify_block
from tomocupy_gladier.tools.notify.schema import NOTIFY_PROPERTIES, NOTIFY_REQUIRED
from tomocupy_gladier.tools.notify.tool import add_notifications, caught_failure, unsent_warnings
from tomocupy_gladier.tools.step import Step

# every flow ends with the notification (its pass wraps every state the others made: it is
# registered last); a campaign's runs send none each, and a timer's body cannot carry the account
STEP = Step("notify", (), NOTIFY_PROPERTIES, NOTIFY_REQUIRED, in_every_flow=True, form_first=("notify",),
            section=SECTION, flow_input=notify_block, input_type=NotifyInput, passes=(add_notifications,),
            switch="notify", off_in_campaigns=True, needs_private=True, warnings=unsent_warnings,
            caught_failure=caught_failure)
