"""Commands about the Globus login: ``login``, ``logout``, ``whoami``."""

from __future__ import annotations

import json

import click

from tomocupy_gladier.flows import storage_section_collections
from tomocupy_gladier.globus import auth
from tomocupy_gladier.tools.registry import load_config

client_id_option = click.option(
    "--client-id", envvar="TOMOCUPY_GLADIER_CLIENT_ID", default=None,
    help="Native Globus app client id (default: the experiment file's [globus] client_id, "
    "else Gladier's public client). Ignored when GLADIER_CLIENT_ID/GLADIER_CLIENT_SECRET are set.")
config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                             envvar="TOMOCUPY_GLADIER_CONFIG",
                             help="Experiment file whose [globus] client_id to use (and, for "
                             "login, whose collections' data_access consents to ask for).")


def _client_id(client_id: str | None, config_path: str | None) -> str | None:
    if client_id:
        return client_id
    if config_path:
        return load_config(config_path).globus.get("client_id")
    return None


@click.command()
@client_id_option
@config_option
@click.option("--force", is_flag=True, help="Log in again even when the stored tokens suffice.")
def login(client_id: str | None, config_path: str | None, force: bool) -> None:
    """Log in to Globus for the flows (Flows, Compute and each deployed flow; with --config,
    each flow's run scope carries the data_access consents of the experiment's collections)."""
    config = load_config(config_path) if config_path else None
    manager = auth.login(client_id or (config.globus.get("client_id") if config else None),
                         force=force, collections=storage_section_collections(config) if config else None)
    mode = "confidential client" if manager.confidential else "user"
    click.echo(f"logged in ({mode}, client {manager.client_id}); tokens in {manager.token_file}")


@click.command()
@client_id_option
@config_option
def logout(client_id: str | None, config_path: str | None) -> None:
    """Revoke the stored Globus tokens and delete them from this machine."""
    result = auth.logout(_client_id(client_id, config_path))
    if not result.removed:
        click.echo("not logged in: no tokens stored")
        return
    click.echo(f"logged out: removed tokens for {', '.join(result.removed)}")
    if result.not_revoked:
        click.secho(f"warning: Globus did not confirm revocation for {', '.join(result.not_revoked)}; "
                    "the tokens were deleted here anyway", fg="yellow", err=True)


@click.command()
@client_id_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole userinfo record as JSON.")
def whoami(client_id: str | None, config_path: str | None, as_json: bool) -> None:
    """Show the Globus identity the stored login belongs to."""
    info = auth.whoami(_client_id(client_id, config_path))
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    name = info.get("name") or ""
    email = f" <{info['email']}>" if info.get("email") else ""
    click.echo(f"{info.get('preferred_username', '?')} {name}{email}".strip())
    click.echo(f"identity id: {info.get('sub', '?')}")


COMMANDS = [login, logout, whoami]
