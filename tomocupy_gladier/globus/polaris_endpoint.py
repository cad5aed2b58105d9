"""Globus Compute endpoint configuration for running tomocupy on ALCF Polaris.

Three files are written for ``globus-compute-endpoint configure``:

* ``config.yaml``: the endpoint-level (core) configuration; it has no ``engine`` block,
  so the endpoint starts one user-endpoint process per user and per distinct
  ``user_endpoint_config``.
* ``user_config_template.yaml.j2``: a Jinja template the endpoint renders for each of those
  processes. It stays a template here: only site values (allocation defaults, conda
  environment, filesystems...) are filled in now, while ``queue``, ``account``,
  ``walltime``, ``nodes`` and the block settings (``min_blocks``, ``max_blocks``,
  ``max_idletime``) come from the run's ``tomocupy_endpoint_config``.
* ``user_config_schema.json``: the JSON schema the endpoint checks each run's
  ``user_endpoint_config`` against before it renders the template.

The template is produced with :class:`string.Template` (``$name`` placeholders), which
leaves the Jinja ``{{ }}`` / ``{% %}`` syntax untouched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from tomocupy_gladier import __version__
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.experiment.compute_endpoints import MAX_NODES, NAME_PATTERN, TEMPLATE_SCHEMA, WALLTIME_PATTERN
from tomocupy_gladier.experiment.limits import DEFAULT_WALLTIME

CORE_CONFIG_NAME = "config.yaml"
USER_TEMPLATE_NAME = "user_config_template.yaml.j2"
USER_SCHEMA_NAME = "user_config_schema.json"

#: Per-run keys the template reads (the flow input's ``tomocupy_endpoint_config``).
PER_RUN_KEYS = tuple(TEMPLATE_SCHEMA["properties"])

CPU_AFFINITIES = ("none", "block", "block-reverse", "alternating")
"""parsl's named strategies; ``list:<cpus of worker 0>:<cpus of worker 1>:...`` is the other form."""

#: ALCF's per-GPU binding on a Polaris node (argonne-lcf/ALCF_Hands_on_HPC_Workshop,
#: workflows/globus_compute): worker i drives GPU i and runs on the cores of the NUMA domain
#: nearest that GPU, both hardware threads of each core (GPU 0 sits by cores 24-31).
POLARIS_GPU_AFFINITY = "list:24-31,56-63:16-23,48-55:8-15,40-47:0-7,32-39"
_AFFINITY_LIST = re.compile(r"^list(:[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*)+$")

# Values that end up inside YAML or PBS directives are kept to safe characters.
_NAME = re.compile(NAME_PATTERN)
_WALLTIME = re.compile(WALLTIME_PATTERN)
_FILESYSTEMS = re.compile(r"^[A-Za-z0-9_]+(:[A-Za-z0-9_]+)*$")
_INTERFACE = re.compile(r"^[A-Za-z0-9_.-]+$")
_MODULE_VERBS = {"load", "use", "unuse", "unload", "swap", "switch", "purge", "reset", "restore"}


