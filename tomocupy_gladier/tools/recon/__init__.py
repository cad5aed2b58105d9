"""The reconstruction: tomocupy_recon.py (compute function, Gladier tool), schema.py (its input,
with the compute endpoint every compute step shares), flow_input.py (its blocks)."""

from tomocupy_gladier.tools.recon.schema import RECON_PROPERTIES, RECON_REQUIRED
from tomocupy_gladier.tools.recon.tomocupy_recon import TomocupyRecon
from tomocupy_gladier.tools.step import Step

STEP = Step("recon", (TomocupyRecon,), RECON_PROPERTIES, RECON_REQUIRED)
