"""The input schema: what the web form shows and what it refuses, with messages naming the field."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from tomocupy_gladier import __version__
from tomocupy_gladier.errors import FlowInputError
from tomocupy_gladier.flows import TomocupyFlow
from tomocupy_gladier.experiment.options import RECON_OPTIONS, default_params, recon_schema, recon_variant
from tomocupy_gladier.experiment.validation import validate_flow_input

from tests.conftest import ENDPOINT, FACILITY, INDEX, PUBLISH, SOURCE

FID = "66666666-6666-4666-8666-666666666666"


def good_input() -> dict:
    return {"input": {
        "source": {"id": SOURCE, "path": "/data/scan1.h5"},
        "destination": {"id": FACILITY, "path": "/raw/scan1.h5"},
        "transfer_recursive": False,
        "transfer_sync_level": 3,
        "recon": {"command": "recon", "reconstruction-type": "full", "rotation-axis": 1024.5,
                  "remove-stripe-method": "vo-all", "minus-log": True},
        "tomocupy": {"file_name": "/eagle/raw/scan1.h5", "output": "/eagle/raw_rec/scan1_rec",
                     "logs": "/eagle/raw_rec/scan1_rec.logs"},
        "compute_endpoint": ENDPOINT,
        "tomocupy_recon_function_id": FID,
        "tomocupy_endpoint_config": {"queue": "debug", "account": "TOMO", "walltime": "00:30:00", "nodes": 1},
        "publishv2": {"dataset": "/eagle/raw_rec/scan1_rec", "destination": "/published",
                      "source_collection": FACILITY, "destination_collection": PUBLISH, "index": INDEX,
                      "visible_to": ["public"], "enable_transfer": True, "enable_publish": True,
                      "enable_meta_dc": True},
        "publishv2_gather_metadata_function_id": FID,
        "previews": {},
        "make_previews_function_id": FID,
        "scan_metadata_function_id": FID,
        "return_data": {"enable": False},
        "retention": {"enable": False},
        "retention_targets_function_id": FID,
        "notify": {"enable": False},
        "tomocupy_gladier_version": __version__,
    }}


def problems_of(body) -> list[str]:
    with pytest.raises(FlowInputError) as err:
        validate_flow_input(TomocupyFlow.flow_schema, body)
    return err.value.problems


def test_a_complete_input_passes():
    validate_flow_input(TomocupyFlow.flow_schema, good_input())


def test_schema_is_valid_json_schema_and_renders_as_a_form():
    schema = TomocupyFlow.flow_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    inner = schema["properties"]["input"]["properties"]
    assert inner["source"]["format"] == "globus-collection"
    assert set(inner["source"]["properties"]) == {"id", "path"}
    assert inner["compute_endpoint"]["format"] == "uuid"
    assert inner["publishv2"]["properties"]["index"]["format"] == "uuid"
    for form in inner["recon"]["oneOf"]:
        for name, prop in form["properties"].items():
            assert prop.get("title") and prop.get("description"), f"{name} needs a title and a description"


def test_every_exposed_option_has_tomocupys_default_and_choices():
    props = recon_variant(recon_schema())["properties"]
    assert props["fbp-filter"]["default"] == "parzen"
    assert props["fbp-filter"]["enum"] == ["none", "ramp", "shepp", "hann", "hamming", "parzen", "cosine", "cosine2"]
    assert props["minus-log"]["type"] == "boolean" and props["minus-log"]["default"] is True
    assert props["binning"]["enum"] == [0, 1, 2, 3]
    assert props["rotation-axis-method"]["enum"] == ["sift", "vo"]
    assert default_params("recon")["reconstruction-algorithm"] == "fourierrec"
    assert len(RECON_OPTIONS) >= 30


def test_wrong_enum_names_the_field_and_the_allowed_values():
    body = good_input()
    body["input"]["recon"]["fbp-filter"] = "shep"
    [problem] = problems_of(body)
    assert problem.startswith("input.recon.fbp-filter: 'shep' is not allowed")
    assert "'shepp'" in problem and "'parzen'" in problem


def test_wrong_type():
    body = good_input()
    body["input"]["recon"]["rotation-axis"] = "middle"
    assert problems_of(body) == ["input.recon.rotation-axis: expected number, got 'middle'"]


def test_unknown_key_is_refused_with_the_known_ones():
    body = good_input()
    body["input"]["recon"]["rotation-axes"] = 5
    [problem] = problems_of(body)
    assert "unknown key(s) 'rotation-axes'" in problem and "rotation-axis" in problem


def test_missing_collection():
    body = good_input()
    del body["input"]["destination"]
    assert problems_of(body) == ["input: 'destination' is a required property"]


def test_bad_uuid():
    body = good_input()
    body["input"]["source"]["id"] = "aps-2bm"
    assert problems_of(body)[0].startswith("input.source.id: 'aps-2bm' is not a valid")


def test_out_of_range_number():
    body = good_input()
    body["input"]["recon"]["nsino-per-chunk"] = 0
    assert problems_of(body) == ["input.recon.nsino-per-chunk: 0 is less than the minimum of 1"]


def test_options_of_the_other_command_are_refused_by_name():
    body = good_input()
    body["input"]["recon"]["energy"] = 25.0
    assert problems_of(body) == ["input.recon.energy: only valid with command 'recon_steps', not 'recon'"]


def test_choices_that_depend_on_the_command():
    body = good_input()
    body["input"]["recon"].update({"command": "recon_steps", "reconstruction-algorithm": "lprec"})
    [problem] = problems_of(body)
    assert "'lprec' is not allowed with command 'recon_steps'" in problem


def test_phase_retrieval_is_accepted_for_recon_steps():
    body = good_input()
    body["input"]["recon"].update({"command": "recon_steps", "retrieve-phase-method": "paganin",
                                   "energy": 25.0, "propagation-distance": 60.0, "pixel-size": 0.69,
                                   "retrieve-phase-alpha": 0.001, "rotate-proj-angle": 1.5})
    validate_flow_input(TomocupyFlow.flow_schema, body)


def test_the_schema_alone_enforces_command_rules_too():
    """A client that only has the JSON schema (the web app) refuses the same input."""
    body = copy.deepcopy(good_input())
    body["input"]["recon"]["energy"] = 25.0
    validator = jsonschema.Draft202012Validator(TomocupyFlow.flow_schema)
    assert not validator.is_valid(body)


def test_publication_flags_are_required():
    body = good_input()
    del body["input"]["publishv2"]["enable_publish"]
    assert problems_of(body) == ["input.publishv2: 'enable_publish' is a required property"]


def test_an_enabled_return_needs_paths_and_a_known_what():
    body = good_input()
    body["input"]["return_data"] = {"enable": True, "what": "everything"}
    found = problems_of(body)
    assert "input.return_data: 'destination' is a required property" in found
    assert any(p.startswith("input.return_data.what: 'everything' is not allowed") for p in found)
    body["input"]["return_data"] = {"enable": True, "what": "previews",
                                    "destination": {"id": PUBLISH, "path": "/incoming"}}
    validate_flow_input(TomocupyFlow.flow_schema, body)


# --- a flow's schema comes from its tools' steps (tools/<step>/schema.py) ---------------------


def test_each_flow_requires_what_its_steps_require_and_nothing_else():
    from tomocupy_gladier.flows import FLOWS
    from tomocupy_gladier.tools.registry import steps_of

    for name, flow in FLOWS.items():
        steps = steps_of(flow.gladier_tools)
        inner = flow.flow_schema["properties"]["input"]
        assert set(inner["properties"]) == {p for s in steps for p in s.properties}, name
        assert inner["required"] == [r for s in steps for r in s.required], name
        assert "notify" in {s.name for s in steps}  # every flow ends by notifying


def test_a_flow_without_a_step_has_no_input_of_it():
    from tomocupy_gladier.flows import TomocupyFlow
    from tomocupy_gladier.tools.registry import flow_schema_of, steps_of
    from tomocupy_gladier.tools.return_data.tool import ReturnData

    tools = [t for t in TomocupyFlow.gladier_tools if t is not ReturnData]
    inner = flow_schema_of(steps_of(tools), title="t", description="d")["properties"]["input"]
    assert "return_data" not in inner["properties"] and "return_data" not in inner["required"]


def test_a_tool_of_no_step_is_refused():
    from gladier import GladierBaseTool

    from tomocupy_gladier.tools.registry import steps_of

    class Stray(GladierBaseTool):
        flow_definition = {"StartAt": "Stray", "States": {"Stray": {"Type": "Pass", "End": True}}}

    with pytest.raises(ValueError, match="Stray"):
        steps_of([Stray])


def test_a_step_describes_every_input_it_requires():
    from tomocupy_gladier.tools.step import Step

    with pytest.raises(ValueError, match="nowhere"):
        Step("broken", (), {"here": {"type": "string"}}, ("here", "nowhere"))
