"""The start page of ``serve``: the flow's input schema, as deployed for the experiment, drawn as a
form in the browser; on the local backend its input starts a run, as ``tomocupy-gladier run`` does.

- ``GET /start`` (``?flow=recon`` for the other flow): the form. The schema is
  :func:`tomocupy_gladier.flows.start_form.deployed_schema` of the flow for this experiment (what
  ``schema --config`` prints), without the function ids (Gladier adds them when it starts the
  run); on the local backend it offers only what the configured program implements
  (:func:`tomocupy_gladier.experiment.options.offered_only`: no ``ti`` ring removal for
  tomocupy-cpu), on Globus tomocupy's full set. Drawn by JSON Editor (``static/jsoneditor.min.js``, see ``static/jsoneditor.NOTICE``).
- ``GET /start/<flow>/schema.json``: the schema the form is drawn from; the server validates
  against the same schema.
- ``POST /start/<flow>``: the form's JSON (``{"input": {...}}``). Validated against that schema
  and checked as a command-line run is (:func:`tomocupy_gladier.planning.plan.plan` of the form's request), then
  started on the local backend; answers ``{"run_id", "url"}`` (the run's page), or status 400
  with ``{"problems": [...]}`` and nothing started.

Starting a run is the one write action of ``serve``. Beyond the token (or loopback) guard of
every request, a start needs the page's own token in the ``X-Start-Token`` header (random per
server, only in the start page), a JSON body, and no other origin (``Origin`` and
``Sec-Fetch-Site``, when the browser sends them): another site's page can neither read the token
nor send such a request without the browser's CORS check, which this server never grants.

On the globus backend the page links to the Globus web app's start page of the deployed flow
instead (:func:`tomocupy_gladier.globus.deployment.start_page`).
"""

from __future__ import annotations

import copy
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from flask import Flask, abort, jsonify, render_template, request, url_for

from tomocupy_gladier.backends import LOCAL, Backend
from tomocupy_gladier.experiment.engines import engine_of
from tomocupy_gladier.errors import FlowInputError, UserError
from tomocupy_gladier.experiment.options import offered_only

START_TOKEN_HEADER = "X-Start-Token"
# the sections a scientist rarely changes: drawn folded
FOLDED = ("destination", "previews", "publishv2", "tomocupy_endpoint_config")


@dataclass
class Starter:
    """What the start page needs: the experiment, its backend and, on Globus, the deployed flows."""

    config: Any
    backend: Backend = LOCAL
    flow_ids: Mapping[str, str] = field(default_factory=dict)  # globus: flow name -> flow id
    # how a run is started (tests may replace it): (plan) -> run record
    start_run: Callable[[Any], Mapping[str, Any]] | None = None
    _schemas: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def flows(self) -> list[str]:
        """The flows this experiment can start: copying from the beamline needs a [source]."""
        from tomocupy_gladier.flows import FLOWS, moves_scan

        return [name for name, cls in FLOWS.items() if not moves_scan(cls) or self.config.source is not None]

    def schema(self, flow: str) -> dict[str, Any]:
        """The flow's input schema as deployed for the experiment, without the function ids."""
        with self._lock:
            if flow not in self._schemas:
                from tomocupy_gladier.clients.client_factory import offline_client
                from tomocupy_gladier.flows.start_form import deployed_schema

                generic = offline_client(flow).get_flow_schema()
                if self.backend.is_local:  # this machine runs the configured program: its choices only
                    generic = offered_only(generic, engine_of(self.config, self.backend).lacks)
                deployed = deployed_schema(generic, self.config, {})
                self._schemas[flow] = without_function_ids(deployed)
            return copy.deepcopy(self._schemas[flow])

    def globus_page(self, flow: str) -> str | None:
        from tomocupy_gladier.globus.deployment import start_page

        flow_id = self.flow_ids.get(flow)
        return start_page(flow_id) if flow_id else None

    def start(self, flow: str, body: Any) -> Mapping[str, Any]:
        """Validate and start; raises :class:`UserError` (nothing started)."""
        from tomocupy_gladier.planning.plan import plan

        if not self.backend.is_local:
            raise UserError("runs of this experiment start in the Globus web app (link above)")
        planned = plan(self.config, self.request(flow, body))
        if self.start_run is not None:
            return self.start_run(planned)
        client = planned.client(background=True)
        return client.run_flow(flow_input=planned.body, label=planned.label, tags=planned.tags)

    def request(self, flow: str, body: Any) -> Any:
        """What the form's input asks for: a run of ``flow`` with that input, validated against
        the page's schema, on the local backend."""
        from tomocupy_gladier.planning.plan import Origin, RunRequest

        return RunRequest(form_scan(body), flow=flow, backend=self.backend, origin=Origin.FORM,
                          tags=("start-page",), form=body, form_schema=self.schema(flow))


def form_scan(body: Any) -> str:
    """The scan a form's input names (the beamline's path when the flow copies it), as sent."""
    data = body.get("input") if isinstance(body, Mapping) else None
    if not isinstance(data, Mapping):
        return ""
    for block, key in (("source", "path"), ("tomocupy", "file_name")):
        part = data.get(block)
        if isinstance(part, Mapping) and part.get(key):
            return str(part[key])
    return ""


