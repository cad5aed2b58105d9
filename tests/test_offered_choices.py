"""What is offered is what the configured program implements (issue 27, finding 5): with the
CPU engine on the local backend the start form offers only its choices and refuses the others
by the form's own words, ``--help`` marks what tomocupy-cpu lacks, and a refusal names what it
offers; on Globus (the endpoint's tomocupy) tomocupy's full set stays. The option table of
experiment/options.py stays the one source: the engine only says what it lacks."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from tomocupy_gladier.backends import GLOBUS, LOCAL
from tomocupy_gladier.experiment.engines import CpuEngine, Tomocupy
from tomocupy_gladier.cli import main
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.experiment.options import offered_only, recon_schema, recon_variant
from tomocupy_gladier.web.start import Starter, form_defaults

from tests.tiny_experiment import tiny_experiment


@pytest.fixture
def config(tmp_path):
    return load_config(tiny_experiment(tmp_path))


def recon_form(schema, command="recon"):
    return recon_variant(schema["properties"]["input"]["properties"]["recon"], command)["properties"]


def test_the_local_start_form_offers_only_the_cpu_engines_choices(config):
    schema = Starter(config, LOCAL).schema("tomocupy")
    for command in ("recon", "recon_steps"):
        form = recon_form(schema, command)
        assert "ti" not in form["remove-stripe-method"]["enum"]
        assert "ti-beta" not in form and "ti-mask" not in form
        assert form["reconstruction-algorithm"]["enum"] == ["fourierrec"]
        assert form["file-type"]["enum"] == ["standard"]
        assert form["rotation-axis-method"] == {**form["rotation-axis-method"], "enum": ["vo"], "default": "vo"}
    assert recon_form(schema, "recon_steps")["retrieve-phase-method"]["enum"] == ["none", "paganin"]
    # the interactive flow's try offers the same
    interactive = Starter(config, LOCAL).schema("interactive")["properties"]["input"]["properties"]
    try_form = recon_variant(interactive["interactive"]["properties"]["try_recon"])["properties"]
    assert "ti" not in try_form["remove-stripe-method"]["enum"]


def test_on_globus_tomocupys_full_set_stays(config):
    form = recon_form(Starter(config, GLOBUS).schema("tomocupy"))
    assert "ti" in form["remove-stripe-method"]["enum"] and "ti-beta" in form
    assert offered_only(recon_schema(), Tomocupy().lacks) == recon_schema()


def test_a_form_sending_ti_to_the_cpu_engine_is_refused_by_the_forms_words(config):
    from tomocupy_gladier.errors import FlowInputError

    starter = Starter(config, LOCAL)
    data = form_defaults(starter.schema("tomocupy")["properties"]["input"])  # the form as drawn
    data["source"]["path"] = "/scan1.h5"
    data["recon"]["remove-stripe-method"] = "ti"
    with pytest.raises(FlowInputError) as refused:
        starter.start("tomocupy", {"input": data})
    assert refused.value.problems == ["input.recon.remove-stripe-method: 'ti' is not allowed; choose one of "
                                      "'none', 'fw', 'vo-all'"]


def test_help_marks_what_tomocupy_cpu_lacks():
    result = CliRunner().invoke(main, ["run", "--help"], terminal_width=200)
    lines = {m.group(1): m.group(2) for m in re.finditer(r"--([a-z-]+) [^\n]*?(\[[^\n]*)", result.output)}
    text = " ".join(result.output.split())
    assert "[tomocupy default: none] [not in tomocupy-cpu: ti]" in text
    assert "[not in tomocupy-cpu: linerec, lprec]" in text
    assert re.search(r"--ti-beta FLOAT .*?\[tomocupy only: not in tomocupy-cpu\]", text)
    assert "not in tomocupy-cpu" not in text.split("--fbp-filter")[1].split("--nsino")[0]
    assert lines  # the options are listed


def test_a_refusal_names_what_the_engine_offers(tmp_path):
    path = tiny_experiment(tmp_path)
    result = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(path), "--full",
                                       "--remove-stripe-method", "ti"])
    assert result.exit_code == 2, result.output
    assert ("remove-stripe-method = ti is not implemented by tomocupy-cpu: Titarenko ring removal has no "
            "algotom counterpart (it offers none, fw, vo-all) (the configured engine is tomocupy-cpu)") \
        in " ".join(result.output.split())


def test_the_engine_says_only_what_it_lacks():
    lacks = CpuEngine().lacks("recon")
    assert lacks["remove-stripe-method"] == frozenset({"ti"}) and lacks["ti-beta"] is None
    assert "rotation-axis" not in lacks and "fbp-filter" not in lacks
