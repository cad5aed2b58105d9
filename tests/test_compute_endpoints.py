"""The compute endpoint an experiment names, held against what ALCF and Globus Compute publish.

ALCF's page on its facility endpoints (tests/fixtures/alcf/globus_compute_polaris.md, with the
queue table of "Running Jobs on Polaris" in polaris_queues.md; SOURCES.md beside them) is parsed
here and compared with the package's transcription (tomocupy_gladier/data/alcf_polaris_endpoint.json);
an experiment naming ALCF's endpoint must then dry-run to a configuration those options accept.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from tests.conftest import ENDPOINT, FACILITY, INDEX, PUBLISH, SOURCE
from tomocupy_gladier.cli import main
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.experiment.compute_endpoints import (
    ALCF_POLARIS_ID,
    alcf_endpoint_schema,
    alcf_option_schema,
    alcf_polaris,
    check_endpoint,
    endpoint_of,
    user_endpoint_config,
)
from tomocupy_gladier.tools.registry import config_from_dict
from tomocupy_gladier.local.user_endpoints import COMPUTE_DEFAULT_SCHEMA

FIXTURES = Path(__file__).parent / "fixtures" / "alcf"
ALCF_PAGE = (FIXTURES / "globus_compute_polaris.md").read_text()
QUEUE_PAGE = (FIXTURES / "polaris_queues.md").read_text()
OWNER = "11111111-2222-4333-8444-555555555555"
SOMEONE_ELSE = "99999999-2222-4333-8444-555555555555"


def _table(text: str, header: str) -> list[list[str]]:
    """The rows of the markdown table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _value(cell: str) -> Any:
    cell = cell.strip("`")
    if cell.startswith('"'):
        return json.loads(cell.replace("\\", "\\\\"))
    return int(cell) if cell.isdigit() else cell


def test_the_transcription_is_alcfs_table():
    """Every option of ALCF's Polaris table, with its default and whether it is required."""
    rows = _table(ALCF_PAGE, "| Key |")
    page = {row[0].strip("`"): row for row in rows}
    options = alcf_polaris()["options"]
    assert list(options) == list(page)
    for key, (_, default, description) in page.items():
        required = default.startswith("required option")
        assert options[key]["required"] is required, key
        if not required:
            assert options[key]["default"] == _value(default), key
    assert [k for k, o in options.items() if o["required"]] == ["queue", "account"]


def test_the_endpoint_id_the_parsl_pin_and_the_python_are_alcfs():
    polaris = next(row for row in _table(ALCF_PAGE, "| System") if row[0] == "Polaris")
    assert ALCF_POLARIS_ID in polaris[1] and alcf_polaris()["endpoint_id"] == ALCF_POLARIS_ID
    pin = re.search(r"pip install globus-compute-endpoint parsl==([0-9.]+)", ALCF_PAGE)
    assert pin and alcf_polaris()["worker_environment"]["parsl"] == pin.group(1)
    interchange = re.search(r"interchange version info py.v=([0-9.]+) parsl.v=([0-9.]+)", ALCF_PAGE)
    assert interchange and (interchange.group(1), interchange.group(2)) == (
        alcf_polaris()["worker_environment"]["python"], pin.group(1))
    assert "venv-py313" in alcf_polaris()["options"]["worker_init"]["default"]


def test_the_queue_limits_are_alcfs():
    def hours(cell: str) -> str:
        return f"{int(cell.split()[0]):02d}:00:00"

    page = {row[0].strip("*"): row for row in _table(QUEUE_PAGE, "| Queue Name")}
    queues = alcf_polaris()["queues"]
    assert set(queues) == set(page)
    for name, row in page.items():
        assert queues[name]["nodes"] == [int(row[1]), int(row[2])], name
        assert queues[name]["walltime_max"] == hours(row[4]), name


def test_alcfs_defaults_are_valid_options_and_others_are_refused():
    schema = alcf_option_schema()
    defaults = {k: o["default"] for k, o in alcf_polaris()["options"].items() if not o["required"]}
    jsonschema.validate({"queue": "debug", "account": "TOMO", **defaults}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"queue": "debug"}, schema)  # account is required
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"queue": "debug", "account": "TOMO", "nodes": 1}, schema)


