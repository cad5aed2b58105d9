"""Background worker: ``python -m tomocupy_gladier.local.worker STATE_DIR RUN_ID``.

Executes one run created by :meth:`LocalBackend.start_run` with ``background=True``. If this
process dies, the next opening of the store marks the run FAILED (``RunInterrupted``).
"""

from __future__ import annotations

import signal
import sys

from .backend import LocalBackend


def _terminate(signum, frame):
    raise SystemExit(f"terminated by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the run; exit 0 when it SUCCEEDED, 1 otherwise."""
    state_dir, run_id = (argv if argv is not None else sys.argv[1:])[:2]
    # SIGTERM unwinds like Ctrl-C: compute tasks are killed and the run is marked FAILED.
    signal.signal(signal.SIGTERM, _terminate)
    backend = LocalBackend.open(state_dir)
    wait = False
    try:
        record = backend.execute_run(run_id)
        wait = True
    finally:
        # A compute task past its WaitTime goes on, as on an endpoint, until it ends or hits
        # its provider's detached_limit; on SIGTERM or an error it is killed at once.
        backend.close(wait_for_tasks=wait)
    return 0 if record["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