@dataclass(frozen=True)
class PolarisEndpointSettings:
    """Site choices for the endpoint; queue/account/walltime/nodes are per-run defaults."""

    account: str
    queue: str = "debug"
    walltime: str = DEFAULT_WALLTIME
    nodes: int = 1
    conda_env: str = "tomocupy"
    # ALCF's Parsl page: the module path first, then conda
    modules: tuple[str, ...] = ("use /soft/modulefiles", "conda")
    init_commands: tuple[str, ...] = ()
    filesystems: str = "home:eagle"
    gpus_per_node: int = 4
    cpus_per_node: int = 32
    cpu_affinity: str = POLARIS_GPU_AFFINITY
    max_blocks: int = 1
    idle_seconds: int = 300
    interface: str = "hsn0"
    display_name: str = "tomocupy on Polaris"

    def validate(self) -> None:
        """Raise :class:`UserError` naming the first value that cannot go into the files."""
        for name in ("account", "queue"):
            value = getattr(self, name)
            if not _NAME.match(value):
                raise UserError(f"{name} {value!r}: use letters, digits and . _ @ + - only")
        if not _WALLTIME.match(self.walltime):
            raise UserError(f"walltime {self.walltime!r}: expected HH:MM:SS")
        if not _FILESYSTEMS.match(self.filesystems):
            raise UserError(f"filesystems {self.filesystems!r}: expected names joined by ':' "
                            "(e.g. home:eagle)")
        if not _INTERFACE.match(self.interface):
            raise UserError(f"interface {self.interface!r} is not a network interface name")
        for name, low, high in (("nodes", 1, MAX_NODES), ("gpus_per_node", 1, 16),
                                ("cpus_per_node", 1, 1024), ("max_blocks", 1, 1000),
                                ("idle_seconds", 0, 7 * 86400)):
            value = getattr(self, name)
            if not (isinstance(value, int) and low <= value <= high):
                raise UserError(f"{name} {value!r}: expected an integer from {low} to {high}")
        self._validate_affinity()
        if not self.conda_env.strip():
            raise UserError("conda environment: give a name or a path")
        shell_lines = [self.conda_env, *self.modules, *self.init_commands]
        for text in shell_lines + [self.display_name]:
            if "\n" in text or "\r" in text:
                raise UserError(f"{text!r}: one line per value, please")
            # '{%' could close the template's raw block; everything else is kept verbatim
            if "{%" in text or "%}" in text:
                raise UserError(f"{text!r}: '{{%' and '%}}' are Jinja syntax and are not allowed")

    def _validate_affinity(self) -> None:
        affinity = self.cpu_affinity
        if affinity in CPU_AFFINITIES:
            return
        if not _AFFINITY_LIST.match(affinity):
            raise UserError(f"cpu affinity {affinity!r}: use one of {', '.join(CPU_AFFINITIES)} or "
                            "list:<cpus of worker 0>:<cpus of worker 1>:... (e.g. list:0-7:8-15)")
        ranks = affinity.split(":")[1:]
        if len(ranks) != self.gpus_per_node:
            raise UserError(f"cpu affinity {affinity!r} lists {len(ranks)} workers but there is one "
                            f"worker per GPU ({self.gpus_per_node}): give --cpu-affinity one cpu list per GPU")
        threads = 2 * self.cpus_per_node  # two hardware threads per core on Polaris' EPYC
        for rank in ranks:
            for part in rank.split(","):
                low, _, high = part.partition("-")
                if int(high or low) < int(low) or int(high or low) >= threads:
                    raise UserError(f"cpu affinity {affinity!r}: {part} is not a range of the node's "
                                    f"hardware threads 0-{threads - 1}")

    def worker_init(self) -> list[str]:
        """Shell lines run on each compute node before the workers start.

        ``TMPDIR=/tmp`` first: ALCF's Globus Compute and Parsl pages require it for jobs
        launched with ``MpiExecLauncher`` (the default temporary folder gives sockets paths
        too long for AF_UNIX: ``OSError: AF_UNIX path too long``).
        """
        lines = ["export TMPDIR=/tmp"]
        for module in self.modules:
            verb = module.split(maxsplit=1)[0] if module.strip() else ""
            # "use /soft/modulefiles", "swap a b"... are module commands; anything else is loaded
            lines.append(f"module {module}" if verb in _MODULE_VERBS else f"module load {module}")
        lines.append(f"conda activate {_shell_word(self.conda_env)}")
        lines += list(self.init_commands)
        return lines