# --- an experiment on ALCF's endpoint ----------------------------------------------------------

def alcf_experiment(tmp_path: Path, compute: str = "", pbs: str = "", globus: str = "") -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(textwrap.dedent(f"""\
        [experiment]
        name = "cells"
        backend = "globus"

        [source]
        collection = "{SOURCE}"
        path = "/data"

        [facility]
        collection = "{FACILITY}"
        path = "/raw"
        posix_root = "/eagle/TOMO"

        [compute]
        endpoint = "{ALCF_POLARIS_ID}"
        environment = "/eagle/TOMO/envs/tomocupy"
        """) + compute + textwrap.dedent("""
        [compute.pbs]
        account = "TOMO"
        """) + pbs + textwrap.dedent(f"""
        [publish]
        index = "{INDEX}"
        collection = "{PUBLISH}"
        path = "/published"

        [recon]
        rotation-axis = 1024.5
        """) + globus)
    return path


def test_an_alcf_experiment_dry_runs_to_a_configuration_alcfs_endpoint_accepts(tmp_path):
    """The issue's test: ALCF's Polaris endpoint, an account and a facility under /eagle dry-run
    to flow input whose endpoint configuration validates against ALCF's documented options,
    mounts Eagle and sets TMPDIR; every compute state sends it."""
    result = CliRunner().invoke(
        main, ["run", "scan_0001.h5", "--config", str(alcf_experiment(tmp_path)), "--dry-run", "--full"])
    assert result.exit_code == 0, result.output + result.stderr
    body = json.loads(result.stdout)["input"]
    sent = body["tomocupy_endpoint_config"]
    assert body["compute_endpoint"] == ALCF_POLARIS_ID
    jsonschema.validate(sent, alcf_option_schema())
    assert sent["queue"] == "debug" and sent["account"] == "TOMO" and sent["walltime"] == "01:00:00"
    # ALCF: scheduler_options replaces the default, so home is named again beside eagle
    assert sent["scheduler_options"] == "#PBS -l filesystems=home:eagle"
    init = sent["worker_init"].split("; ")
    assert "export TMPDIR=/tmp" in init
    # ALCF's Parsl page: the module path first, then conda; then the environment with tomocupy
    assert init[:3] == ["module use /soft/modulefiles", "module load conda",
                        "conda activate /eagle/TOMO/envs/tomocupy"]
    # as many tasks a node as it has GPUs (each reconstruction on its own), not ALCF's 100
    assert sent["max_workers_per_node"] == alcf_polaris()["gpus_per_node"] == 4
    assert "export TOMOCUPY_GLADIER_GPUS=4" in init
    # when tomocupy must have stopped in this job: its start + walltime - 300 s, by the job's shell
    (deadline,) = [line for line in init if "TOMOCUPY_GLADIER_DEADLINE" in line]
    assert deadline == "export TOMOCUPY_GLADIER_DEADLINE=$(( $(date +%s) + 3300 ))"
    shown = subprocess.run(["bash", "-c", f"{deadline}; echo $TOMOCUPY_GLADIER_DEADLINE"], capture_output=True,
                           text=True, check=True).stdout
    assert abs(int(shown) - (time.time() + 3300)) < 60
    # stderr says what each compute state sends: one user endpoint
    assert "TomocupyRecon" in result.stderr and "Publishv2GatherMetadata" in result.stderr
    assert "one user endpoint" in result.stderr


def test_a_warm_block_and_a_multi_node_job_use_alcfs_own_options(tmp_path):
    config = config_from_dict(_raw(alcf_experiment(
        tmp_path, pbs='queue = "preemptable"\nnodes = 2\nmin_blocks = 1\nmax_idletime = 7200\n'
                      'walltime = "12:00:00"\n')), tmp_path / "experiment.toml")
    sent = user_endpoint_config(config)
    jsonschema.validate(sent, alcf_option_schema())
    assert (sent["nodes_per_block"], sent["min_blocks"], sent["max_idletime"]) == (2, 1, 7200)
    # ALCF's multi-node example: MpiExecLauncher and place=scatter
    assert sent["launcher_type"] == "MpiExecLauncher"
    assert sent["scheduler_options"].splitlines() == ["#PBS -l filesystems=home:eagle", "#PBS -l place=scatter"]
    check_endpoint(config)


