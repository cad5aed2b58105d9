"""The Polaris endpoint configuration, checked with globus-compute-endpoint's own code.

The rendered files go through the endpoint's loader (``load_config_yaml``), its per-run
template rendering (``render_config_user_template``, schema check included) and, for the
PBS job script, parsl's ``PBSProProvider.submit`` with ``qsub`` replaced by a recorder.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tomocupy_gladier.cli import main
from tomocupy_gladier.globus.polaris_endpoint import (
    CORE_CONFIG_NAME,
    PER_RUN_KEYS,
    USER_SCHEMA_NAME,
    USER_TEMPLATE_NAME,
    PolarisEndpointSettings,
    render_core_config,
    render_user_template,
    user_config_schema,
    write_endpoint_config,
)
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.tools.recon.schema import RECON_PROPERTIES

SETTINGS = PolarisEndpointSettings(account="TomoProj", conda_env="/eagle/TomoProj/envs/tomocupy")
FIXTURES = Path(__file__).parent / "fixtures" / "alcf"
ALCF_EXAMPLE = yaml.safe_load((FIXTURES / "polaris_globus_compute_workshop.yaml").read_text())


# --- helpers that use the endpoint's own code ------------------------------------------

@pytest.fixture
def gce(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """globus-compute-endpoint's loader and renderer; the interface lookup is recorded.

    ``address_by_interface("hsn0")`` only works where that interface exists (Polaris),
    so it is replaced by a stub that records the name it was asked for.
    """
    pytest.importorskip("globus_compute_endpoint")
    import parsl.addresses
    from globus_compute_endpoint.endpoint.config.utils import (
        load_config_yaml,
        render_config_user_template,
    )
    from globus_compute_endpoint.endpoint.identity_mapper import MappedPosixIdentity

    asked: list[str] = []

    def fake_address(ifname: str) -> str:
        asked.append(ifname)
        return "10.1.2.3"

    monkeypatch.setattr(parsl.addresses, "address_by_interface", fake_address)
    identity = MappedPosixIdentity(local_user_record=pwd.getpwuid(os.getuid()),
                                   matched_identity=uuid.UUID(int=0), globus_identity_candidates=[])

    def render(settings: PolarisEndpointSettings, user_opts: dict[str, Any]) -> str:
        parent = load_config_yaml(render_core_config(settings))
        template_path = write_endpoint_config(settings, tmp_path / "endpoint",
                                              overwrite=True)[USER_TEMPLATE_NAME]
        return render_config_user_template(
            parent_config=parent, user_config_template=template_path.read_text(),
            user_config_template_path=template_path,
            mapped_identity=identity, user_config_schema=user_config_schema(),
            user_opts=user_opts, user_runtime={})

    def load(settings: PolarisEndpointSettings, user_opts: dict[str, Any]) -> Any:
        return load_config_yaml(render(settings, user_opts))

    return {"render": render, "load": load, "load_yaml": load_config_yaml, "asked": asked}


def _submit_script(config: Any, tmp_path: Path) -> tuple[str, str]:
    """Let parsl's PBSProProvider write its job script; return (script, qsub command)."""
    provider = config.engine.executor.provider
    provider.script_dir = str(tmp_path)
    calls: list[str] = []

    def fake_execute_wait(cmd: str, timeout: float | None = None) -> tuple[int, str, str]:
        calls.append(cmd)
        return 0, "12345.polaris-pbs-01\n", ""

    provider.execute_wait = fake_execute_wait
    job_id = provider.submit("process_worker_pool.py --fake", tasks_per_node=1, job_name="tomo")
    assert job_id == "12345.polaris-pbs-01"
    script = next(p for p in tmp_path.iterdir() if p.name.startswith("tomo.")
                  and not p.name.endswith((".stdout", ".stderr")))
    return script.read_text(), calls[0]


# --- the core (endpoint-level) configuration --------------------------------------------

