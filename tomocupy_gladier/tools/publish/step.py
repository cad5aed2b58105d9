"""The publish step's contract (``STEP``), as the registry (``tools/registry.py``) lists it."""

from gladier_tools.publish.publishv2 import publishv2_gather_metadata

from tomocupy_gladier.tools.metadata.scan_metadata import METADATA_STATE
from tomocupy_gladier.tools.publish.config import SECTION, publish_config
from tomocupy_gladier.tools.publish.flow_input import PublishInput, publish_block
from tomocupy_gladier.tools.publish.schema import PUBLISH_PROPERTIES, PUBLISH_REQUIRED
from tomocupy_gladier.tools.publish.start_form import publish_defaults
from tomocupy_gladier.tools.publish.tool import Publish, gather_tasks, mirror_publication
from tomocupy_gladier.tools.step import Step

STEP = Step(
    "publish", (Publish,), PUBLISH_PROPERTIES, PUBLISH_REQUIRED, section=SECTION,
    flow_input=publish_block, input_type=PublishInput, start_form=publish_defaults,
    # in a flow: gather what the metadata step made of this run (the record)
    modifiers={publishv2_gather_metadata: {
        "tasks": gather_tasks(f"$.{METADATA_STATE}.details.results[0].output.publishv2")}},
    passes=(mirror_publication,),
    collections=lambda config: ("publish",) if (p := publish_config(config)) is not None and p.transfer else (),
)
