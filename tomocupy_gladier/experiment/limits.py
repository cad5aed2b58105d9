"""Time limits of a run, in seconds: the one place their defaults live.

They nest: the PBS walltime of the batch job > the reconstruction step's ``WaitTime`` (how
long Flows waits for it, queue time included) > tomocupy's own timeout in the compute
function, each ``TIME_MARGIN`` inside the next (``config.time_limits`` derives and checks
them). Transfers are sized for 50 GB reconstructions.
"""

RECON_WAIT_TIME = 2 * 3600       # the reconstruction step, when the experiment file gives no walltime
TIME_MARGIN = 300                # between walltime, WaitTime and tomocupy's timeout
TRANSFER_WAIT_TIME = 6 * 3600    # a transfer (scan, publication, return): 50 GB at 2.5 MB/s
STEP_WAIT_TIME = 3600            # other compute steps (previews, metadata), which may queue too
