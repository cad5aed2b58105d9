"""The interactive flow on Globus, at the HTTP level: deployed with its Wait For User Selection
step, started with its interactive block, and answered through the chosen option's URL."""

from __future__ import annotations

import pytest
import responses

from tomocupy_gladier.runs.choice import ChoiceError, choose, describe, waiting_choice
from tomocupy_gladier.planning.flow_input import recon_parameters
from tomocupy_gladier.flows import TomocupyInteractiveFlow
from tomocupy_gladier.experiment.options import recon_variant
from tomocupy_gladier.globus.gladier_storage import client_with_storage
from tomocupy_gladier.planning.plan import plan_run
from tomocupy_gladier.tools.choice.tool import WAIT_FOR_OPTION_URL, WEBOPTION_SCOPE

from tests.test_globus_http import (  # noqa: F401 (the globus fixture)
    FACILITY,
    FLOW_ID,
    FLOWS_URL,
    PUBLISH,
    StaticLogin,
    body_of,
    calls_to,
    experiment,
    function_id_for,
    globus,
)

RUN_ID = "0a1b2c3d-0000-4000-8000-000000000001"
OPTIONS = [{"name": "centre 1024.37", "description": "suggested", "url_suffix": f"{RUN_ID}-option-0",
            "completed_message": "going on"},
           {"name": "centre 1024.50", "description": "ranked #1", "url_suffix": f"{RUN_ID}-option-1",
            "completed_message": "going on"},
           {"name": "centre 1023.50", "description": "ranked #2", "url_suffix": f"{RUN_ID}-option-2",
            "completed_message": "going on"}]
OPTION_URL = "https://actions.globus.org/weboption/option/{}"


def interactive_client(tmp_path, login=None):
    return client_with_storage(TomocupyInteractiveFlow, tmp_path / "gladier.cfg",
                               login_manager=login or StaticLogin())


def test_the_interactive_flow_is_deployed_with_its_wait_step_and_started_with_its_try(globus, tmp_path):
    config = experiment()
    plan = plan_run(config, "scan1.h5", recon_parameters(config, None, "full"), flow=TomocupyInteractiveFlow,
                    backend="globus", try_recon=recon_parameters(config, None, "try"))
    client = interactive_client(tmp_path)
    client.run_flow(flow_input=plan.body, label=plan.label, tags=plan.tags)

    (create,) = calls_to(globus, "POST", "/flows")
    sent = body_of(create)
    assert sent["definition"]["States"]["WaitForChoice"]["ActionUrl"] == WAIT_FOR_OPTION_URL
    assert sent["input_schema"] == TomocupyInteractiveFlow.flow_schema
    registered = sorted(body_of(c)["function_name"] for c in calls_to(globus, "POST", "/v3/functions"))
    assert registered == ["make_choice_options", "make_previews", "publishv2_gather_metadata",
                          "retention_targets", "scan_metadata", "tomocupy_recon"]

    (run,) = calls_to(globus, "POST", f"/flows/{FLOW_ID}/run")
    flow_input = body_of(run)["body"]["input"]
    assert body_of(run)["label"] == "cells: scan1.h5 (interactive)"
    assert flow_input["make_choice_options_function_id"] == function_id_for("make_choice_options")
    block = flow_input["interactive"]
    assert block["try_recon"]["reconstruction-type"] == "try"
    assert flow_input["recon"]["reconstruction-type"] == "full"
    assert block["try_tomocupy"]["output"] == "/eagle/tomo/raw_rec/try_center/scan1"
    assert block["montage"] == {
        "enable": True,
        "source": {"id": FACILITY, "path": "/raw_rec/try_center/scan1/previews"},
        "destination": {"id": PUBLISH, "path": "/published/cells/try_center/scan1/previews"}}
    # the published record's parameters are the chosen ones, not a placeholder
    assert "parameters" not in flow_input["publishv2"]["metadata"]["tomography"]


