"""TomocupyInteractiveFlow: a try, the choice of the centre by the scientist, the full volume."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from tomocupy_gladier.clients.client_factory import local_backend, make_client, offline_client
from tomocupy_gladier.runs.choice import waiting_choice
from tomocupy_gladier.cli import main
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.tools.choice.tool import (
    WAIT_FOR_OPTION_URL,
    make_choice_options,
)

from tests.conftest import end_runs
from tests.test_local_flow import engine_experiment  # noqa: F401 (the fixture)


def wait_for(predicate, timeout: float = 240.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def result_of(record: dict, state: str) -> dict:
    return record["details"]["output"][state]["details"]["results"][0]["output"]


# ---------------------------------------------------------------------------------- definition

def test_the_flow_tries_publishes_the_montage_waits_then_runs_the_full_flow():
    definition = offline_client("interactive").get_flow_definition()
    states = definition["States"]
    order, name = [], definition["StartAt"]
    while name:
        order.append(name)
        state = states[name]
        name = state.get("Next") or state.get("Default")
    assert order[:4] == ["LocateScan", "ScanAtFacility", "ScanFile", "TryScanFile"]
    assert order[4:15] == ["Transfer", "TryRecon", "TryPreviews", "PublishMontageChoice",
                           "PublishMontageSkipped", "MakeChoiceOptions", "NotifyWaitingChoice",
                           "NotifyWaitingSkipped", "WaitForChoice", "ChosenCentre", "TomocupyRecon"]
    assert states["TryScanFile"]["ResultPath"] == "$.input.interactive.try_tomocupy.file_name"
    assert order[-5:] == ["ReturnDataSkipped", "RetentionChoice", "RetentionSkipped", "NotifyChoice",
                          "NotifySkipped"]
    assert "Publishv2GatherMetadata" in order
    wait = states["WaitForChoice"]
    assert wait["ActionUrl"] == WAIT_FOR_OPTION_URL
    assert wait["Parameters"] == {
        "options.$": "$.MakeChoiceOptions.details.results[0].output.options",
        "landing_page.$": "$.MakeChoiceOptions.details.results[0].output.landing_page"}
    # the chosen option's parameters flow into the full reconstruction by JSONPath
    chosen = states["ChosenCentre"]["Parameters"]
    assert chosen["recon.="] == ("MakeChoiceOptions.details.results[0].output.recon"
                                 "[WaitForChoice.details.name]")
    for state in ("TomocupyRecon", "MakePreviews", "ScanMetadata"):
        assert states[state]["Parameters"]["tasks"][0]["kwargs"]["recon.$"] == "$.ChosenCentre.recon"
    try_kwargs = states["TryRecon"]["Parameters"]["tasks"][0]["kwargs"]
    assert try_kwargs["recon.$"] == "$.input.interactive.try_recon"
    assert states["TryRecon"]["Parameters"]["tasks"][0]["function_id.$"] == "$.input.tomocupy_recon_function_id"


def test_validate_accepts_the_interactive_flow():
    result = CliRunner().invoke(main, ["validate", "--flow", "interactive"])
    assert result.exit_code == 0, result.output


def test_options_are_the_suggestion_then_the_ranked_candidates_in_the_providers_shape():
    previews = {"suggested_center": 34.37, "montage": {"file": "/f/previews/try_montage.png"},
                "ranking": [{"center": 34.5, "rank": 1}, {"center": 34.0, "rank": 2},
                            {"center": 35.0, "rank": 3}, {"center": 33.5, "rank": 4}]}
    made = make_choice_options(previews_result=previews, recon={"reconstruction-type": "full",
                                                                "rotation-axis-auto": "auto"},
                               interactive={"choices": 3, "try_tomocupy": {"file_name": "/d/scan1.h5"}},
                               run_id="r1")
    names = [o["name"] for o in made["options"]]
    assert names == ["centre 34.37", "centre 34.50", "centre 34.00"]
    assert all(set(o) == {"name", "description", "url_suffix", "completed_message"} for o in made["options"])
    assert len({o["url_suffix"] for o in made["options"]}) == 3
    assert all(o["url_suffix"].startswith("r1-") for o in made["options"])
    assert made["landing_page"]["url_suffix"] == "r1-choose"
    assert made["centers"]["centre 34.50"] == 34.5
    assert made["recon"]["centre 34.37"] == {"reconstruction-type": "full", "rotation-axis": 34.37,
                                             "rotation-axis-auto": "manual"}
    with pytest.raises(ValueError, match="suggest no centre"):
        make_choice_options(previews_result={}, recon={}, interactive={}, run_id="r1")


# ---------------------------------------------------------------------------------- end to end

def test_interactive_run_waits_for_choose_then_reconstructs_at_the_chosen_centre(engine_experiment, request):
    # a run the test leaves waiting for its choice is ended at teardown
    request.addfinalizer(lambda: end_runs(engine_experiment.parent / ".tomocupy-gladier"))
    runner = CliRunner()
    config_path = str(engine_experiment)
    started = runner.invoke(main, ["run", "scan1.h5", "--config", config_path, "--interactive",
                                   "--no-follow"], catch_exceptions=False)
    assert started.exit_code == 0, started.output
    run_id = started.output.strip().splitlines()[-1]
    config = load_config(engine_experiment)
    client = make_client("interactive", config)

    early = runner.invoke(main, ["choose", run_id, "--config", config_path, "--suggested"])
    if early.exit_code != 0:  # before the run waits: a clear refusal, no traceback
        assert early.exit_code == 2 and "does not wait for a choice yet" in early.output
        assert "Traceback" not in early.output

    waiting = wait_for(lambda: waiting_choice(client, run_id), what="the choice")
    centres = [o.center for o in waiting.options]
    assert 2 <= len(centres) <= 8 and abs(centres[0] - 34.5) <= 1.0
    assert waiting.options[0].url.startswith(f"http://127.0.0.1:8765/runs/{run_id}/choose?option=")
    assert (engine_experiment.parent / "portal/published/cells/try_center/scan1/previews/try_montage.png").exists()

    status = runner.invoke(main, ["status", run_id, "--config", config_path], catch_exceptions=False)
    assert "waits for a choice" in status.output and waiting.options[1].name in status.output

    wanted = waiting.options[2].center + 0.04  # not offered: the nearest offered centre is taken
    chosen = runner.invoke(main, ["choose", run_id, "--config", config_path, "--center", str(wanted)],
                           catch_exceptions=False)
    assert chosen.exit_code == 0, chosen.output
    assert "is not one of the offered centres" in chosen.output
    assert f"{waiting.options[2].center:.2f}" in chosen.output

    final = local_backend(config).wait(run_id, timeout=300)
    assert final["status"] == "SUCCEEDED", final["details"]
    recon = result_of(final, "TomocupyRecon")
    assert recon["rotation_axis"] == waiting.options[2].center
    assert final["details"]["output"]["ChosenCentre"]["center"] == waiting.options[2].center
    assert final["details"]["output"]["WaitForChoice"]["details"] == {
        "name": waiting.options[2].name, "url_suffix": waiting.options[2].url_suffix}
    published = engine_experiment.parent / "portal/published/cells/scan1_rec"
    assert (published / "recon_00003.tiff").exists()
    record = result_of(final, "ScanMetadata")["metadata"]["tomography"]
    assert record["parameters"]["rotation-axis"] == waiting.options[2].center
    assert record["parameters"]["reconstruction-type"] == "full"

    again = runner.invoke(main, ["choose", run_id, "--config", config_path, "--suggested"])
    assert again.exit_code == 2 and "SUCCEEDED" in again.output and "Traceback" not in again.output


# ---------------------------------------------------------------------------------- start form

def test_the_deployed_start_form_filled_from_its_defaults_plus_the_scan_starts_the_flow(tmp_path):
    from tomocupy_gladier.demo.demo import EXPERIMENT_TOML
    from tomocupy_gladier.flows.start_form import deployed_schema
    from tomocupy_gladier.flows import TomocupyInteractiveFlow
    from tomocupy_gladier.experiment.validation import validate_flow_input

    from tests.test_start_form import FUNCTION_IDS, filled_from_defaults, problems, with_scan

    path = tmp_path / "experiment.toml"
    path.write_text(EXPERIMENT_TOML)
    config = load_config(path)
    ids = {**FUNCTION_IDS, "make_choice_options_function_id": "aaaaaaaa-0000-4000-8000-000000000005"}
    form = deployed_schema(TomocupyInteractiveFlow.flow_schema, config, ids)
    body = with_scan(filled_from_defaults(form), "tomocupy")
    # the scan is typed once: the flow names the try's file too (TryScanFile)
    assert body["input"]["interactive"]["try_tomocupy"]["file_name"].endswith("/")

    assert problems(form, body) == []
    validate_flow_input(form, body)
    block = body["input"]["interactive"]
    assert block["try_recon"]["reconstruction-type"] == "try" and block["choices"] == 8
    assert block["montage"] == {"enable": False}
    assert body["input"]["recon"]["reconstruction-type"] == "full"
    # publishing the montage asks for both pickers
    block["montage"]["enable"] = True
    assert any("montage" in p for p in problems(form, body))


def test_the_exported_interactive_schema_passes_the_globus_meta_schema():
    from tests.test_start_form import REPO, META_SCHEMA
    import jsonschema

    schema = json.loads((REPO / "flows" / "interactive.schema.json").read_text())
    jsonschema.Draft202012Validator(META_SCHEMA).validate(schema)
    order = schema["properties"]["input"]["propertyOrder"]
    assert order.index("recon") < order.index("interactive") < order.index("publishv2")


def test_a_followed_interactive_run_lists_its_options_and_ends_after_the_choice(engine_experiment):
    import threading

    config = load_config(engine_experiment)
    client = make_client("interactive", config)
    chosen: list = []

    def answer() -> None:
        from tomocupy_gladier.runs.choice import choose

        runs = wait_for(lambda: client.flows_manager.list_runs(), what="the run")
        wait_for(lambda: waiting_choice(client, runs[0]["run_id"]), what="the choice")
        time.sleep(2)  # the scientist reads the options `run` prints (it looks twice a second)
        chosen.append(choose(client, runs[0]["run_id"], suggested=True)[0])

    helper = threading.Thread(target=answer, daemon=True)
    helper.start()
    result = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(engine_experiment),
                                       "--flow", "interactive"], catch_exceptions=False)
    helper.join(10)
    assert result.exit_code == 0, result.output
    assert "waits for a choice of the rotation axis" in result.output
    assert f"{chosen[0].name} (suggested): http://127.0.0.1:8765/runs/" in result.output
    assert f"rotation axis: {chosen[0].center:.2f} px, rotation-axis option, chosen during the run" in result.output


def test_the_try_and_the_full_reconstruction_wait_as_long_as_the_experiment_says():
    definition = offline_client("interactive", recon_wait_time=5400).get_flow_definition()
    assert definition["States"]["TryRecon"]["WaitTime"] == 5400
    assert definition["States"]["TomocupyRecon"]["WaitTime"] == 5400


def test_choose_needs_exactly_one_answer_and_a_known_run(experiment):
    runner = CliRunner()
    neither = runner.invoke(main, ["choose", "r1", "--config", str(experiment)])
    both = runner.invoke(main, ["choose", "r1", "--config", str(experiment), "--suggested", "--center", "1"])
    unknown = runner.invoke(main, ["choose", "no-such-run", "--config", str(experiment), "--suggested"])
    assert neither.exit_code == both.exit_code == unknown.exit_code == 2
    assert "give --center X or --suggested" in neither.output + both.output
    assert "no run no-such-run" in unknown.output and "Traceback" not in unknown.output