def _shell_word(text: str) -> str:
    """Quote ``text`` for the shell unless it is plainly safe (keeps ``$HOME/...`` working)."""
    if re.match(r"^[A-Za-z0-9_./$@%+=:,~-]+$", text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`") + '"'


def _yaml_str(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text)


def _jinja_literal(text: str) -> str:
    """A Jinja string literal that yields the YAML double-quoted form of ``text``.

    The endpoint hands every per-run string to the template already JSON-quoted, so the
    defaults are JSON-quoted too and both render the same way.
    """
    return "'" + json.dumps(text) + "'"  # validated values contain no quote or backslash


def render_core_config(settings: PolarisEndpointSettings) -> str:
    """The endpoint-level ``config.yaml`` (no engine: one user endpoint per user and config)."""
    settings.validate()
    return (
        "# Globus Compute endpoint (core) configuration for tomocupy-gladier on Polaris.\n"
        f"# Written by tomocupy-gladier {__version__} `endpoint-config`.\n"
        "# Each run's user_endpoint_config is checked against user_config_schema.json and\n"
        "# rendered into user_config_template.yaml.j2, which holds the PBS settings.\n"
        f"display_name: {_yaml_str(settings.display_name)}\n"
    )


_USER_TEMPLATE = Template("""\
{#- Globus Compute user-endpoint template: tomocupy-gladier on ALCF Polaris.
    Written by tomocupy-gladier $version `endpoint-config`; the endpoint renders it with
    Jinja for each distinct user_endpoint_config (the flow input's
    tomocupy_endpoint_config). Keys: queue, account, walltime, nodes, min_blocks,
    max_blocks, max_idletime; a key left out takes the default set below. The endpoint passes strings JSON-quoted, so the
    defaults are written JSON-quoted as well. -#}
{%- set _queue = queue | default($queue) %}
{%- set _account = account | default($account) %}
{%- set _walltime = walltime | default($walltime) %}
{%- set _nodes = nodes | default($nodes) %}
{%- set _min_blocks = min_blocks | default(0) %}
{%- set _max_blocks = max_blocks | default($max_blocks) %}
{%- set _max_idletime = max_idletime | default($idle_seconds) %}

# The user endpoint (and its PBS job) stops after idle_heartbeats_soft heartbeats
# (30 s each) without work; with a warm block (min_blocks) it stays (0: never idle-stopped).
idle_heartbeats_soft: {{ 0 if _min_blocks > 0 else 10 }}
idle_heartbeats_hard: 5760

engine:
  type: GlobusComputeEngine
  # one worker per GPU; each worker sees only its own GPU (CUDA_VISIBLE_DEVICES) and, by
  # default, runs on the cores of that GPU's NUMA domain (ALCF's binding for Polaris)
  max_workers_per_node: $gpus
  available_accelerators: $accelerators
  cpu_affinity: $cpu_affinity
  # workers on the compute nodes reach the endpoint over this interface
  address:
    type: address_by_interface
    ifname: $interface
  job_status_kwargs:
    # seconds an idle PBS job is kept before it is released (min_blocks jobs are kept anyway)
    max_idletime: {{ _max_idletime }}

  provider:
    type: PBSProProvider
    account: {{ _account }}
    queue: {{ _queue }}
    walltime: {{ _walltime }}
    nodes_per_block: {{ _nodes }}
    cpus_per_node: $cpus
    select_options: $select_options
    scheduler_options: |
      #PBS -l filesystems=$filesystems
    # one worker manager per node; it starts the per-GPU workers
    launcher:
      type: MpiExecLauncher
      bind_cmd: "--cpu-bind"
      overrides: "--depth=$depth --ppn 1"
    init_blocks: 0
    # a warm block for a beamtime: min_blocks jobs stay while nothing runs (node-hours!)
    min_blocks: {{ _min_blocks }}
    max_blocks: {{ _max_blocks }}
    # activates the environment that holds tomocupy (and globus-compute-endpoint)
    worker_init: |
      {% raw %}$worker_init{% endraw %}
""")


def render_user_template(settings: PolarisEndpointSettings) -> str:
    """The ``user_config_template.yaml.j2`` text (still a Jinja template)."""
    settings.validate()
    accelerators = json.dumps([str(i) for i in range(settings.gpus_per_node)])
    return _USER_TEMPLATE.substitute(
        version=__version__,
        queue=_jinja_literal(settings.queue),
        account=_jinja_literal(settings.account),
        walltime=_jinja_literal(settings.walltime),
        nodes=str(settings.nodes),
        gpus=settings.gpus_per_node,
        accelerators=accelerators,
        cpu_affinity=_yaml_str(settings.cpu_affinity),
        interface=settings.interface,
        idle_seconds=settings.idle_seconds,
        cpus=settings.cpus_per_node,
        select_options=_yaml_str(f"ngpus={settings.gpus_per_node}"),
        filesystems=settings.filesystems,
        depth=2 * settings.cpus_per_node,  # hardware threads (2 per core on Polaris)
        max_blocks=settings.max_blocks,
        worker_init="\n      ".join(settings.worker_init()),
    )


def user_config_schema() -> dict[str, Any]:
    """JSON schema for a run's ``user_endpoint_config``; the endpoint checks it before rendering
    (:data:`~tomocupy_gladier.experiment.compute_endpoints.TEMPLATE_SCHEMA`, which ``run`` and
    ``deploy`` check first)."""
    return json.loads(json.dumps(TEMPLATE_SCHEMA))


def write_endpoint_config(settings: PolarisEndpointSettings, out_dir: str | Path,
                          overwrite: bool = False) -> dict[str, Path]:
    """Write the three endpoint files into ``out_dir``; return them by file name."""
    settings.validate()
    out = Path(out_dir).expanduser()
    contents = {
        CORE_CONFIG_NAME: render_core_config(settings),
        USER_TEMPLATE_NAME: render_user_template(settings),
        USER_SCHEMA_NAME: json.dumps(user_config_schema(), indent=2) + "\n",
    }
    existing = [name for name in contents if (out / name).exists()]
    if existing and not overwrite:
        raise UserError(f"{out} already has {', '.join(existing)}; use --force to replace")
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, text in contents.items():
        path = out / name
        path.write_text(text)
        written[name] = path
    return written
