"""The publication: gladier-tools' Publishv2 tool, schema.py (its input), flow_input.py (its
block)."""

from gladier_tools.publish import Publishv2

from tomocupy_gladier.tools.publish.schema import PUBLISH_PROPERTIES, PUBLISH_REQUIRED
from tomocupy_gladier.tools.step import Step

STEP = Step("publish", (Publishv2,), PUBLISH_PROPERTIES, PUBLISH_REQUIRED)
