"""From experiment + scan + parameters to the flow input, with POSIX <-> Globus paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from tomocupy_gladier.compute.metadata import zarr_location
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.experiment.schema import CollectionPath
from tomocupy_gladier.tools.notify.flow_input import NotifyBlock
from tomocupy_gladier.tools.previews.flow_input import PreviewsBlock
from tomocupy_gladier.tools.publish.flow_input import Publishv2Block
from tomocupy_gladier.tools.recon.flow_input import EndpointConfig, TomocupyBlock
from tomocupy_gladier.tools.return_data.flow_input import ReturnDataBlock
from tomocupy_gladier.planning.flow_input import build_flow_input, recon_parameters, run_label
from tomocupy_gladier.flows import TomocupyFlow, TomocupyReconFlow
from tomocupy_gladier.experiment.collection_paths import Collection
from tomocupy_gladier.tools.output_folders import tomocupy_output
from tomocupy_gladier.experiment.validation import validate_flow_input

from tests.conftest import FACILITY, PUBLISH


def with_ids(body: dict) -> dict:
    """Add the function ids Gladier fills in when it registers the functions."""
    fid = "66666666-6666-4666-8666-666666666666"
    names = TomocupyFlow.flow_schema["properties"]["input"]["required"]
    body["input"].update({n: fid for n in names if n.endswith("_function_id")})
    return body


def test_parameters_layer_defaults_overrides_and_type(experiment: Path):
    config = load_config(experiment)
    recon = recon_parameters(config, {"binning": 1, "rotation-axis": None}, "full")
    assert recon == {"rotation-axis": 256.5, "binning": 1, "reconstruction-type": "full", "command": "recon"}


def test_flow_input_for_a_scan_named_relative_to_the_beamline_folder(experiment: Path):
    config = load_config(experiment)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    data = body["input"]
    assert data["source"]["path"] == "/scan1.h5"
    assert data["destination"] == {"id": FACILITY, "path": "/raw/scan1.h5"}
    assert data["tomocupy"]["file_name"] == str(experiment.parent / "facility/raw/scan1.h5")
    publish = data["publishv2"]
    assert publish["dataset"] == str(experiment.parent / "facility/raw_rec/scan1_rec")
    assert publish["destination_collection"] == PUBLISH
    assert (publish["enable_transfer"], publish["enable_publish"], publish["enable_meta_dc"]) == (True, True, True)
    assert publish["checksum_algorithms"] == ["sha256"]
    validate_flow_input(TomocupyFlow.flow_schema, with_ids(body))


def test_the_flows_scan_naming_leaves_a_command_line_input_as_it_is(experiment: Path):
    """The tomocupy flow's LocateScan names the scan at the facility from its beamline path (the
    start form gives folders); an input built here already holds those paths, and keeps them."""
    from tomocupy_gladier.clients.client_factory import offline_client
    from tomocupy_gladier.local.jsonpath import render_parameters

    config = load_config(experiment)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    locate = offline_client("tomocupy").get_flow_definition()["States"]["LocateScan"]
    found = render_parameters(locate["Parameters"], body)
    assert found == {"destination_path": body["input"]["destination"]["path"],
                     "file_name": body["input"]["tomocupy"]["file_name"]}


def test_a_scan_given_by_its_posix_path(experiment: Path):
    config = load_config(experiment)
    scan = str(experiment.parent / "beamline" / "scan1.h5")
    body = build_flow_input(config, scan, recon_parameters(config))
    assert body["input"]["source"]["path"] == "/scan1.h5"


def test_a_scan_outside_the_collection_is_refused(experiment: Path, tmp_path: Path):
    config = load_config(experiment)
    outside = tmp_path.parent / "elsewhere.h5"
    with pytest.raises(UserError, match="is outside collection"):
        build_flow_input(config, str(outside), recon_parameters(config))


def test_a_missing_scan_is_refused_before_anything_starts(experiment: Path):
    config = load_config(experiment)
    with pytest.raises(UserError, match="scan not found: .*beamline/scan9.h5"):
        build_flow_input(config, "scan9.h5", recon_parameters(config))


def test_recon_flow_input_has_no_transfer(experiment: Path):
    config = load_config(experiment)
    (experiment.parent / "facility/raw/scan1.h5").write_bytes(b"x")
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "try"), flow="recon")
    assert "source" not in body["input"]
    validate_flow_input(TomocupyReconFlow.flow_schema, with_ids(body))


def test_paths_translate_both_ways_and_refuse_escapes():
    eagle = Collection("x", Path("/eagle/tomo"))  # type: ignore[arg-type]
    assert str(eagle.to_posix("/raw/a.h5")) == "/eagle/tomo/raw/a.h5"
    assert str(eagle.to_globus("/eagle/tomo/raw/a.h5")) == "/raw/a.h5"
    with pytest.raises(UserError):
        eagle.to_posix("/raw/../../etc/passwd")


@pytest.mark.parametrize("rtype, out, expected", [
    ("full", None, "/d/x_rec/scan_rec"),
    ("try", None, "/d/x_rec/try_center/scan"),
    ("full", "/elsewhere/vol", "/elsewhere/vol"),
])
def test_expected_output_follows_tomocupys_convention(rtype, out, expected):
    from pathlib import PurePosixPath

    assert str(tomocupy_output(PurePosixPath("/d/x/scan.h5"), rtype, out)) == expected


def test_run_labels_fit_the_flows_limit(experiment: Path):
    config = load_config(experiment)
    label = run_label(config, "a" * 100 + ".h5", {"reconstruction-type": "full"})
    assert len(label) <= 64


RETURN = "77777777-7777-4777-8777-777777777777"


def _with_return(experiment: Path, what: str | None = None) -> Path:
    from tests.conftest import experiment_toml

    (experiment.parent / "analysis").mkdir(exist_ok=True)
    text = experiment_toml(f'"{RETURN}" = "analysis"\n') + \
        f'\n[return]\ncollection = "{RETURN}"\npath = "/incoming"\n'
    if what:
        text += f'what = "{what}"\n'
    experiment.write_text(text)
    return experiment


def test_without_a_return_section_the_flag_is_explicitly_false(experiment: Path):
    config = load_config(experiment)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    assert body["input"]["return_data"] == {"enable": False}
    validate_flow_input(TomocupyFlow.flow_schema, with_ids(body))


@pytest.mark.parametrize("rtype, what", [("full", None), ("full", "reconstruction"), ("try", None)])
def test_the_return_block_says_what_and_to_which_folder_only(experiment: Path, rtype, what):
    """Which of this run's folders goes back, and its subfolder there, are worked out in the
    flow (tests/test_return_data.py), as for a run started from a form."""
    config = load_config(_with_return(experiment, what))
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, rtype))
    assert body["input"]["return_data"] == {"enable": True, "what": what or "previews",
                                            "destination": {"id": RETURN, "path": "/incoming"}}
    validate_flow_input(TomocupyFlow.flow_schema, with_ids(body))


def test_an_enabled_return_needs_its_paths_in_the_input(experiment: Path):
    from tomocupy_gladier.errors import FlowInputError

    config = load_config(_with_return(experiment))
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    del body["input"]["return_data"]["destination"]
    with pytest.raises(FlowInputError, match="'destination' is a required property"):
        validate_flow_input(TomocupyFlow.flow_schema, with_ids(body))
    del body["input"]["return_data"]
    with pytest.raises(FlowInputError, match="'return_data' is a required property"):
        validate_flow_input(TomocupyFlow.flow_schema, with_ids(body))


def _schema_of(block: dict) -> tuple[set, set]:
    return set(block["properties"]), set(block.get("required", []))


def test_the_typed_blocks_follow_the_flow_input_schema():
    """The flow input's type, built from the steps' blocks, names every section and key the schema has (function ids aside), and
    what the schema requires is required there too."""
    from tomocupy_gladier.tools import registry

    schema = TomocupyFlow.flow_schema["properties"]["input"]
    inputs, required = _schema_of(schema)
    data = registry.input_type_of(TomocupyFlow.steps)
    assert set(data.__annotations__) == {k for k in inputs if not k.endswith("_function_id")}
    assert {k for k in required if not k.endswith("_function_id")} - {"source", "destination"} \
        <= data.__required_keys__  # source/destination: TomocupyFlow only
    blocks = {"tomocupy": TomocupyBlock, "publishv2": Publishv2Block,
              "return_data": ReturnDataBlock, "previews": PreviewsBlock,
              "notify": NotifyBlock,
              "tomocupy_endpoint_config": EndpointConfig,
              "source": CollectionPath, "destination": CollectionPath}
    for name, typed in blocks.items():
        keys, needed = _schema_of(schema["properties"][name])
        # Publishv2 takes keys the flow never sets (entry_id, recursive_transfer)
        assert set(typed.__annotations__) <= keys, name
        assert needed <= typed.__required_keys__, name


def test_built_blocks_have_exactly_their_typed_keys(experiment: Path):
    from tomocupy_gladier.tools import registry

    config = load_config(experiment)
    data = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))["input"]
    assert set(data) == set(registry.input_type_of(TomocupyFlow.steps).__annotations__)
    # the plan adds how the axis was decided (tomocupy.axis) once it has decided
    assert set(data["tomocupy"]) == set(TomocupyBlock.__annotations__) - {"axis"}
    assert set(data["publishv2"]) == set(Publishv2Block.__annotations__)
    assert ReturnDataBlock.__required_keys__ <= set(data["return_data"]) \
        <= set(ReturnDataBlock.__annotations__)


def test_the_zarr_section_and_the_https_address_reach_the_endpoint_and_the_record(experiment: Path):
    text = experiment.read_text().replace('path = "/published"',
                                          'path = "/published"\nhttps_url = "https://g-1a2b.data.globus.org"')
    experiment.write_text(text + '\n[zarr]\nexports = ["uint16"]\npercentiles = [1, 99]\n')
    config = load_config(experiment)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    validate_flow_input(TomocupyFlow.flow_schema, with_ids(body))
    data = body["input"]
    assert data["tomocupy"]["zarr"] == {"exports": ["uint16"], "percentiles": [1, 99]}
    publish = data["publishv2"]
    dataset = Path(publish["dataset"])
    entries = [{"path": f"{name}/{leaf}"} for name in ("volume.ome.zarr", "volume_uint16.ome.zarr")
               for leaf in (".zattrs", "0/.zarray")]
    located = zarr_location(dataset, entries, publish)
    assert [z["path"] for z in located] == ["volume.ome.zarr", "volume_uint16.ome.zarr"]
    assert located[0]["url"] == f"globus://{PUBLISH}/published/cells/scan1_rec/volume.ome.zarr"
    assert located[0]["https_url"] == "https://g-1a2b.data.globus.org/published/cells/scan1_rec/volume.ome.zarr"


def test_the_zarr_is_turned_off_per_experiment_and_bad_settings_are_refused(experiment: Path):
    experiment.write_text(experiment.read_text() + "\n[zarr]\nenable = false\n")
    config = load_config(experiment)
    data = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))["input"]
    assert data["tomocupy"]["zarr"] == {"enable": False}
    experiment.write_text(experiment.read_text().replace("enable = false", "chunk = 2"))
    with pytest.raises(UserError, match="zarr"):
        load_config(experiment)