def test_core_config_loads_as_core_endpoint_config(gce: dict[str, Any]) -> None:
    from globus_compute_endpoint.endpoint.config import CoreEndpointConfig

    config = gce["load_yaml"](render_core_config(SETTINGS))
    assert isinstance(config, CoreEndpointConfig)  # no engine block: templated per user
    assert config.display_name == "tomocupy on Polaris"


# --- the per-user template, rendered per run --------------------------------------------

def test_template_stays_a_jinja_template() -> None:
    text = render_user_template(SETTINGS)
    for key in PER_RUN_KEYS:
        assert f"{key} | default(" in text
    assert "{{ _account }}" in text and "{{ _nodes }}" in text
    assert "$" not in text.split("worker_init")[0]  # no unreplaced string.Template placeholder


def test_defaults_render_to_a_valid_user_endpoint_config(gce: dict[str, Any]) -> None:
    from globus_compute_endpoint.endpoint.config import UserEndpointConfig
    from globus_compute_endpoint.engines import GlobusComputeEngine
    from parsl.launchers import MpiExecLauncher
    from parsl.providers import PBSProProvider

    config = gce["load"](SETTINGS, {})
    assert isinstance(config, UserEndpointConfig)
    engine = config.engine
    assert isinstance(engine, GlobusComputeEngine)
    executor = engine.executor
    assert executor.max_workers_per_node == 4
    assert executor.available_accelerators == ["0", "1", "2", "3"]
    assert executor.workers_per_node == 4  # one worker per GPU, each pinned to its own
    assert executor.cpu_affinity == ALCF_EXAMPLE["engine"]["cpu_affinity"]
    assert executor.address == "10.1.2.3" and gce["asked"] == ["hsn0"]
    provider = executor.provider
    assert isinstance(provider, PBSProProvider)
    assert (provider.account, provider.queue, provider.walltime, provider.nodes_per_block) == (
        "TomoProj", "debug", "01:00:00", 1)
    assert provider.walltime == "01:00:00"  # a string, not YAML's base-60 integer 3600
    assert provider.cpus_per_node == 32
    assert provider.select_options == "ngpus=4"
    assert provider.scheduler_options.strip() == "#PBS -l filesystems=home:eagle"
    assert (provider.init_blocks, provider.min_blocks, provider.max_blocks) == (0, 0, 1)
    assert isinstance(provider.launcher, MpiExecLauncher)
    assert provider.launcher.bind_cmd == "--cpu-bind"
    assert provider.launcher.overrides == "--depth=64 --ppn 1"
    # ALCF's Parsl page (docs/polaris/workflows/parsl.md): `module use /soft/modulefiles`, then
    # `module load conda`
    assert provider.worker_init.splitlines() == [
        "export TMPDIR=/tmp", "module use /soft/modulefiles", "module load conda",
        "conda activate /eagle/TomoProj/envs/tomocupy"]
    assert config.idle_heartbeats_soft == 10


def test_the_engine_binds_each_gpu_worker_as_alcf_does(gce: dict[str, Any]) -> None:
    """ALCF's sample Polaris endpoint (tests/fixtures/alcf/SOURCES.md): one worker per GPU, each
    on the cores of its GPU's NUMA domain, one worker manager per node bound by mpiexec."""
    ours = gce["load"](SETTINGS, {}).engine.executor
    theirs = ALCF_EXAMPLE["engine"]
    assert ours.cpu_affinity == theirs["cpu_affinity"]
    assert len(ours.available_accelerators) == theirs["available_accelerators"]
    assert ours.max_workers_per_node == theirs["max_workers_per_node"]
    launcher = theirs["provider"]["launcher"]
    assert type(ours.provider.launcher).__name__ == launcher["type"]
    assert ours.provider.launcher.bind_cmd == launcher["bind_cmd"]
    assert launcher["overrides"] in ours.provider.launcher.overrides
    assert ours.provider.select_options == theirs["provider"]["select_options"]