def without_function_ids(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` without the ``*_function_id`` inputs, which Gladier adds when it starts a run
    (a value from a form would replace the ids it registered), and without ``tomocupy.axis``,
    which the server adds (how the form decided the axis)."""
    trimmed = copy.deepcopy(dict(schema))
    inner = trimmed["properties"]["input"]
    drop = [name for name in inner["properties"] if name.endswith("_function_id")]
    for name in drop:
        del inner["properties"][name]
    inner["required"] = [r for r in inner["required"] if r not in drop]
    if "propertyOrder" in inner:
        inner["propertyOrder"] = [n for n in inner["propertyOrder"] if n not in drop]
    # how the axis was decided: the server says it (given in the start form, or the experiment's)
    tomocupy = inner["properties"].get("tomocupy") or {}
    (tomocupy.get("properties") or {}).pop("axis", None)
    if "propertyOrder" in tomocupy:
        tomocupy["propertyOrder"] = [n for n in tomocupy["propertyOrder"] if n != "axis"]
    return trimmed


def form_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema as JSON Editor draws it: the ``input`` object, with each field's place as a
    number (``propertyOrder`` there is per field; the Globus web app's is a list on the object),
    the collection and UUID formats left out (JSON Editor's ``uuid`` format makes up an id), the
    ``if``/``then`` rules left to the server (it validates with them; JSON Editor would draw
    each rule as a choice of forms), yes/no fields as checkboxes, rarely changed sections
    folded."""
    inner = copy.deepcopy(dict(schema["properties"]["input"]))

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items() if k not in ("allOf", "if", "then", "else")}
        if out.get("format") in ("uuid", "globus-collection"):
            del out["format"]
        if out.get("type") == "boolean":
            out["format"] = "checkbox"
        order = out.pop("propertyOrder", None)
        if isinstance(order, list) and isinstance(out.get("properties"), dict):
            for place, name in enumerate(order, start=1):
                if isinstance(out["properties"].get(name), dict):
                    out["properties"][name]["propertyOrder"] = place
        return out

    drawn = walk(inner)
    # where the flow copies the scan, "How to run tomocupy" holds the facility folder only
    folded = FOLDED + (("tomocupy",) if "source" in drawn["properties"] else ())
    for name in folded:
        section = drawn["properties"].get(name)
        if isinstance(section, dict) and section.get("type") == "object":
            section["options"] = {"collapsed": True}
    return drawn


def form_defaults(schema: Mapping[str, Any]) -> Any:
    """The form's first value: every default, nested (JSON Editor does not fill a list's items
    from the list's default by itself)."""
    if "default" in schema:
        return copy.deepcopy(schema["default"])
    if schema.get("oneOf"):
        return form_defaults(schema["oneOf"][0])  # the form JSON Editor shows first
    if schema.get("type") != "object":
        return None
    values = {name: form_defaults(prop) for name, prop in (schema.get("properties") or {}).items()}
    required = schema.get("required") or []
    # an object with nothing filled in is left out, as the form leaves it out (unless required)
    return {name: value for name, value in values.items()
            if value is not None and (value != {} or name in required)}


def same_origin(host_url: str) -> bool:
    """False when the browser says the request comes from another site."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    mine = urlsplit(host_url)
    theirs = urlsplit(origin)
    return (theirs.scheme, theirs.netloc) == (mine.scheme, mine.netloc)


def add_start_page(app: Flask, starter: Starter) -> None:
    """Register the start page's routes on ``app``."""
    start_token = secrets.token_urlsafe(24)
    app.jinja_env.globals["can_start"] = True

    def known(flow: str) -> str:
        if flow not in starter.flows():
            abort(404)
        return flow

    @app.get("/start")
    def start_page() -> Any:
        flows = starter.flows()
        flow = request.args.get("flow") or (flows[0] if flows else "")
        known(flow)
        return render_template("start.html", flow=flow, flows=flows, start_token=start_token,
                               globus_page=starter.globus_page(flow), local=starter.backend.is_local,
                               title=starter.schema(flow).get("title", flow),
                               description=starter.schema(flow).get("description", ""))

    @app.get("/start/<flow>/schema.json")
    def start_schema(flow: str) -> Any:
        schema = starter.schema(known(flow))
        form = form_schema(schema)
        return jsonify(schema=schema, form=form, start=form_defaults(form))

    @app.post("/start/<flow>")
    def start_run(flow: str) -> Any:
        known(flow)
        offered = request.headers.get(START_TOKEN_HEADER, "")
        if not hmac.compare_digest(offered.encode(), start_token.encode()) or not same_origin(request.host_url):
            return jsonify(problems=["this start request did not come from this server's start page: "
                                     "reload the page and send the form again"]), 403
        body = request.get_json(silent=True)
        if body is None:
            return jsonify(problems=["the form must be sent as JSON"]), 400
        try:
            record = starter.start(flow, body)
        except FlowInputError as err:
            return jsonify(problems=err.problems), 400
        except UserError as err:
            return jsonify(problems=[str(err)]), 400
        run_id = str(record["run_id"])
        return jsonify(run_id=run_id, status=record.get("status"),
                       url=url_for("run_page", run_id=run_id)), 201
