"""One planning entry: the command line, a campaign job and a start form ask alike.

``run``, the campaign wiring (and ``watch``, which runs through it) and the start page only build
a :class:`RunRequest`; :func:`plan` decides the parameters and where the axis comes from. The
same ask from each source gives the same plan.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tomocupy_gladier.campaign.ledger import PENDING, JobRow
from tomocupy_gladier.campaign.wiring import body_builder, job_request
from tomocupy_gladier.cli.flow_commands import request_from_cli
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.experiment.options import without_tomocupy_defaults
from tomocupy_gladier.compute.axis import AxisDecision
from tomocupy_gladier.planning.plan import Ask, Origin, RunPlan, RunRequest, plan
from tomocupy_gladier.runs.run_record import PREVIEWS_STATE, RunRecord
from tomocupy_gladier.web.start import Starter

from tests.conftest import tiny_scan


def job(dataset: str, params: dict[str, Any], param_set: str = "default") -> JobRow:
    return JobRow(key="k", dataset=dataset, param_set=param_set, params=params, state=PENDING,
                  run_id=None, attempts=0, error=None, submitted_at=None, finished_at=None)


def cli_request(flow: str, *, try_: bool = False, full: bool = False, interactive: bool = False,
                from_try: str | None = None, center: float | None = None,
                **params: Any) -> RunRequest:
    """What `run scan1.h5 --flow FLOW ...` asks (the options by click's names)."""
    return request_from_cli("scan1.h5", flow_name=flow, backend=None, try_=try_, full=full,
                            from_try=from_try, center=center, interactive=interactive, command=None,
                            params=params)


def decided(planned: RunPlan) -> dict[str, Any]:
    """What a plan decides, apart from where the request came from (its tags and wording); of
    the options, those that say something (a form sends every field, its defaults too)."""
    return {"flow": planned.flow, "backend": planned.backend, "location": planned.location,
            "output": planned.output, "logs": planned.logs, "label": planned.label,
            "axis": planned.axis, "try": planned.is_try, "recon": without_tomocupy_defaults(planned.recon),
            "input": flow_input(planned)}


def flow_input(planned: RunPlan) -> dict[str, Any]:
    """The flow input, its options as :func:`decided` compares them, and how the axis was
    decided without the words (they say where the request came from)."""
    data = dict(planned.body["input"])
    data["recon"] = without_tomocupy_defaults(data["recon"])
    axis = {k: v for k, v in data["tomocupy"]["axis"].items() if k != "how"}
    data["tomocupy"] = {**data["tomocupy"], "axis": axis}
    if "interactive" in data:
        tried = without_tomocupy_defaults(data["interactive"]["try_recon"])
        data["interactive"] = {**data["interactive"], "try_recon": tried}
    return data


def sent_by_a_form(body: dict[str, Any]) -> dict[str, Any]:
    """What the start form sends for ``body``: no ``tomocupy.axis`` (the server says how the
    form decided the axis)."""
    sent = copy.deepcopy(body)
    sent["input"]["tomocupy"].pop("axis")
    return sent


@pytest.fixture
def config(experiment: Path) -> ExperimentConfig:
    tiny_scan(experiment.parent / "facility/raw/scan1.h5")
    return load_config(experiment)


def test_the_same_full_reconstruction_from_the_command_line_a_campaign_job_and_a_form(config):
    from_cli = plan(config, cli_request("recon", full=True, rotation_axis=30.5))
    from_job = plan(config, job_request(job("scan1.h5", {"reconstruction-type": "full",
                                                         "rotation-axis": 30.5}), "recon"))
    # the start form sends what the flow receives; here, what the command line would start
    from_form = plan(config, Starter(config).request("recon", sent_by_a_form(from_cli.body)))
    assert decided(from_cli) == decided(from_job) == decided(from_form)
    assert from_cli.axis is AxisDecision.GIVEN
    assert flow_input(from_cli) == flow_input(from_job)
    assert from_form.body["input"]["tomocupy"]["axis"] == {
        "decided": "given", "how": "given in the start form (automatic search off)"}
    # the words say where the axis was given
    assert from_cli.axis_source == "given on the command line (automatic search off)"
    assert from_form.axis_source == "given in the start form (automatic search off)"
    assert "start-page" in from_form.tags and "start-page" not in from_cli.tags


def test_the_same_interactive_run_from_the_command_line_a_campaign_job_and_a_form(experiment: Path):
    config = load_config(experiment)
    from_cli = plan(config, cli_request("tomocupy", interactive=True))
    from_job = plan(config, job_request(job("scan1.h5", {}), "interactive"))
    from_form = plan(config, Starter(config).request("interactive", sent_by_a_form(from_cli.body)))
    assert decided(from_cli) == decided(from_job) == decided(from_form)
    assert from_cli.axis is AxisDecision.CHOSEN
    assert from_cli.axis_source == "chosen during the run (interactive)"
    assert from_cli.label == "cells: scan1.h5 (interactive)"
    assert flow_input(from_cli) == flow_input(from_job)
    assert from_cli.body["input"]["interactive"]["try_recon"]["reconstruction-type"] == "try"


def test_the_campaign_wiring_gives_the_flow_input_of_the_jobs_plan(config):
    asked = job("scan1.h5", {"reconstruction-type": "full"}, param_set="vo-all")
    assert body_builder(config, "recon")(asked) == plan(config, job_request(asked, "recon")).body


@pytest.mark.parametrize("overrides, axis, words", [
    ({}, AxisDecision.EXPERIMENT, "the experiment file's rotation-axis"),
    ({"rotation-axis": -1}, AxisDecision.GIVEN, "given on the command line (automatic search off)"),
    ({"rotation-axis-auto": "auto"}, AxisDecision.AUTOMATIC,
     "tomocupy's automatic search (rotation-axis-auto = auto)"),
])
def test_where_the_axis_comes_from_is_decided_once(config, overrides, axis, words):
    planned = plan(config, RunRequest("scan1.h5", flow="recon", overrides=overrides,
                                      origin=Origin.COMMAND_LINE))
    assert (planned.axis, planned.axis_source) == (axis, words)


def test_the_axis_summary_adds_why_unless_tomocupy_searched(config):
    planned = plan(config, RunRequest("scan1.h5", flow="recon", origin=Origin.COMMAND_LINE))
    assert planned.axis_summary("rotation-axis option") == \
        "rotation-axis option, the experiment file's rotation-axis"
    assert planned.axis_summary("tomocupy automatic search") == "tomocupy automatic search"


def test_a_full_reconstruction_from_a_try_takes_its_parameters_and_its_suggestion(config):
    tried = RunRecord({"run_id": "try-1", "status": "SUCCEEDED", "details": {"output": {
        "input": {"recon": {"reconstruction-type": "try", "fbp-filter": "parzen"},
                  "tomocupy": {"file_name": "/x/raw/scan1.h5"}},
        PREVIEWS_STATE: {"details": {"results": [{"output": {"suggested_center": 31.456}}]}}}}})
    request = cli_request("recon", from_try="try-1")
    planned = plan(config, request, find_run={"try-1": tried}.__getitem__)
    assert planned.recon["reconstruction-type"] == "full" and planned.recon["fbp-filter"] == "parzen"
    assert (planned.recon["rotation-axis"], planned.recon["rotation-axis-auto"]) == (31.46, "manual")
    assert planned.axis_source == "chosen from try run try-1"


def test_a_request_that_contradicts_its_flow_is_refused_whoever_makes_it(config, experiment: Path):
    with pytest.raises(UserError, match="interactive flow makes its own try"):
        plan(config, RunRequest("scan1.h5", flow="interactive", ask=Ask.TRY))
    with pytest.raises(UserError, match="needs a flow that waits for the choice"):
        plan(config, RunRequest("scan1.h5", flow="recon", ask=Ask.INTERACTIVE))
    with pytest.raises(UserError, match="--try and --full contradict"):
        cli_request("recon", try_=True, full=True)
