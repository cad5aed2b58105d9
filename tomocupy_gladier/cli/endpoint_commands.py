"""Commands that prepare the Globus Compute endpoint which runs tomocupy (ALCF Polaris)."""

from __future__ import annotations

from pathlib import Path

import click

from tomocupy_gladier.experiment.limits import DEFAULT_WALLTIME
from tomocupy_gladier.globus.polaris_endpoint import (
    CORE_CONFIG_NAME,
    POLARIS_GPU_AFFINITY,
    MAX_NODES,
    USER_SCHEMA_NAME,
    USER_TEMPLATE_NAME,
    PolarisEndpointSettings,
    write_endpoint_config,
)


def next_steps(written: dict[str, Path], name: str) -> str:
    """What to run after the files are written, with their real paths."""
    core = written[CORE_CONFIG_NAME]
    template = written[USER_TEMPLATE_NAME]
    schema = written[USER_SCHEMA_NAME]
    return "\n".join([
        "Next steps (on a Polaris login node, in the environment that has globus-compute-endpoint):",
        f"  1. globus-compute-endpoint configure {name} \\",
        f"       --core-config {core} \\",
        f"       --template-config {template} \\",
        f"       --schema-config {schema}",
        f"  2. globus-compute-endpoint render-user-config --endpoint {name} --user-options -",
        "     (type {} and Ctrl-D to see the PBS settings a run without overrides gets)",
        f"  3. globus-compute-endpoint start {name}   # prints the endpoint id",
        "  4. put that id in experiment.toml: [compute] endpoint = \"<endpoint id>\", who owns it",
        "     ([compute] owner = \"<identity id of whoever started it>\": a single-user endpoint",
        "     accepts tasks from its owner only) and per-run PBS settings in [compute.pbs]",
        "     (queue, account, walltime, nodes, min_blocks, max_blocks, max_idletime).",
        "See docs/polaris.md for the whole checklist.",
    ])


@click.command("endpoint-config")
@click.option("--account", required=True, help="ALCF project (allocation) charged by default.")
@click.option("--queue", default="debug", show_default=True, help="Default PBS queue.")
@click.option("--walltime", default=DEFAULT_WALLTIME, show_default=True, help="Default PBS walltime (HH:MM:SS).")
@click.option("--nodes", type=click.IntRange(1, MAX_NODES), default=1, show_default=True,
              help="Default nodes per PBS job.")
@click.option("--conda-env", default="tomocupy", show_default=True,
              help="Conda environment (name or path) holding tomocupy and globus-compute-endpoint.")
@click.option("--module", "modules", multiple=True, default=PolarisEndpointSettings.modules, show_default=True,
              help="Module to load before activating the environment, or a module command "
              "such as 'use /soft/modulefiles' (repeatable, in order; giving any replaces the "
              "default, ALCF's 'use /soft/modulefiles' then conda, so list those too).")
@click.option("--init", "init_commands", multiple=True,
              help="Extra shell line for worker_init, run after the activation (repeatable).")
@click.option("--filesystems", default="home:eagle", show_default=True,
              help="PBS filesystems the job needs (where the scans and results live).")
@click.option("--gpus-per-node", type=click.IntRange(1, 16), default=4, show_default=True,
              help="Workers per node, one per GPU.")
@click.option("--cpus-per-node", type=click.IntRange(1, 1024), default=32, show_default=True,
              help="CPU cores per node requested from PBS.")
@click.option("--cpu-affinity", default=POLARIS_GPU_AFFINITY, show_default=True,
              help="How the workers share the node's cores: none, block, block-reverse, "
              "alternating, or list:<cpus of worker 0>:<cpus of worker 1>:... (one list per GPU; "
              "the default is ALCF's binding of each Polaris GPU to its NUMA domain's cores).")
@click.option("--max-blocks", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Most PBS jobs one user endpoint keeps at a time.")
@click.option("--idle-seconds", type=click.IntRange(0, 7 * 86400), default=300, show_default=True,
              help="How long an idle PBS job is kept before it is released.")
@click.option("--interface", default="hsn0", show_default=True,
              help="Network interface the workers use to reach the endpoint.")
@click.option("--display-name", default="tomocupy on Polaris", show_default=True)
@click.option("--name", "endpoint_name", default="tomocupy-polaris", show_default=True,
              help="Endpoint name used in the printed commands.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="polaris-endpoint",
              show_default=True, help="Folder to write the files into.")
@click.option("--force", is_flag=True, help="Replace files already in the folder.")
def endpoint_config(account: str, queue: str, walltime: str, nodes: int, conda_env: str,
                    modules: tuple[str, ...], init_commands: tuple[str, ...], filesystems: str,
                    gpus_per_node: int, cpus_per_node: int, cpu_affinity: str, max_blocks: int,
                    idle_seconds: int, interface: str, display_name: str, endpoint_name: str,
                    out_dir: str, force: bool) -> None:
    """Write a Globus Compute endpoint configuration for tomocupy on ALCF Polaris."""
    settings = PolarisEndpointSettings(
        account=account, queue=queue, walltime=walltime, nodes=nodes, conda_env=conda_env,
        modules=tuple(modules), init_commands=tuple(init_commands), filesystems=filesystems,
        gpus_per_node=gpus_per_node, cpus_per_node=cpus_per_node, cpu_affinity=cpu_affinity,
        max_blocks=max_blocks, idle_seconds=idle_seconds, interface=interface,
        display_name=display_name,
    )
    written = write_endpoint_config(settings, out_dir, overwrite=force)
    click.echo(f"Wrote the endpoint configuration to {Path(out_dir).expanduser().resolve()}:")
    for path in written.values():
        click.echo(f"  {path.resolve()}")
    click.echo(next_steps({k: p.resolve() for k, p in written.items()}, endpoint_name))


COMMANDS = [endpoint_config]