def waiting_run(mock: responses.RequestsMock, status: str = "ACTIVE", chosen: bool = False) -> None:
    """A run of the interactive flow at WaitForChoice, as Flows reports it and its log."""
    mock.add(responses.GET, f"{FLOWS_URL}/runs/{RUN_ID}", json={
        "run_id": RUN_ID, "flow_id": FLOW_ID, "status": status, "label": "cells: scan1.h5 (interactive)",
        "details": {"code": "ActionStarted", "description": "State WaitForChoice of type Action started"},
        "start_time": "2026-12-01T10:00:00+00:00"})
    made = {"centers": {o["name"]: float(o["name"].split()[1]) for o in OPTIONS},
            "montage": "/eagle/tomo/raw_rec/try_center/scan1/previews/try_montage.png"}
    entries = [
        {"code": "ActionCompleted", "details": {"state_name": "MakeChoiceOptions", "state_type": "Action",
                                                "output": {"details": {"results": [{"output": made}]}}}},
        {"code": "ActionStarted", "details": {"state_name": "WaitForChoice", "state_type": "Action",
                                              "input": {"options": OPTIONS,
                                                        "landing_page": {"url_suffix": f"{RUN_ID}-choose"}}}},
    ]
    if chosen:
        entries.append({"code": "ActionCompleted", "details": {
            "state_name": "WaitForChoice", "state_type": "Action",
            "output": {"status": "SUCCEEDED", "details": {"name": OPTIONS[1]["name"],
                                                          "url_suffix": OPTIONS[1]["url_suffix"]}}}})
    mock.add(responses.GET, f"{FLOWS_URL}/runs/{RUN_ID}/log", json={"entries": entries, "limit": 100,
                                                                    "has_next_page": False})


def test_status_lists_the_options_at_the_providers_urls(globus, tmp_path):
    waiting_run(globus)
    waiting = waiting_choice(interactive_client(tmp_path), RUN_ID)
    assert [o.url for o in waiting.options] == [OPTION_URL.format(o["url_suffix"]) for o in OPTIONS]
    assert [o.center for o in waiting.options] == [1024.37, 1024.5, 1023.5]
    assert waiting.landing_page_url == f"https://actions.globus.org/weboption/landing_page/{RUN_ID}-choose"
    text = "\n".join(describe(waiting))
    assert "centre 1024.37 (suggested)" in text and f"tomocupy-gladier choose {RUN_ID}" in text


def test_choose_visits_the_nearest_options_url_with_a_token_for_the_providers_scope(globus, tmp_path):
    waiting_run(globus)
    globus.add(responses.GET, OPTION_URL.format(OPTIONS[2]["url_suffix"]), body="going on")
    login = StaticLogin()

    option, note = choose(interactive_client(tmp_path, login), RUN_ID, center=1023.3)

    assert option.name == "centre 1023.50" and "nearest, 1023.50" in note
    (visit,) = [c for c in globus.calls if c.request.url.startswith("https://actions.globus.org/")]
    assert visit.request.method == "GET"
    assert visit.request.headers["Authorization"] == "Bearer flow-run-token"  # granted for the scope
    assert [WEBOPTION_SCOPE] in login.asked


def test_choose_after_the_choice_or_the_run_is_a_clear_error(globus, tmp_path):
    waiting_run(globus, chosen=True)
    with pytest.raises(ChoiceError, match="moved on: centre 1024.50 was chosen"):
        choose(interactive_client(tmp_path), RUN_ID, suggested=True)
    globus.reset()
    waiting_run(globus, status="SUCCEEDED")
    with pytest.raises(ChoiceError, match="is SUCCEEDED"):
        choose(interactive_client(tmp_path), RUN_ID, suggested=True)


def test_an_option_url_that_answers_404_says_the_run_no_longer_waits(globus, tmp_path):
    waiting_run(globus)
    globus.add(responses.GET, OPTION_URL.format(OPTIONS[0]["url_suffix"]), status=404)
    with pytest.raises(ChoiceError, match="404"):
        choose(interactive_client(tmp_path), RUN_ID, suggested=True)


def test_deploy_of_the_interactive_flow_sends_its_start_form_with_the_try_filled_in(globus, tmp_path,
                                                                                   monkeypatch):
    from click.testing import CliRunner

    from tomocupy_gladier.globus import auth
    from tomocupy_gladier.cli import main

    from tests.test_globus_http import EXPERIMENT_TOML

    monkeypatch.setattr(auth, "login_manager_for", lambda client_id=None: StaticLogin())
    config_path = tmp_path / "experiment.toml"
    config_path.write_text(EXPERIMENT_TOML)

    result = CliRunner().invoke(main, ["deploy", "--config", str(config_path), "--flow", "interactive"],
                                catch_exceptions=False)

    assert result.exit_code == 0, result.output
    (create,) = calls_to(globus, "POST", "/flows")
    sent = body_of(create)
    assert sent["title"] == "TomocupyInteractiveFlow flow"
    form = sent["input_schema"]["properties"]["input"]["properties"]
    assert form["make_choice_options_function_id"]["default"] == function_id_for("make_choice_options")
    try_form = form["interactive"]["properties"]
    try_recon = recon_variant(try_form["try_recon"])
    assert try_recon["properties"]["reconstruction-type"]["default"] == "try"
    assert try_recon["properties"]["rotation-axis"]["default"] == 1024.5
    assert try_form["try_tomocupy"]["properties"]["file_name"]["default"].endswith("/")
