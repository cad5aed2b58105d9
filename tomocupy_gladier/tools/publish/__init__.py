"""The publication: gladier-tools' Publishv2 with its gather step on Compute v3 (tool.py),
schema.py (its input), flow_input.py (its block)."""

from tomocupy_gladier.tools.publish.tool import Publish

from tomocupy_gladier.tools.publish.schema import PUBLISH_PROPERTIES, PUBLISH_REQUIRED
from tomocupy_gladier.tools.step import Step

STEP = Step("publish", (Publish,), PUBLISH_PROPERTIES, PUBLISH_REQUIRED)
