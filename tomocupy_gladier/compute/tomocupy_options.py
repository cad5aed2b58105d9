"""tomocupy's options as tomocupy 1.1.0 declares them: the table shipped with this package
(``data/tomocupy-options.json``: name, type, default, choices and commands of each option), read
here for both sides. The endpoint builds tomocupy's command line from it (:mod:`.recon`); the
client's exposed options (``experiment/options.py``) and the CPU engine (``engine/options.py``)
read the same table through :func:`option_table`."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

COMMANDS = ("recon", "recon_steps")

#: how an option is written on tomocupy's command line: ``--name value``; ``--name`` alone
#: (argparse ``store_true``, the table's ``flag``); ``--name True`` only when true (argparse
#: ``type=bool``, which reads any non-empty string as true: the table's ``bool``)
OptionForm = Literal["value", "flag", "bool"]


@lru_cache(maxsize=None)
def option_table() -> tuple[dict[str, Any], ...]:
    """tomocupy 1.1.0's option table: one dict per (option, section) as tomocupy declares it."""
    text = resources.files("tomocupy_gladier").joinpath("data/tomocupy-options.json").read_text()
    return tuple(json.loads(text))


def options_for(command: str) -> dict[str, dict[str, Any]]:
    """Every option tomocupy accepts for ``command``, keyed by name."""
    return {o["name"]: o for o in option_table() if command in o["commands"]}


def option_forms(command: str) -> dict[str, OptionForm]:
    """How each option of ``command`` is written on the command line (:data:`OptionForm`)."""
    return {name: option["type"] if option["type"] in ("flag", "bool") else "value"
            for name, option in options_for(command).items()}
