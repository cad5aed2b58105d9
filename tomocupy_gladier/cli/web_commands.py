"""``tomocupy-gladier serve``: the browser view of the experiment's runs."""

from __future__ import annotations

import click

from tomocupy_gladier.backends import choose
from tomocupy_gladier.cli.flow_commands import backend_option, config_option, load
from tomocupy_gladier.errors import UserError


@click.command()
@config_option
@backend_option
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --token or --generate-token.")
@click.option("--token", default=None, envvar="TOMOCUPY_GLADIER_TOKEN",
              help="Token every request must carry (?token=, X-Token header or the cookie it sets).")
@click.option("--generate-token", is_flag=True, help="Make a random token and print the address with it.")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True)
def serve(config_path: str | None, backend: str | None, port: int, host: str, token: str | None,
          generate_token: bool, threads: int) -> None:
    """Serve web pages of the experiment's runs, campaigns and published records, and a page that
    starts runs (on the local backend; on Globus it links to the web app's start page)."""
    from tomocupy_gladier.web.security import check_binding, new_token

    if generate_token and token:
        raise UserError("give --token or --generate-token, not both")
    if generate_token:
        token = new_token()
    check_binding(host, token)  # before anything is opened
    config = load(config_path)
    if backend:
        import dataclasses

        config = dataclasses.replace(config, backend=backend)

    import waitress

    from tomocupy_gladier.web.app import create_app
    from tomocupy_gladier.web.sources import sources_for

    app = create_app(sources_for(config), token=token, host=host)
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    # the token is printed once, for the person who started the server; it is never logged
    click.echo(f"serving {config.name} ({config.backend} backend) at {address}  (Ctrl-C stops)")
    if choose(config).is_local and not _serves(config.local_serve_url, host, port):
        click.echo(f"note: interactive runs give option URLs at {config.local_serve_url} "
                   "([local] serve_url), not at this address", err=True)
    from tomocupy_gladier.clients.client_factory import resume_local_runs

    resume_local_runs(config)
    waitress.serve(app, host=host, port=port, threads=threads, ident="tomocupy-gladier")


def _serves(url: str, host: str, port: int) -> bool:
    """Whether ``url`` reaches a server listening on ``host``:``port``."""
    from urllib.parse import urlsplit

    from tomocupy_gladier.web.security import is_loopback

    parts = urlsplit(url)
    same_host = parts.hostname == host.strip("[]") or (is_loopback(parts.hostname or "") and is_loopback(host))
    return same_host and (parts.port or (443 if parts.scheme == "https" else 80)) == port


COMMANDS = [serve]