def test_tmpdir_is_set_before_the_workers_start(gce: dict[str, Any], tmp_path: Path) -> None:
    """ALCF: single-node jobs launched with MpiExecLauncher need TMPDIR=/tmp in worker_init, or
    the workers die with 'AF_UNIX path too long'; the job script sets it before mpiexec."""
    script, _ = _submit_script(gce["load"](SETTINGS, {}), tmp_path)
    lines = script.splitlines()
    assert "export TMPDIR=/tmp" in lines
    mpiexec = next(i for i, line in enumerate(lines) if "mpiexec" in line)
    assert lines.index("export TMPDIR=/tmp") < mpiexec


@pytest.mark.parametrize("affinity, problem", [
    ("list:0-7:8-15", "lists 2 workers but there is one worker per GPU (4)"),
    ("list:0-7:8-15:16-23:24-64", "24-64 is not a range of the node's hardware threads 0-63"),
    ("list:0-7:8-15:16-23:31-24", "31-24 is not a range"),
    ("reverse", "use one of none, block, block-reverse, alternating or list:"),
])
def test_a_cpu_affinity_that_parsl_would_refuse_is_refused_here(affinity: str, problem: str) -> None:
    settings = PolarisEndpointSettings(account="TomoProj", cpu_affinity=affinity)
    with pytest.raises(UserError, match=re.escape(problem)):
        settings.validate()


def test_per_run_config_sets_queue_account_walltime_nodes(gce: dict[str, Any]) -> None:
    run = {"queue": "prod", "account": "OtherProj", "walltime": "02:30:00", "nodes": 2}
    provider = gce["load"](SETTINGS, run).engine.executor.provider
    assert (provider.queue, provider.account, provider.walltime, provider.nodes_per_block) == (
        "prod", "OtherProj", "02:30:00", 2)
    partial = gce["load"](SETTINGS, {"walltime": "00:20:00"}).engine.executor.provider
    assert (partial.queue, partial.account, partial.walltime, partial.nodes_per_block) == (
        "debug", "TomoProj", "00:20:00", 1)


def test_a_warm_block_is_kept_by_the_user_endpoint(gce: dict[str, Any]) -> None:
    """min_blocks jobs stay while nothing runs; the user endpoint then stops on no idle count
    (globus-compute ``endpoint/config/config.py``: ``idle_heartbeats_soft`` 0 = never), or it
    would take the warm job with it after five idle minutes."""
    config = gce["load"](SETTINGS, {"min_blocks": 1, "max_idletime": 3600})
    provider = config.engine.executor.provider
    assert (provider.min_blocks, provider.max_blocks) == (1, 1)
    assert config.engine._job_status_kwargs["max_idletime"] == 3600
    assert config.idle_heartbeats_soft == 0


def test_pbs_job_script(gce: dict[str, Any], tmp_path: Path) -> None:
    config = gce["load"](SETTINGS, {"queue": "prod", "nodes": 2, "walltime": "00:45:00"})
    script, qsub = _submit_script(config, tmp_path)
    lines = script.splitlines()
    assert "#PBS -l walltime=00:45:00" in lines
    assert "#PBS -l select=2:ncpus=32:ngpus=4" in lines
    assert "#PBS -l filesystems=home:eagle" in lines
    assert "conda activate /eagle/TomoProj/envs/tomocupy" in lines
    assert (lines.index("module use /soft/modulefiles") < lines.index("module load conda")
            < lines.index("conda activate /eagle/TomoProj/envs/tomocupy"))
    assert "mpiexec" in script and "--ppn 1" in script and "--cpu-bind" in script
    assert qsub.startswith("qsub ") and " -q prod" in qsub and " -A TomoProj" in qsub


