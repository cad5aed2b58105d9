"""tomocupy's command line, built from the vendored option table (tomocupy 1.1.0).

Only the options tomocupy-cpu implements are accepted, with tomocupy's names, value syntax
(including the string booleans ``True``/``False``) and defaults.  Any other tomocupy option,
any unknown option and any value tomocupy-cpu does not implement exits non-zero with a
message naming it (tomocupy itself silently ignores unknown options).

``--config FILE``: when FILE exists its ``key = value`` entries (tomocupy's INI format) are
applied before the command line, as tomocupy does; entries for options tomocupy-cpu does not
implement are ignored when they hold tomocupy's default and refused otherwise.  A missing
FILE is ignored (tomocupy-gladier always passes one that does not exist).

``--logs-home`` and ``--max-read-threads``/``--max-write-threads`` are accepted; tomocupy-cpu
writes no log file and sizes its thread pools itself.  ``--reconstruction-algorithm`` accepts
``fourierrec`` only (the gridding method reproduced here).
"""

from __future__ import annotations

import argparse
import configparser
import os
from collections.abc import Callable
from typing import Any, NoReturn

from tomocupy_gladier.compute.tomocupy_options import options_for

from .errors import UnsupportedError
from .settings import Settings, tomocupy_boolean

COMMANDS = ("recon", "recon_steps")

IMPLEMENTED_COMMON = {
    "config", "logs-home", "verbose", "file-name", "flat-file-name", "dark-file-name",
    "out-path-name", "file-type", "binning", "remove-stripe-method", "fw-sigma", "fw-filter",
    "fw-level", "fw-pad", "vo-all-snr", "vo-all-la-size", "vo-all-sm-size", "vo-all-dim",
    "reconstruction-type", "reconstruction-algorithm", "rotation-axis", "center-search-width",
    "center-search-step", "nsino", "nsino-per-chunk", "start-row", "end-row", "start-proj",
    "end-proj", "rotation-axis-auto", "rotation-axis-method", "fbp-filter", "dezinger",
    "dezinger-threshold", "max-write-threads", "max-read-threads", "minus-log", "flat-linear",
    "bright-ratio", "pixel-size", "dtype", "save-format",
}
IMPLEMENTED_STEPS = {"retrieve-phase-method", "energy", "propagation-distance",
                     "retrieve-phase-alpha", "rotate-proj-angle", "rotate-proj-order", "pre-processing"}

#: option -> values tomocupy offers but tomocupy-cpu refuses, with the reason.
UNSUPPORTED_VALUES: dict[str, dict[str, str]] = {
    "file-type": {"double_fov": "360-degree double field of view is not implemented"},
    "remove-stripe-method": {"ti": "Titarenko ring removal has no algotom counterpart"},
    "reconstruction-type": {"try_lamino": "laminography is not implemented"},
    "reconstruction-algorithm": {"lprec": "only fourierrec (Fourier gridding) is implemented",
                                 "linerec": "only fourierrec (Fourier gridding) is implemented"},
    "save-format": {"h5sino": "use tiff or h5", "h5nolinks": "use tiff or h5", "zarr": "use tiff or h5"},
    "retrieve-phase-method": {m: "only paganin is implemented" for m in ("Gpaganin", "FourierFilter", "farago")},
    "pre-processing": {"False": "recon_steps always pre-processes"},
}


def _options_for(command: str) -> dict[str, dict[str, Any]]:
    return options_for(command)


def implemented(command: str) -> set[str]:
    """Names of the options tomocupy-cpu accepts for ``command``."""
    return IMPLEMENTED_COMMON | (IMPLEMENTED_STEPS if command == "recon_steps" else set())


def _default(opt: dict[str, Any]) -> Any:
    d = opt["default"]
    t = opt["type"]
    if t == "flag":
        return d == "True"
    if d == "None":
        return None
    if t == "float":
        return float(d)
    if t in ("int", "positive_int"):
        return int(d)
    return d


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a non-negative integer")
    return v


_TYPES: dict[str, Callable[[str], Any]] = {"float": float, "int": int, "positive_int": _positive_int}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        raise UnsupportedError(message)


def build_parser(command: str) -> argparse.ArgumentParser:
    """argparse parser for one subcommand with the implemented options."""
    p = _Parser(prog=f"tomocupy-cpu {command}", allow_abbrev=False,
                description=f"tomocupy {command} on the CPU")
    for name, opt in sorted(_options_for(command).items()):
        if name not in implemented(command):
            continue
        kw: dict[str, Any] = {"default": _default(opt), "dest": name.replace("-", "_")}
        if opt["type"] == "flag":
            kw["action"] = "store_true"
        else:
            conv = _TYPES.get(opt["type"], str)
            kw["type"] = conv
            if opt["choices"]:
                kw["choices"] = [conv(c) if not isinstance(c, str) else c for c in opt["choices"]]
        p.add_argument(f"--{name}", **kw)
    return p


def _config_args(path: str, command: str) -> list[str]:
    """tomocupy INI config entries as command-line words (see module docstring)."""
    cp = configparser.ConfigParser()
    try:
        cp.read(path)
    except configparser.Error as exc:
        raise UnsupportedError(f"--config {path}: cannot parse ({exc})") from None
    known = _options_for(command)
    words: list[str] = []
    for section in cp.sections():
        for key, value in cp.items(section):
            name = key.replace("_", "-")
            if name == "config" or name not in known:
                continue
            opt = known[name]
            if name not in implemented(command):
                if str(value) != str(opt["default"]):
                    raise UnsupportedError(f"--config {path}: option --{name} = {value} is not "
                                           "implemented by tomocupy-cpu")
                continue
            if opt["type"] == "flag":
                if value == "True":
                    words.append(f"--{name}")
            elif value != "None":
                words += [f"--{name}", value]
    return words


