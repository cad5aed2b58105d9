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


@click.group(cls=Group)
@click.version_option(__version__, prog_name="tomocupy-gladier")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Reconstruct tomography scans with tomocupy on Globus Flows, or locally."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from tomocupy_gladier.cli import campaign_commands, flow_commands

    for command in flow_commands.COMMANDS + campaign_commands.COMMANDS:
        main.add_command(command)


_register()
