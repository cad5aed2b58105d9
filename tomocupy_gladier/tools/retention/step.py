"""The retention step's contract (``STEP``), as the registry (``tools/registry.py``) lists it."""

from tomocupy_gladier.tools.retention.config import SECTION, retention_rules
from tomocupy_gladier.tools.retention.flow_input import RetentionInput, retention_block
from tomocupy_gladier.tools.retention.results import retention_outcomes, retention_warnings
from tomocupy_gladier.tools.retention.schema import RETENTION_PROPERTIES, RETENTION_REQUIRED
from tomocupy_gladier.tools.retention.start_form import retention_defaults
from tomocupy_gladier.tools.retention.tool import Retention, retention_targets
from tomocupy_gladier.tools.step import Step

# after the return step (which may send the reconstruction back first), before the email; on in
# campaigns and timers (it needs no private run state); its delete uses the facility collection
STEP = Step("retention", (Retention,), RETENTION_PROPERTIES, RETENTION_REQUIRED, shims=(retention_targets,),
            section=SECTION, flow_input=retention_block, input_type=RetentionInput,
            start_form=retention_defaults, switch="retention",
            collections=lambda config: ("facility",) if retention_rules(config).removes_after_publish else (),
            warnings=retention_warnings, outcomes=retention_outcomes)