def _raw(path: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(path.read_text())


def _run(path: Path) -> Any:
    return CliRunner().invoke(main, ["run", "scan_0001.h5", "--config", str(path), "--dry-run", "--full"])


@pytest.mark.parametrize("compute, pbs, expected", [
    ("", 'queue = "debug"\nwalltime = "02:00:00"\n', "longer than Polaris' debug queue allows (01:00:00)"),
    ("", 'queue = "prod"\n', "Polaris' prod queue takes jobs of 10 to 496 nodes, not 1"),
    ('init = ["source /x; rm -rf ~"]\n', "", None),
])
def test_what_pbs_would_refuse_is_refused_before_the_run(tmp_path, compute, pbs, expected):
    result = _run(alcf_experiment(tmp_path, compute=compute, pbs=pbs))
    if expected is None:  # init lines are the user's own shell; nothing to refuse
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output


def test_alcfs_endpoint_without_an_environment_is_refused(tmp_path):
    path = alcf_experiment(tmp_path)
    path.write_text(path.read_text().replace('environment = "/eagle/TOMO/envs/tomocupy"\n', ""))
    result = _run(path)
    assert result.exit_code == 2
    assert "environment is missing" in result.output and "parsl==2026.02.23" in result.output


def test_alcfs_endpoint_without_an_account_is_refused(tmp_path):
    path = alcf_experiment(tmp_path)
    path.write_text(path.read_text().replace('account = "TOMO"\n', 'queue = "debug"\n'))
    result = _run(path)
    assert result.exit_code == 2 and "'account' is a required property" in result.output


# --- a facility's own endpoint ----------------------------------------------------------------

def own_endpoint(tmp_path: Path, compute: str = "", pbs: str = "", globus: str = "") -> Path:
    path = alcf_experiment(tmp_path, compute=compute, pbs=pbs, globus=globus)
    text = path.read_text().replace(ALCF_POLARIS_ID, ENDPOINT)
    path.write_text(text.replace('environment = "/eagle/TOMO/envs/tomocupy"\n', ""))
    return path


def test_keys_the_facility_endpoint_does_not_take_are_refused(tmp_path):
    """Our template's schema (endpoint-config) has additionalProperties false: the endpoint would
    refuse the run's configuration before it starts the user endpoint."""
    result = _run(own_endpoint(tmp_path, pbs='filesystems = "home:eagle"\n'))
    assert result.exit_code == 2
    assert "would be refused" in result.output and "scheduler_options" in result.output
    assert "endpoint-config" in result.output


def test_a_single_user_endpoint_refuses_anyone_but_its_owner(tmp_path, monkeypatch):
    """Globus Compute, docs/endpoints/endpoints.rst ("Starting the Endpoint"): an endpoint started
    as a non-privileged user "will only accept tasks submitted by the endpoint owner"."""
    from tomocupy_gladier.globus import auth

    path = own_endpoint(tmp_path, compute=f'owner = "urn:globus:auth:identity:{OWNER}"\n')
    monkeypatch.setattr(auth, "stored_identity", lambda client_id=None: SOMEONE_ELSE)
    result = _run(path)
    assert result.exit_code == 2
    assert "accepts tasks from its owner only" in result.output and SOMEONE_ELSE in result.output
    monkeypatch.setattr(auth, "stored_identity", lambda client_id=None: OWNER)
    assert _run(path).exit_code == 0


def test_deploying_a_single_user_endpoint_for_a_group_is_refused(tmp_path):
    group = '\n[globus]\ngroup = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"\n'
    result = CliRunner().invoke(main, ["deploy", "--config", str(own_endpoint(tmp_path, globus=group)),
                                       "--flow", "recon", "--dry-run"])
    assert result.exit_code == 2 and "single-user" in result.output and "[globus] group" in result.output
    multi = own_endpoint(tmp_path, compute="multi_user = true\n", globus=group)
    assert endpoint_of(config_from_dict(_raw(multi), multi)).multi_user
    with pytest.raises(UserError, match="single-user"):
        check_endpoint(config_from_dict(_raw(own_endpoint(tmp_path, globus=group)), multi),
                       others_may_start=True)


def test_an_endpoint_without_a_schema_takes_what_computes_default_schema_takes():
    """Compute's default user_config_schema.json (docs/endpoints/endpoints.rst): two strings
    typed, anything else allowed."""
    jsonschema.validate({"worker_init": "x", "anything": 1}, COMPUTE_DEFAULT_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"worker_init": 1}, COMPUTE_DEFAULT_SCHEMA)


