"""The previews step's contract (``STEP``), as the registry (``tools/registry.py``) lists it."""

from tomocupy_gladier.tools.previews.flow_input import PreviewsInput, previews_block
from tomocupy_gladier.tools.previews.previews import Previews, make_previews, make_previews_tasks
from tomocupy_gladier.tools.previews.schema import PREVIEW_PROPERTIES, PREVIEW_REQUIRED
from tomocupy_gladier.tools.step import Step

# in a flow: the reconstruction's result, in the run's one user endpoint (one batch job)
STEP = Step("previews", (Previews,), PREVIEW_PROPERTIES, PREVIEW_REQUIRED, form_first=("previews",),
            shims=(make_previews,), flow_input=previews_block, input_type=PreviewsInput,
            modifiers={make_previews: {"tasks": make_previews_tasks(with_options=True),
                                       "user_endpoint_config": "tomocupy_endpoint_config"}})
