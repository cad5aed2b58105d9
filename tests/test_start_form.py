"""The input schema as the start form of the Globus web app: what a scientist sees and sends.

A form fills every field from its default; the scientist adds the scan. These tests build that
input from the schema alone and check that the flow accepts it, that each rule of the schema
fires only on the field it names, that the fields come in the documented order with titles a
scientist reads, and that every schema passes the Globus input-schema meta-schema.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.demo.demo import EXPERIMENT_TOML
from tomocupy_gladier.flows.start_form import deployed_schema
from tomocupy_gladier.globus.deployment import start_page
from tomocupy_gladier.errors import FlowInputError
from tomocupy_gladier.flows import TomocupyFlow, TomocupyReconFlow
from tomocupy_gladier.experiment.options import COMMANDS, command_only_options, recon_variant
from tomocupy_gladier.experiment.validation import validate_flow_input
from tomocupy_gladier.tools.publish.config import publish_config
from tomocupy_gladier.tools.return_data.config import return_config

REPO = Path(__file__).resolve().parent.parent
META_SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "globus" / "input_schema_schema.json").read_text())
FLOW_CLASSES = {"tomocupy": TomocupyFlow, "recon": TomocupyReconFlow}
FUNCTION_IDS = {
    "tomocupy_recon_function_id": "aaaaaaaa-0000-4000-8000-000000000001",
    "make_previews_function_id": "aaaaaaaa-0000-4000-8000-000000000002",
    "scan_metadata_function_id": "aaaaaaaa-0000-4000-8000-000000000003",
    "publishv2_gather_metadata_function_id": "aaaaaaaa-0000-4000-8000-000000000004",
    "retention_targets_function_id": "aaaaaaaa-0000-4000-8000-000000000005",
}


def filled_from_defaults(schema: dict[str, Any]) -> Any:
    """What a form sends untouched: every field with a default gets it; an object is sent when it
    is required or something inside it has a default; of a choice of forms, the first."""
    if "default" in schema:
        return copy.deepcopy(schema["default"])
    if schema.get("oneOf"):
        return filled_from_defaults(schema["oneOf"][0])  # the form shown first
    if schema.get("type") != "object":
        return None
    out = {}
    for name, prop in schema.get("properties", {}).items():
        value = filled_from_defaults(prop)
        if value is None or (value == {} and name not in schema.get("required", [])):
            continue
        out[name] = value
    return out


@pytest.fixture
def demo_config(tmp_path: Path):
    path = tmp_path / "experiment.toml"
    path.write_text(EXPERIMENT_TOML)
    return load_config(path)


def form_for(flow: str, config) -> dict[str, Any]:
    return deployed_schema(FLOW_CLASSES[flow].flow_schema, config, FUNCTION_IDS)


def with_scan(body: dict[str, Any], flow: str) -> dict[str, Any]:
    """The scientist's part, typed once: which scan (the beamline picker's path; for data at the
    facility, the path the compute nodes see). The flow that copies the scan names it at the
    facility itself (tools/transfer/)."""
    data = body["input"]
    if flow == "tomocupy":
        data["source"]["path"] += "scan_0001.h5"
    else:
        data["tomocupy"]["file_name"] += "scan_0001.h5"
    return body


def problems(schema: dict[str, Any], body: dict[str, Any]) -> list[str]:
    try:
        validate_flow_input(schema, body)
    except FlowInputError as err:
        return err.problems
    return []


@pytest.mark.parametrize("flow", sorted(FLOW_CLASSES))
def test_the_deployed_form_filled_from_its_defaults_plus_the_scan_starts_the_flow(flow, demo_config):
    form = form_for(flow, demo_config)
    body = with_scan(filled_from_defaults(form), flow)

    assert problems(form, body) == []
    data = body["input"]
    # what the deployment filled in, so the scientist never types it
    assert data["compute_endpoint"] == demo_config.compute_endpoint
    assert {k: data[k] for k in FUNCTION_IDS} == FUNCTION_IDS
    assert data["tomocupy_endpoint_config"] == dict(demo_config.pbs)
    assert data["publishv2"]["index"] == publish_config(demo_config).index
    assert data["publishv2"]["destination_collection"] == publish_config(demo_config).collection
    assert data["publishv2"]["visible_to"] == ["public"]
    # the experiment's own reconstruction defaults replace tomocupy's
    assert data["recon"]["remove-stripe-method"] == "fw" and data["recon"]["reconstruction-type"] == "full"
    # a form run leaves the reconstruction folder to the compute function (tomocupy's own)
    assert "output" not in data["tomocupy"] and "logs" not in data["tomocupy"]
    # as `run` does: sending back is on where the experiment has a [return] section
    back = return_config(demo_config)
    assert data["return_data"] == {"enable": True, "what": back.what,
                                   "destination": {"id": back.collection,
                                                   "path": "/" + back.path.strip("/")}}


@pytest.mark.parametrize("flow", sorted(FLOW_CLASSES))
def test_the_generic_schema_filled_from_its_defaults_is_valid_once_the_facility_is_given(flow):
    """Every default the generic schema offers is accepted: no rule fires on a default."""
    schema = FLOW_CLASSES[flow].flow_schema
    body = filled_from_defaults(schema)
    data = body["input"]
    recon = data["recon"]
    assert recon["command"] == "recon" and "energy" not in recon, "phase defaults only under recon_steps"
    found = problems(schema, body)
    # what is left is the deployment's and the scan's, never a reconstruction setting
    assert found and all(not p.startswith("input.recon") for p in found), found
    assert not any("return_data" in p for p in found), found


def recon_forms() -> dict[str, Any]:
    return TomocupyFlow.flow_schema["properties"]["input"]["properties"]["recon"]


def test_recon_steps_filled_with_its_own_defaults_is_valid():
    steps = recon_variant(recon_forms(), "recon_steps")
    recon = {name: prop["default"] for name, prop in steps["properties"].items() if "default" in prop}
    assert recon["command"] == "recon_steps"
    assert recon["retrieve-phase-method"] == "none" and recon["energy"] == 20.0
    jsonschema.Draft202012Validator(recon_forms()).validate(recon)


@pytest.mark.parametrize("name", command_only_options("recon"))
def test_each_phase_option_under_plain_recon_is_refused_by_its_own_name(name):
    steps_default = recon_variant(recon_forms(), "recon_steps")["properties"][name]["default"]
    body = {"input": {"recon": {"command": "recon", name: steps_default}}}
    found = [p for p in problems(TomocupyReconFlow.flow_schema, body) if p.startswith("input.recon")]
    assert found == [f"input.recon.{name}: only valid with command 'recon_steps', not 'recon'"]
    # the JSON schema alone (the web app, the Flows service) refuses it too
    assert not jsonschema.Draft202012Validator(recon_forms()).is_valid({"command": "recon", name: steps_default})
    assert name not in recon_variant(recon_forms(), "recon")["properties"]


def test_a_choice_narrowed_by_the_command_is_refused_by_its_name():
    body = {"input": {"recon": {"command": "recon_steps", "reconstruction-algorithm": "lprec"}}}
    found = [p for p in problems(TomocupyReconFlow.flow_schema, body) if p.startswith("input.recon")]
    assert found == ["input.recon.reconstruction-algorithm: 'lprec' is not allowed with command "
                     "'recon_steps'; choose one of 'fourierrec', 'linerec'"]


def test_an_unknown_command_is_named():
    body = {"input": {"recon": {"command": "recon_fast"}}}
    found = [p for p in problems(TomocupyReconFlow.flow_schema, body) if p.startswith("input.recon")]
    assert found == ["input.recon.command: 'recon_fast' is not allowed; choose one of 'recon', 'recon_steps'"]


def test_each_command_offers_exactly_what_it_accepts_so_a_form_without_rules_offers_no_refused_choice():
    """One form per command (oneOf), no if/then: a form that draws only the fields of the chosen
    form can offer nothing that command refuses: lprec only under recon, no try_lamino at all."""
    forms = recon_forms()
    assert not any(key in json.dumps(forms) for key in ('"if":', '"then":', '"allOf":'))
    validator = jsonschema.Draft202012Validator(forms)
    for command in COMMANDS:
        form = recon_variant(forms, command)
        assert form["properties"]["command"]["enum"] == [command]
        for name, prop in form["properties"].items():
            for value in prop.get("enum", []):
                assert validator.is_valid({"command": command, name: value}), (command, name, value)
            if "default" in prop:
                assert validator.is_valid({"command": command, name: prop["default"]}), (command, name)
    algorithms = {c: recon_variant(forms, c)["properties"]["reconstruction-algorithm"]["enum"] for c in COMMANDS}
    assert algorithms == {"recon": ["fourierrec", "lprec", "linerec"], "recon_steps": ["fourierrec", "linerec"]}
    for command in COMMANDS:
        assert recon_variant(forms, command)["properties"]["reconstruction-type"]["enum"] == ["full", "try"]
    # recon is what an input without a command means; recon_steps must be named
    assert validator.is_valid({"reconstruction-algorithm": "lprec"})
    assert not validator.is_valid({"energy": 20.0})


def test_the_experiments_command_form_comes_first_and_defaults_stay_within_each_form(demo_config):
    import dataclasses

    config = dataclasses.replace(demo_config, recon={**demo_config.recon, "command": "recon_steps",
                                                     "reconstruction-algorithm": "linerec", "energy": 30.0})
    forms = form_for("recon", config)["properties"]["input"]["properties"]["recon"]["oneOf"]
    assert [f["properties"]["command"]["default"] for f in forms] == ["recon_steps", "recon"]
    assert [f["properties"]["reconstruction-algorithm"]["default"] for f in forms] == ["linerec", "linerec"]
    assert forms[0]["properties"]["energy"]["default"] == 30.0
    lprec = dataclasses.replace(demo_config, recon={**demo_config.recon, "reconstruction-algorithm": "lprec"})
    forms = form_for("recon", lprec)["properties"]["input"]["properties"]["recon"]["oneOf"]
    # lprec is the default where it is a choice, never where it is refused
    assert [f["properties"]["reconstruction-algorithm"]["default"] for f in forms] == ["lprec", "fourierrec"]


def test_the_return_rule_fires_only_when_sending_back_is_on():
    schema = TomocupyReconFlow.flow_schema
    rule_fields = ("input.return_data: 'destination' is a required property",)
    off = problems(schema, {"input": {"return_data": {"enable": False, "what": "previews"}}})
    assert not any(p in off for p in rule_fields)
    on = problems(schema, {"input": {"return_data": {"enable": True}}})
    assert all(p in on for p in rule_fields)
    # which results and where exactly is the flow's to work out: nobody types it
    on = problems(schema, {"input": {"return_data": {"enable": True, "source": {"id": "x", "path": "/"}}}})
    assert "input.return_data: unknown key(s) 'source'; known keys: destination, enable, what" in on
    # without the flag the rule does not fire: only the flag itself is missing
    absent = [p for p in problems(schema, {"input": {"return_data": {}}}) if "return_data" in p]
    assert absent == ["input.return_data: 'enable' is a required property"]


def test_every_checkbox_and_choice_has_a_default():
    def walk(schema: dict[str, Any], where: str, rule_defaults: set[str]):
        for name, prop in schema.get("properties", {}).items():
            here = f"{where}.{name}"
            if (prop.get("type") == "boolean" or "enum" in prop) and name not in rule_defaults:
                assert "default" in prop, f"{here} has no default"
            if prop.get("type") == "object":
                for form in [prop, *prop.get("oneOf", [])]:
                    walk(form, here, set())

    for flow in FLOW_CLASSES.values():
        walk(flow.flow_schema["properties"]["input"], "input", set())


@pytest.mark.parametrize("flow", sorted(FLOW_CLASSES))
def test_fields_come_in_order_scan_first_deployment_last(flow):
    inner = FLOW_CLASSES[flow].flow_schema["properties"]["input"]
    order = inner["propertyOrder"]
    assert order[0] == ("source" if flow == "tomocupy" else "tomocupy")
    assert order.index("recon") < order.index("return_data") < order.index("publishv2")
    functions = [name for name in order if name.endswith("_function_id")]
    assert len(functions) == 5 and order[-5:] == functions
    assert order[-7:-5] == ["tomocupy_endpoint_config", "compute_endpoint"]
    recon_order = recon_variant(inner["properties"]["recon"], "recon_steps")["propertyOrder"]
    assert recon_order[:3] == ["reconstruction-type", "rotation-axis", "rotation-axis-auto"]
    assert recon_order.index("command") < recon_order.index("nsino-per-chunk")
    assert recon_order.index("binning") < recon_order.index("fw-sigma") < recon_order.index("energy")

    def every_object(schema: Any):
        if isinstance(schema, dict):
            if isinstance(schema.get("properties"), dict) and schema["properties"]:
                yield schema
            for value in schema.values():
                yield from every_object(value)
        elif isinstance(schema, list):
            for value in schema:
                yield from every_object(value)

    for obj in every_object(inner):
        if obj.get("type") != "object":
            assert "propertyOrder" not in obj  # a rule's condition or narrowing, not a form section
            continue
        assert sorted(obj["propertyOrder"]) == sorted(obj["properties"]), obj.get("title")


def test_titles_a_scientist_can_tell_apart():
    inner = TomocupyFlow.flow_schema["properties"]["input"]
    titles: list[str] = []

    def walk(schema: dict[str, Any]):
        for name, prop in schema.get("properties", {}).items():
            assert prop.get("title"), f"{name} has no title"
            if prop.get("format") == "globus-collection":
                titles.extend(p["title"] for p in prop["properties"].values())
            if prop.get("type") == "array":
                assert prop["items"].get("title"), f"the items of {name} have no title"
            walk(prop)

    walk(inner)
    assert len(titles) == len(set(titles)) == 6, "each picker's collection and path read differently"
    codes = recon_variant(inner["properties"]["recon"], "recon_steps")["properties"]
    for name, code in (("remove-stripe-method", "fw = Fourier-wavelet"), ("save-format", "h5nolinks ="),
                       ("retrieve-phase-method", "Gpaganin = generalised Paganin")):
        assert code in codes[name]["description"]


@pytest.mark.parametrize("path", sorted((REPO / "flows").glob("*.schema.json")), ids=lambda p: p.name)
def test_exported_schemas_pass_the_globus_input_schema_meta_schema(path):
    jsonschema.Draft7Validator(META_SCHEMA).validate(json.loads(path.read_text()))


@pytest.mark.parametrize("flow", sorted(FLOW_CLASSES))
def test_deployed_schemas_pass_the_globus_input_schema_meta_schema(flow, demo_config):
    jsonschema.Draft7Validator(META_SCHEMA).validate(form_for(flow, demo_config))


def test_the_meta_schema_refuses_keywords_the_web_app_does_not_know():
    """It is stricter than draft-07: a made-up keyword anywhere fails, so the check means something."""
    schema = copy.deepcopy(TomocupyFlow.flow_schema)
    recon_variant(schema["properties"]["input"]["properties"]["recon"])["properties"]["binning"]["x-widget"] = "slider"
    assert not jsonschema.Draft7Validator(META_SCHEMA).is_valid(schema)


def test_the_start_page_is_the_web_apps_run_page_of_the_flow():
    assert start_page("f-1") == "https://app.globus.org/flows/f-1/run"