def test_site_options_reach_the_config(gce: dict[str, Any]) -> None:
    settings = PolarisEndpointSettings(
        account="TomoProj", conda_env="tomo env", modules=("use /soft/modulefiles", "conda"),
        init_commands=('export TOMO_SCRATCH="${HOME}/scratch/{{ not jinja }}"',),
        filesystems="home:grand:eagle", gpus_per_node=2, max_blocks=3, interface="bond0",
        cpu_affinity="none", idle_seconds=60)
    config = gce["load"](settings, {})
    executor = config.engine.executor
    assert executor.available_accelerators == ["0", "1"] and executor.workers_per_node == 2
    assert gce["asked"] == ["bond0"]
    provider = executor.provider
    assert provider.select_options == "ngpus=2" and provider.max_blocks == 3
    assert provider.scheduler_options.strip() == "#PBS -l filesystems=home:grand:eagle"
    # shell text reaches worker_init verbatim: Jinja does not touch it, the space is quoted
    assert provider.worker_init.splitlines() == [
        "export TMPDIR=/tmp", "module use /soft/modulefiles", "module load conda", 'conda activate "tomo env"',
        'export TOMO_SCRATCH="${HOME}/scratch/{{ not jinja }}"']
    assert config.engine._job_status_kwargs["max_idletime"] == 60


@pytest.mark.parametrize("bad", [
    {"walltime": "1h"},
    {"nodes": "2"},
    {"nodes": 0},
    {"queue": "debug\nworker_init: rm -rf ~"},
    {"account": 'x" \nengine: {}'},
    {"priority": "high"},
])
def test_endpoint_schema_rejects_bad_per_run_values(gce: dict[str, Any], bad: dict[str, Any]) -> None:
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        gce["render"](SETTINGS, bad)


def test_flow_schema_and_endpoint_schema_agree() -> None:
    """The flow input takes every key of the template's schema (and ALCF's options besides)."""
    flow = RECON_PROPERTIES["tomocupy_endpoint_config"]
    endpoint = user_config_schema()
    assert set(endpoint["properties"]) == set(PER_RUN_KEYS) <= set(flow["properties"])
    assert flow["properties"]["walltime"]["pattern"] == endpoint["properties"]["walltime"]["pattern"]
    assert flow["properties"]["nodes"]["maximum"] == endpoint["properties"]["nodes"]["maximum"]
    defaults = PolarisEndpointSettings(account="x")
    assert flow["properties"]["queue"]["default"] == defaults.queue
    assert flow["properties"]["walltime"]["default"] == defaults.walltime


# --- settings validation ----------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"account": "my project"}, "account"),
    ({"queue": 'debug"'}, "queue"),
    ({"walltime": "1:00"}, "walltime"),
    ({"filesystems": "home eagle"}, "filesystems"),
    ({"conda_env": "env{% endraw %}"}, "Jinja"),
    ({"init_commands": ("echo a\necho b",)}, "one line"),
    ({"gpus_per_node": 0}, "gpus_per_node"),
    ({"interface": "hsn0; rm"}, "interface"),
])
def test_settings_reject_values_that_cannot_go_into_the_files(change: dict[str, Any], message: str) -> None:
    settings = PolarisEndpointSettings(**{"account": "TomoProj", **change})
    with pytest.raises(UserError, match=message):
        render_user_template(settings)


# --- files and command line -------------------------------------------------------------

def test_write_endpoint_config_refuses_to_overwrite(tmp_path: Path) -> None:
    written = write_endpoint_config(SETTINGS, tmp_path / "ep")
    assert sorted(written) == sorted([CORE_CONFIG_NAME, USER_TEMPLATE_NAME, USER_SCHEMA_NAME])
    assert json.loads(written[USER_SCHEMA_NAME].read_text()) == user_config_schema()
    with pytest.raises(UserError, match="--force"):
        write_endpoint_config(SETTINGS, tmp_path / "ep")
    write_endpoint_config(PolarisEndpointSettings(account="NewProj"), tmp_path / "ep", overwrite=True)
    assert "'\"NewProj\"'" in written[USER_TEMPLATE_NAME].read_text()


