"""A flow deployed on Globus: the web app's page that starts it (:func:`start_page`), what
Gladier keeps of it on this machine (:func:`stored_values`) and the subscription rule
(:func:`check_subscription`). Its start form is ``flows/start_form.py``'s; deploying it, and
what a deploy would send, ``clients/deploy.py``'s.
"""

from __future__ import annotations

import configparser
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from gladier.utils.name_generation import get_snake_case

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.globus.gladier_storage import decorated_parts, storage_file

WEB_APP = "https://app.globus.org"


def start_page(flow_id: str) -> str:
    """The Globus web app's page that starts a run of the flow (its input schema as a form)."""
    return f"{WEB_APP}/flows/{flow_id}/run"


def stored_values(flow: Any, client_id: str | None = None) -> dict[str, str]:
    """What Gladier keeps for ``flow`` in ``~/.gladier/<client id>.cfg`` after a deploy or a run
    on Globus (flow id, function ids, checksums, input overrides); empty when it has none. No
    network."""
    inner, _ = decorated_parts(flow)
    path = storage_file(inner) if client_id is None else Path.home() / ".gladier" / f"{client_id}.cfg"
    parser = configparser.ConfigParser()
    parser.read(path)
    section = get_snake_case(inner.__name__)
    return dict(parser.items(section)) if parser.has_section(section) else {}


def stored_function_ids(flow: Any, client_id: str | None = None) -> dict[str, str]:
    """The function ids Gladier keeps for ``flow`` (:func:`stored_values`)."""
    return {k: v for k, v in stored_values(flow, client_id).items()
            if k.endswith("_function_id") and not k.endswith("_checksum")}


# ---------------------------------------------------------------------------------------
# Subscriptions

UNSUBSCRIBED_LIMIT = ("Globus Flows lets a user own one flow without a subscription, and a flow "
                      "without a subscription expires after 30 days")


def check_subscription(config: ExperimentConfig, flow_names: Sequence[str]) -> None:
    """Refuse to deploy more than one flow without ``[globus] subscription_id``.

    :raises UserError: naming the limit, the key and the way out (one flow with ``--flow``).
    """
    if len(flow_names) > 1 and not dict(config.globus).get("subscription_id"):
        raise UserError(
            f"deploying {len(flow_names)} flows ({', '.join(flow_names)}) needs a Globus subscription: "
            f"{UNSUBSCRIBED_LIMIT}. Set subscription_id in the [globus] section of "
            f"{config.path or 'the experiment file'} (ask your facility's Globus administrator for "
            "it), or deploy a single flow with --flow NAME")