def check_names(words: list[str], command: str) -> None:
    """Refuse unknown and unimplemented option names before parsing."""
    known = _options_for(command)
    for w in words:
        if not w.startswith("--"):
            continue
        name = w[2:].split("=", 1)[0]
        if name in ("help",):
            continue
        if name not in known:
            raise UnsupportedError(f"unknown option --{name} for tomocupy {command}")
        if name not in implemented(command):
            raise UnsupportedError(f"option --{name} is a tomocupy option that tomocupy-cpu does not implement")


#: what searches for the axis: tomocupy's default ``sift`` is accepted only without a search
SEARCH_METHODS = ("vo",)


def lacking(command: str) -> dict[str, frozenset[str] | None]:
    """What tomocupy offers for ``command`` and tomocupy-cpu lacks: option name -> the values
    it lacks, or None for the whole option. What a start form and ``--help`` leave out or mark."""
    known = _options_for(command)
    lacks: dict[str, frozenset[str] | None] = {name: None for name in known if name not in implemented(command)}
    for name, bad in UNSUPPORTED_VALUES.items():
        if name in known and name not in lacks:
            lacks[name] = frozenset(bad)
    choices = known["rotation-axis-method"]["choices"] or []
    lacks["rotation-axis-method"] = frozenset(c for c in choices if c not in SEARCH_METHODS)
    return lacks


def _offered(name: str, command: str) -> list[str]:
    """The values of ``name`` tomocupy-cpu implements, as tomocupy lists them."""
    bad = UNSUPPORTED_VALUES.get(name, {})
    return [str(c) for c in (_options_for(command).get(name, {}).get("choices") or []) if str(c) not in bad]


def unsupported(command: str, params: dict[str, Any]) -> str | None:
    """Why tomocupy-cpu cannot run these parameters (tomocupy option names), or None.

    For callers that check a run before starting it, with the same rules as the command line.
    """
    for name, value in params.items():
        if value is None or name == "command":
            continue
        if name not in implemented(command):
            return f"option {name} is a tomocupy option that tomocupy-cpu does not implement"
        bad = UNSUPPORTED_VALUES.get(name, {})
        text = ("True" if value else "False") if isinstance(value, bool) else str(value)
        if text in bad:
            return (f"{name} = {text} is not implemented by tomocupy-cpu: {bad[text]} "
                    f"(it offers {', '.join(_offered(name, command))})")
    if params.get("rotation-axis-auto") == "auto" and params.get("rotation-axis-method", "sift") == "sift":
        return ("rotation-axis-method sift (tomocupy's default) is not implemented by tomocupy-cpu: "
                "use rotation-axis-method = vo with rotation-axis-auto = auto")
    return None


def check_values(ns: argparse.Namespace) -> None:
    """Refuse option values tomocupy offers but tomocupy-cpu does not implement."""
    for name, bad in UNSUPPORTED_VALUES.items():
        value = getattr(ns, name.replace("-", "_"), None)
        if value is not None and str(value) in bad:
            raise UnsupportedError(f"--{name} {value} is not implemented by tomocupy-cpu: {bad[str(value)]}")
    if ns.rotation_axis_auto == "auto" and ns.rotation_axis_method == "sift":
        # sift is tomocupy's default method, so it only matters when the search is on
        raise UnsupportedError("--rotation-axis-method sift is not implemented by tomocupy-cpu: "
                               "use --rotation-axis-method vo with --rotation-axis-auto auto")
    for name in ("minus-log", "flat-linear"):  # pre-processing: argparse's choices check it
        tomocupy_boolean(name, getattr(ns, name.replace("-", "_")))
    if ns.nsino_per_chunk < 1:
        raise UnsupportedError(f"--nsino-per-chunk must be at least 1, got {ns.nsino_per_chunk}")
    if ns.center_search_step <= 0:
        raise UnsupportedError(f"--center-search-step must be positive, got {ns.center_search_step}")


def parse(command: str, words: list[str], config_path: str | None = None) -> Settings:
    """Parse ``words`` (after the subcommand) as tomocupy does, check them, and return the
    run's :class:`~tomocupy_gladier.engine.settings.Settings` (``recon`` runs get the
    ``recon_steps`` options at tomocupy's defaults)."""
    if command not in COMMANDS:
        raise UnsupportedError(f"unknown command {command!r}; tomocupy-cpu implements {', '.join(COMMANDS)}")
    check_names(words, command)
    parser = build_parser(command)
    first = parser.parse_args(words)
    cfg = config_path or first.config
    cfg_words = _config_args(cfg, command) if cfg and os.path.isfile(os.path.expanduser(cfg)) else []
    if cfg_words:
        ns = parser.parse_args(cfg_words + words)
    else:
        ns = first
    if config_path:
        ns.config = config_path
    ns.command = command
    check_values(ns)
    steps_defaults = vars(build_parser("recon_steps").parse_args([])) if command == "recon" else {}
    return Settings.from_options({**steps_defaults, **vars(ns)})
