"""The ``tomocupy-gladier`` command line."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
import gladier.exc

from tomocupy_gladier import __version__
from tomocupy_gladier.errors import UserError


class Group(click.Group):
    """A click group that turns user mistakes into one clear line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (UserError, gladier.exc.ConfigException) as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)
        except OSError as exc:
            # a folder that cannot be created, a file that cannot be read: name it, no traceback
            where = f": {exc.filename}" if exc.filename else ""
            click.secho(f"error: {exc.strerror or exc}{where}", fg="red", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            # a run keeps going at its service (or local worker); only following it stopped
            click.secho("interrupted: runs already started go on; see them with "
                        "`tomocupy-gladier status RUN_ID`", fg="yellow", err=True)
            sys.exit(130)


@click.group(cls=Group)
@click.version_option(__version__, prog_name="tomocupy-gladier")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Reconstruct tomography scans with tomocupy on Globus Flows, or locally."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        # gladier warns about every tool without compute functions (our Transfer): not news
        logging.getLogger("gladier.client").setLevel(logging.ERROR)


def _register() -> None:
    from tomocupy_gladier.cli import (
        auth_commands,
        campaign_commands,
        endpoint_commands,
        flow_commands,
        local_commands,
        prune_commands,
        validate_commands,
        web_commands,
    )

    for module in (flow_commands, validate_commands, local_commands, campaign_commands,
                   auth_commands, endpoint_commands, web_commands, prune_commands):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