def test_deploy_dry_run_shows_what_each_compute_state_sends(tmp_path):
    sub = '\n[globus]\nsubscription_id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"\n'
    result = CliRunner().invoke(main, ["deploy", "--config", str(alcf_experiment(tmp_path, globus=sub)),
                                       "--dry-run"])
    assert result.exit_code == 0, result.output
    for flow in json.loads(result.stdout):
        states = flow["compute_states"]
        assert {s["state"] for s in states} >= {"TomocupyRecon", "MakePreviews", "ScanMetadata",
                                                 "Publishv2GatherMetadata"}
        assert {s["action_url"] for s in states} == {"https://compute.actions.globus.org/v3"}
        assert {s["endpoint_id"] for s in states} == {ALCF_POLARIS_ID}
        (sent,) = {json.dumps(s["user_endpoint_config"], sort_keys=True) for s in states}
        jsonschema.validate(json.loads(sent), alcf_option_schema())


# --- what ALCF's endpoint itself checks (its schema), and what its template ignores ----------------

SKILLSET_PAGE = (FIXTURES / "alcf_skillset_multiuser_endpoints.md").read_text()


def test_the_endpoints_own_schema_is_the_one_alcf_publishes():
    published = json.loads(re.search(r"```json\n(.*?)```", SKILLSET_PAGE, re.S).group(1))
    assert alcf_endpoint_schema() == published
    assert published["additionalProperties"] is True and published["required"] == ["queue", "account"]


def test_alcfs_endpoint_takes_any_key_but_run_refuses_what_its_template_would_ignore(tmp_path):
    """ALCF's endpoint lets an unknown key through and its template ignores it silently (ALCF's
    skillset page): the endpoint (and the local backend's model of it) accepts it, and the
    client refuses it before anything is sent, saying it would be ignored."""
    config = config_from_dict(_raw(alcf_experiment(tmp_path)), tmp_path / "experiment.toml")
    endpoint = check_endpoint(config)
    sent = {**user_endpoint_config(config), "nodes": 2}  # our template's name, not ALCF's
    assert endpoint.config_problems(sent) == []
    assert any("nodes" in problem for problem in endpoint.ignored_problems(sent))
    assert endpoint.as_json()["schema"] == alcf_endpoint_schema()
    jsonschema.validate(sent, endpoint.as_json()["schema"])


def test_the_workers_keep_the_endpoint_agents_venv_on_path_after_the_environment(tmp_path):
    """A worker_init of one's own replaces ALCF's default, which puts the agent's venv on PATH;
    it is kept, last on PATH, so the environment's own globus-compute-endpoint comes first."""
    agent = re.search(r'export PATH="\$PATH":(\S+)`', SKILLSET_PAGE).group(1)
    config = config_from_dict(_raw(alcf_experiment(tmp_path)), tmp_path / "experiment.toml")
    init = user_endpoint_config(config)["worker_init"].split("; ")
    assert f'export PATH="$PATH":{agent}' in init
    assert init.index(f'export PATH="$PATH":{agent}') > init.index("conda activate /eagle/TOMO/envs/tomocupy")
    path = subprocess.run(["bash", "-c", f'PATH=/usr/bin:/bin; export PATH="$PATH":{agent}; echo $PATH'],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert path.split(":")[-1] == agent.rstrip("/") or path.endswith(agent)