def test_cli_writes_files_and_prints_next_steps(tmp_path: Path) -> None:
    out = tmp_path / "polaris"
    args = ["endpoint-config", "--account", "TomoProj", "--queue", "prod", "--walltime", "00:30:00",
            "--conda-env", "/eagle/TomoProj/envs/tomocupy", "--filesystems", "home:grand:eagle",
            "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    for name in (CORE_CONFIG_NAME, USER_TEMPLATE_NAME, USER_SCHEMA_NAME):
        assert str(out / name) in result.output
    assert "globus-compute-endpoint configure tomocupy-polaris" in result.output
    assert "globus-compute-endpoint start tomocupy-polaris" in result.output
    template = (out / USER_TEMPLATE_NAME).read_text()
    assert "default('\"prod\"')" in template and "default('\"00:30:00\"')" in template
    assert "#PBS -l filesystems=home:grand:eagle" in template

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2 and "--force" in again.output
    bad = CliRunner().invoke(main, ["endpoint-config", "--account", "TomoProj", "--walltime", "2h",
                                    "--out", str(tmp_path / "other")])
    assert bad.exit_code == 2 and "walltime" in bad.output
    missing = CliRunner().invoke(main, ["endpoint-config", "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "--account" in missing.output


def test_endpoint_cli_configures_and_renders_the_files(tmp_path: Path) -> None:
    """The real ``globus-compute-endpoint configure`` / ``render-user-config`` accept the files."""
    pytest.importorskip("globus_compute_endpoint")
    exe = shutil.which("globus-compute-endpoint", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("globus-compute-endpoint executable not found beside this Python")
    written = write_endpoint_config(SETTINGS, tmp_path / "files")
    home = tmp_path / "gc"
    env = {**os.environ, "HOME": str(tmp_path)}
    configure = subprocess.run(
        [exe, "-c", str(home), "configure", "tomocupy-polaris", "--multi-user", "false",
         "--core-config", str(written[CORE_CONFIG_NAME]),
         "--template-config", str(written[USER_TEMPLATE_NAME]),
         "--schema-config", str(written[USER_SCHEMA_NAME])],
        capture_output=True, text=True, env=env, timeout=120)
    assert configure.returncode == 0, configure.stderr + configure.stdout
    ep_dir = home / "tomocupy-polaris"
    assert (ep_dir / USER_TEMPLATE_NAME).read_text() == written[USER_TEMPLATE_NAME].read_text()
    render = subprocess.run(
        [exe, "-c", str(home), "render-user-config", "--endpoint", "tomocupy-polaris",
         "--user-options", "-"],
        input=json.dumps({"account": "OtherProj", "nodes": 2}), capture_output=True, text=True,
        env=env, timeout=120)
    assert render.returncode == 0, render.stderr + render.stdout
    assert 'account: "OtherProj"' in render.stdout and "nodes_per_block: 2" in render.stdout
    assert 'walltime: "01:00:00"' in render.stdout
    refused = subprocess.run(
        [exe, "-c", str(home), "render-user-config", "--endpoint", "tomocupy-polaris",
         "--user-options", "-"],
        input=json.dumps({"walltime": "soon"}), capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode != 0


def test_docs_describe_every_endpoint_config_option() -> None:
    from tomocupy_gladier.cli.endpoint_commands import endpoint_config

    doc = (Path(__file__).resolve().parents[1] / "docs" / "polaris.md").read_text()
    options = [opt for param in endpoint_config.params for opt in getattr(param, "opts", [])
               if opt.startswith("--")]
    assert len(options) > 10
    missing = [opt for opt in options if not re.search(rf"(?<![\w-]){opt}(?![\w-])", doc)]
    assert not missing, f"docs/polaris.md does not mention {missing}"
