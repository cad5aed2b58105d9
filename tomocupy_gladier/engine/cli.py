"""``tomocupy-cpu``: tomocupy's ``recon`` / ``recon_steps`` command line on the CPU.

    tomocupy-cpu [--config FILE] recon --file-name scan.h5 --reconstruction-type full ...
    python -m tomocupy_gladier.engine recon_steps --file-name scan.h5 --retrieve-phase-method paganin ...

Exit status 0 on success; 2 for an unknown, unimplemented or malformed option; 1 for bad
input (missing file or dataset) or a failed run.  Errors are one line on stderr.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import threading

from .errors import EngineError
from .options import COMMANDS, parse

USAGE = ("usage: tomocupy-cpu [--config FILE] {recon,recon_steps} [--option value ...]\n"
         "       tomocupy-cpu {recon,recon_steps} --help")


def _setup_logging(verbose: bool) -> None:
    logger = logging.getLogger("tomocupy_gladier.engine")
    logger.handlers.clear()
    h = logging.StreamHandler(sys.stderr)
    # tomocupy's console format
    h.setFormatter(logging.Formatter("%(asctime)s - %(message)s"))
    logger.addHandler(h)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (also used by ``python -m``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config = None
    if argv[:1] and argv[0].startswith("--config"):
        if "=" in argv[0]:
            config, argv = argv[0].split("=", 1)[1], argv[1:]
        elif len(argv) > 1:
            config, argv = argv[1], argv[2:]
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 0 if argv else 2
    command, words = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"tomocupy-cpu: error: unknown command {command!r} (use one of {', '.join(COMMANDS)})",
              file=sys.stderr)
        return 2
    try:
        settings = parse(command, words, config)
    except EngineError as exc:
        print(f"tomocupy-cpu: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:  # argparse's --help
        return int(exc.code or 0)
    settings = dataclasses.replace(
        settings, argv=(sys.argv[0] if sys.argv else "tomocupy-cpu", command, *words))
    _setup_logging(settings.verbose)
    from .pipeline import run

    def _terminate(signum, frame):  # unwind so that staged output is removed
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)

    try:
        run(settings)
    except EngineError as exc:
        logging.getLogger("tomocupy_gladier.engine").error(f"tomocupy-cpu: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        print("tomocupy-cpu: interrupted; no output was published", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line; traceback with --verbose
        if settings.verbose:
            raise
        print(f"tomocupy-cpu: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
