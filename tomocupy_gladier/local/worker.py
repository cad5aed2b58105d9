"""Background worker: ``python -m tomocupy_gladier.local.worker STATE_DIR RUN_ID``.

``python -m tomocupy_gladier.local.worker STATE_DIR RUN_ID OWNER_PID``: executes one run
created by :meth:`LocalBackend.start_run` with ``background=True`` (or resumed), which
OWNER_PID hands over to it. If this process dies, or is stopped (SIGTERM, SIGHUP), the run
waits, INACTIVE (``WorkerLost``), to be resumed from its last completed state.
"""

from __future__ import annotations

import signal
import sys

from .backend import LocalBackend


def _terminate(signum, frame):
    raise SystemExit(f"terminated by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the run; exit 0 when it SUCCEEDED, 1 otherwise."""
    args = argv if argv is not None else sys.argv[1:]
    state_dir, run_id = args[:2]
    handed_by = int(args[2]) if len(args) > 2 else None
    # SIGTERM (a shutdown) and SIGHUP (a closed session) unwind like Ctrl-C: compute tasks are
    # killed and the run waits to be resumed.
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    backend = LocalBackend.open(state_dir)
    wait = False
    try:
        record = backend.execute_run(run_id, handed_by=handed_by)
        wait = True
    finally:
        # A compute task past its WaitTime goes on, as on an endpoint, until it ends or hits
        # its provider's detached_limit; on SIGTERM or an error it is killed at once.
        backend.close(wait_for_tasks=wait)
    return 0 if record["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
