"""experiment.toml: read once, validated with messages naming the file, key and problem."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

import pytest

from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.errors import ConfigError
from tomocupy_gladier.experiment.limits import TIME_MARGIN, time_budget
from tomocupy_gladier.tools.publish.config import publish_config
from tomocupy_gladier.tools.return_data.config import return_config

from tests.conftest import FACILITY, experiment_toml


def test_a_good_file_loads_with_local_folders_as_collection_roots(experiment: Path):
    config = load_config(experiment)
    assert config.name == "cells"
    assert config.backend == "local"
    assert config.facility.posix_root == PurePosixPath(experiment.parent / "facility")
    assert config.facility.to_posix("/raw/a.h5") == PurePosixPath(experiment.parent / "facility/raw/a.h5")
    assert config.recon == {"rotation-axis": 256.5}
    assert config.pbs == {"queue": "debug", "account": "TOMO"}
    assert publish_config(config) is not None and publish_config(config).checksums == ("sha256",)


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml")


def test_malformed_toml_names_the_file(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text("[compute\nendpoint = 1")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(path)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('account = "TOMO"', 'account = "TOMO"\nqueu = "x"'),
     "compute.pbs: unknown key(s) 'queu'"),
    (lambda t: t.replace('rotation-axis = 256.5', 'rotation-axis = "mid"'),
     "recon.rotation-axis: expected number, got 'mid'"),
    (lambda t: t.replace('endpoint = "33333333-3333-4333-8333-333333333333"', 'endpoint = "polaris"'),
     "compute.endpoint: 'polaris' is not a valid"),
    (lambda t: t.replace('backend = "local"', 'backend = "cloud"'),
     "experiment.backend: 'cloud' is not allowed; choose one of 'local', 'globus'"),
])
def test_each_problem_names_the_key(tmp_path: Path, edit, message):
    path = tmp_path / "experiment.toml"
    path.write_text(edit(experiment_toml()))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_local_backend_needs_a_folder_for_every_collection(tmp_path: Path):
    path = tmp_path / "experiment.toml"
    path.write_text(experiment_toml().replace(f'"{FACILITY}" = "facility"\n', ""))
    with pytest.raises(ConfigError, match=f"no folder for collection\\(s\\) {FACILITY}"):
        load_config(path)


def test_backend_defaults_to_local_without_globus_settings(tmp_path: Path, monkeypatch):
    path = tmp_path / "experiment.toml"
    path.write_text(experiment_toml().replace('backend = "local"\n', ""))
    assert load_config(path).backend == "local"
    monkeypatch.setenv("GLADIER_CLIENT_ID", "abc")
    monkeypatch.setenv("GLADIER_CLIENT_SECRET", "s3cret")
    assert load_config(path).backend == "globus"


RETURN = "77777777-7777-4777-8777-777777777777"
RETURN_SECTION = f'\n[return]\ncollection = "{RETURN}"\npath = "/incoming"\n'
RETURN_FOLDER = f'"{RETURN}" = "analysis"\n'


def test_return_section_defaults_to_previews(tmp_path: Path):
    path = tmp_path / "experiment.toml"
    path.write_text(experiment_toml(RETURN_FOLDER) + RETURN_SECTION)
    config = load_config(path)
    back = return_config(config)
    assert back is not None
    assert (back.collection, back.path, back.what) == (
        RETURN, "/incoming", "previews")
    assert config.local_collections[RETURN] == tmp_path / "analysis"


def test_no_return_section_and_a_disabled_one_mean_no_return(tmp_path: Path):
    path = tmp_path / "experiment.toml"
    path.write_text(experiment_toml())
    assert return_config(load_config(path)) is None
    # switched off: its collection needs no local folder
    path.write_text(experiment_toml() + RETURN_SECTION + "enable = false\n")
    assert return_config(load_config(path)) is None


@pytest.mark.parametrize("section, message", [
    (RETURN_SECTION + 'what = "everything"\n',
     "return.what: 'everything' is not allowed; choose one of 'previews', 'reconstruction'"),
    ('\n[return]\ncollection = "analysis-pc"\npath = "/x"\n', "return.collection: 'analysis-pc' is not a valid"),
    (f'\n[return]\ncollection = "{RETURN}"\n', "return: 'path' is a required property"),
    (RETURN_SECTION + 'host = "x"\n', "return: unknown key(s) 'host'"),
])
def test_return_section_problems_name_the_key(tmp_path: Path, section, message):
    path = tmp_path / "experiment.toml"
    path.write_text(experiment_toml(RETURN_FOLDER) + section)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


def test_local_backend_needs_a_folder_for_the_return_collection(tmp_path: Path):
    path = tmp_path / "experiment.toml"
    path.write_text(experiment_toml() + RETURN_SECTION)
    with pytest.raises(ConfigError, match=f"no folder for collection\\(s\\) {RETURN}"):
        load_config(path)


@pytest.mark.parametrize("formats, zarr, message", [
    ('["tif"]', "", "publish.formats.0: 'tif' is not allowed; choose one of 'tiff', 'zarr'"),
    ("[]", "", "publish.formats: [] should be non-empty"),
    ('["zarr", "zarr"]', "", "publish.formats: ['zarr', 'zarr'] has non-unique elements"),
    ('["zarr"]', "\n[zarr]\nenable = false\n", "[publish] formats names zarr, but the OME-Zarr is off"),
])
def test_publication_formats_are_checked_when_the_file_is_read(tmp_path: Path, formats, zarr, message):
    path = tmp_path / "experiment.toml"
    with_formats = experiment_toml().replace('path = "/published"\n', f'path = "/published"\nformats = {formats}\n')
    path.write_text(with_formats + zarr)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)
    path.write_text(experiment_toml().replace('path = "/published"\n', 'path = "/published"\nformats = ["zarr"]\n'))
    assert publish_config(load_config(path)).formats == ("zarr",)


@pytest.mark.parametrize("zarr, message", [
    ("chunks = [16, 8, 256]", "[zarr] tomocupy.zarr: exports must be among ['uint8', 'uint16'], chunks three "
     "even numbers [z, y, x] (z 2 to 512, y and x 16 to 2048)"),
    ("chunks = [16, 255, 256]", "zarr.chunks.1: 255 is not a multiple of 2"),
    ("chunks = [16, 256]", "zarr.chunks: [16, 256] is too short"),
    ("chunk = 64", "zarr: unknown key(s) 'chunk'"),
])
def test_bad_ome_zarr_settings_are_refused_when_the_file_is_read(tmp_path: Path, zarr, message):
    """Not first on the endpoint: the [zarr] section is held to the step's own rule (zarr_options)."""
    path = tmp_path / "experiment.toml"
    path.write_text(experiment_toml() + f"\n[zarr]\n{zarr}\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)
    path.write_text(experiment_toml() + "\n[zarr]\nchunks = [64, 64, 64]\n")
    assert load_config(path).zarr == {"chunks": [64, 64, 64]}


def _with_compute(tmp_path: Path, compute: str, pbs: str = "") -> Path:
    text = experiment_toml().replace('executable = "tomocupy"\n', f'executable = "tomocupy"\n{compute}')
    text = text.replace('account = "TOMO"\n', f'account = "TOMO"\n{pbs}')
    path = tmp_path / "experiment.toml"
    path.write_text(text)
    return path


def test_time_limits_hold_to_the_walltime(tmp_path: Path):
    """timeout < walltime - 300 s <= the step's WaitTime: derived from the walltime when left out,
    and by default they fit ALCF's debug queue (at most 1 h: ALCF's "Running Jobs on Polaris",
    argonne-lcf/user-guides docs/polaris/running-jobs/index.md, queue table)."""
    config = load_config(_with_compute(tmp_path, "", 'walltime = "01:00:00"\n'))
    assert (config.timeout, config.wait_time) == (3000.0, 3300 + 3600)
    config = load_config(_with_compute(tmp_path, "", 'walltime = "02:00:00"\n'))
    assert (config.timeout, config.wait_time) == (6600.0, 6900 + 3600)
    config = load_config(_with_compute(tmp_path, "wait_time = 3300\ntimeout = 3299\n"))
    assert (config.timeout, config.wait_time) == (3299.0, 3300)
    default = time_budget()
    assert default.walltime == 3600 and default.timeout < default.walltime - TIME_MARGIN <= default.wait_time


def test_the_flow_schema_defaults_hold_together():
    """The web form's defaults (timeout, walltime) and the exported definition's WaitTime come from
    the same budget: the old 6900 s timeout against a 01:00:00 walltime was PBS killing the job."""
    flows = Path(__file__).parents[1] / "flows"
    block = json.loads((flows / "tomocupy.schema.json").read_text())["properties"]["input"]["properties"]
    timeout = block["tomocupy"]["properties"]["timeout"]["default"]
    walltime = block["tomocupy_endpoint_config"]["properties"]["walltime"]["default"]
    definition = json.loads((flows / "tomocupy.definition.json").read_text())
    budget = time_budget(walltime, timeout, definition["States"]["TomocupyRecon"]["WaitTime"])
    assert budget.timeout < budget.walltime - TIME_MARGIN <= budget.wait_time


@pytest.mark.parametrize("compute, pbs", [
    ("wait_time = 1800\n", 'walltime = "01:00:00"\n'),      # Flows gives up while the job still runs
    ("timeout = 3400\n", 'walltime = "01:00:00"\n'),        # PBS kills the job before tomocupy's limit
    ("timeout = 3300\n", 'walltime = "01:00:00"\n'),        # ...or leaves no time after it
    ("", 'walltime = "00:05:00"\n'),                        # no time to reconstruct at all
])
def test_incoherent_time_limits_are_refused_naming_the_three_values(tmp_path: Path, compute, pbs):
    with pytest.raises(ConfigError) as caught:
        load_config(_with_compute(tmp_path, compute, pbs))
    message = str(caught.value)
    assert "the time limits do not nest" in message
    assert re.search(r"timeout [0-9.-]+ s, walltime [0-9:]+ \([0-9]+ s\), wait_time [0-9]+ s", message)
