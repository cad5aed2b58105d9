"""The engine's settings: tomocupy's options with real booleans, read as tomocupy reads them."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from tests import fake_tomocupy
from tomocupy_gladier.engine.errors import UnsupportedError
from tomocupy_gladier.engine.options import build_parser, parse
from tomocupy_gladier.engine.settings import STRING_BOOLEANS, Settings, tomocupy_boolean


def tomocupys_reading(option: str, value: str) -> bool:
    """What tomocupy 1.1.0 makes of ``--option value``: its parser keeps the string and its
    code tests ``args.<option> == 'True'`` (see tests/fake_tomocupy.py)."""
    parser = fake_tomocupy.add_arguments(argparse.ArgumentParser(), fake_tomocupy.RECON_STEPS_PARAMS)
    args = parser.parse_args([f"--{option}", value])
    return getattr(args, option.replace("-", "_")) == "True"


@pytest.mark.parametrize("option", ["minus-log", "flat-linear"])
@pytest.mark.parametrize("value", ["True", "False"])
def test_string_booleans_become_the_booleans_tomocupy_reads(option, value):
    settings = parse("recon", ["--file-name", "scan.h5", f"--{option}", value], "/no-such.conf")
    assert getattr(settings, option.replace("-", "_")) is tomocupys_reading(option, value)


@pytest.mark.parametrize("option", ["minus-log", "flat-linear"])
@pytest.mark.parametrize("value", ["true", "1", "yes", "false", "0"])
def test_other_spellings_are_refused_where_tomocupy_would_read_false(option, value):
    # tomocupy silently reads every one of them as False; tomocupy-cpu refuses to guess
    assert tomocupys_reading(option, value) is False
    with pytest.raises(UnsupportedError, match=f"--{option} takes True or False"):
        parse("recon", ["--file-name", "scan.h5", f"--{option}", value], "/no-such.conf")


def test_pre_processing_takes_tomocupys_choices_and_false_is_not_implemented():
    settings = parse("recon_steps", ["--file-name", "scan.h5", "--pre-processing", "True"],
                     "/no-such.conf")
    assert settings.pre_processing is True
    with pytest.raises(UnsupportedError, match="pre-processing"):
        parse("recon_steps", ["--file-name", "scan.h5", "--pre-processing", "False"], "/no-such.conf")
    with pytest.raises(UnsupportedError):
        parse("recon_steps", ["--file-name", "scan.h5", "--pre-processing", "true"], "/no-such.conf")


def test_defaults_are_tomocupys_with_real_booleans():
    for command in ("recon", "recon_steps"):
        settings = parse(command, ["--file-name", "scan.h5"], "/no-such.conf")
        assert settings.command == command
        assert settings.minus_log is True and settings.flat_linear is False
        assert settings.pre_processing is True  # recon runs carry recon_steps' defaults
        assert settings.verbose is False and settings.fw_pad is True
        assert (settings.binning, settings.rotation_axis, settings.nsino) == (0, -1.0, "0.5")


def test_the_settings_name_every_option_the_engine_parses():
    fields = {f.name for f in dataclasses.fields(Settings)}
    parsed = set(vars(build_parser("recon_steps").parse_args([])))
    assert parsed | {"command", "argv"} == fields
    assert {o.replace("-", "_") for o in STRING_BOOLEANS} <= fields


def test_a_config_file_string_boolean_is_converted_too(tmp_path):
    conf = tmp_path / "tomocupyon.conf"
    conf.write_text("[reconstruction]\nminus_log = False\n")
    settings = parse("recon", ["--file-name", "scan.h5"], str(conf))
    assert settings.minus_log is False


def test_tomocupy_boolean():
    assert tomocupy_boolean("minus-log", "True") is True
    assert tomocupy_boolean("minus-log", "False") is False
    assert tomocupy_boolean("minus-log", True) is True
    with pytest.raises(UnsupportedError, match="--minus-log takes True or False"):
        tomocupy_boolean("minus-log", "TRUE")
