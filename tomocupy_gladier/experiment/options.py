"""The tomocupy options this project exposes, declared once.

Types, defaults and choices come from tomocupy's own option table (vendored as
``data/tomocupy-options.json``); this module adds what a user needs to see in a form
(title, description, bounds) and which options are offered at all. Everything else is
derived from :data:`RECON_OPTIONS`: the JSON schema of the ``recon`` block of the flow
input, its validation, the ``run`` command-line options and the defaults.

Keys of the ``recon`` block are tomocupy's own option names (``rotation-axis``), so a
value travels to tomocupy's command line without renaming. ``command`` is the one key
that is not a tomocupy option: it selects ``tomocupy recon`` or ``tomocupy recon_steps``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from tomocupy_gladier.compute.tomocupy_options import COMMANDS, option_table, options_for


def tomocupy_option_table() -> tuple[dict[str, Any], ...]:
    """tomocupy 1.1.0's option table (:func:`tomocupy_gladier.compute.tomocupy_options.option_table`)."""
    return option_table()


def tomocupy_options_for(command: str) -> dict[str, dict[str, Any]]:
    """Every option tomocupy accepts for ``command``, keyed by name."""
    return options_for(command)


@dataclass(frozen=True)
class ReconOption:
    """One exposed tomocupy option.

    ``name`` is tomocupy's option name; the JSON type, default and choices for each
    command are read from tomocupy's table. ``minimum``/``maximum`` and the texts are ours.
    """

    name: str
    title: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    group: str = "reconstruction"
    nullable_default: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    # "basic": shown near the top of the form; "advanced": after it
    level: str = "advanced"
    # tomocupy choices this project does not offer (their options are not exposed)
    excluded_choices: tuple[Any, ...] = ()

    def tomocupy(self, command: str) -> dict[str, Any] | None:
        return tomocupy_options_for(command).get(self.name)

    @property
    def commands(self) -> tuple[str, ...]:
        return tuple(c for c in COMMANDS if self.tomocupy(c) is not None)

    def json_type(self) -> str:
        entry = self.tomocupy(self.commands[0])
        assert entry is not None
        return _json_type(entry)

    def choices(self, command: str) -> list[Any] | None:
        entry = self.tomocupy(command)
        if entry is None:
            return None
        if _json_type(entry) == "boolean":
            return None
        choices = [c for c in entry["choices"] or [] if c not in self.excluded_choices]
        return choices or None

    def default(self, command: str | None = None) -> Any:
        entry = self.tomocupy(command or self.commands[0])
        assert entry is not None
        return _parse_default(entry)


def _json_type(entry: Mapping[str, Any]) -> str:
    kind = entry["type"]
    if kind in ("int", "positive_int"):
        return "integer"
    if kind == "float":
        return "number"
    if kind == "flag":
        return "boolean"
    # tomocupy spells several booleans as the strings "True"/"False"
    if str(entry["default"]) in ("True", "False") and (
        kind == "str(no type)" or entry["choices"] == ["True", "False"] or kind == "bool"
    ):
        return "boolean"
    return "string"


def _parse_default(entry: Mapping[str, Any]) -> Any:
    raw = entry["default"]
    kind = _json_type(entry)
    if raw in (None, "None"):
        return None
    if kind == "boolean":
        return str(raw) == "True"
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    return str(raw)


# The exposed options. The form shows the "basic" ones first, in this order, then the others.
# Each choice code is explained in the description, in the words a scientist uses.
RECON_OPTIONS: tuple[ReconOption, ...] = (
    ReconOption(
        "reconstruction-type",
        "Reconstruction type",
        "try: reconstruct one slice for a range of rotation centres, to pick the best one; "
        "full: reconstruct every selected row with the chosen centre.",
        level="basic",
        excluded_choices=("try_lamino",),  # laminography options are not exposed
    ),
    ReconOption(
        "rotation-axis",
        "Rotation axis (pixels)",
        "Position of the rotation axis, in detector pixels from the left edge of a row. "
        "-1 uses the middle of the detector.",
        minimum=-1,
        level="basic",
    ),
    ReconOption(
        "rotation-axis-auto",
        "Find the rotation axis",
        "manual: use the rotation axis above; auto: let tomocupy estimate it from the projections.",
        level="basic",
    ),
    ReconOption(
        "rotation-axis-method",
        "Axis finding method",
        "How the automatic axis is estimated: sift matches features of opposite projections; "
        "vo uses Vo's sinogram metric.",
        level="basic",
    ),
    ReconOption(
        "center-search-width",
        "Centre search half-width (pixels)",
        "For 'try': how far either side of the rotation axis the candidate centres reach.",
        exclusive_minimum=0,
        maximum=2048,
        level="basic",
    ),
    ReconOption(
        "center-search-step",
        "Centre search step (pixels)",
        "For 'try': the spacing of the candidate centres.",
        exclusive_minimum=0,
        maximum=100,
        level="basic",
    ),
    ReconOption(
        "reconstruction-algorithm",
        "Algorithm",
        "Back-projection method on the GPU: fourierrec (Fourier-based gridding) is the accurate "
        "default; lprec (log-polar) is faster in half precision, plain reconstruction only; "
        "linerec is the simple line integral method.",
        level="basic",
    ),
    ReconOption(
        "binning",
        "Binning",
        "Average 2^binning detector pixels in each direction before reconstructing: 0 = none, "
        "1 = 2x2, 2 = 4x4, 3 = 8x8.",
        level="basic",
    ),
    ReconOption(
        "start-row",
        "First row",
        "First detector row to reconstruct (0-based).",
        minimum=0,
        level="basic",
    ),
    ReconOption(
        "end-row",
        "End row",
        "Row after the last one to reconstruct; -1 reconstructs to the bottom of the detector.",
        minimum=-1,
        level="basic",
    ),
    ReconOption(
        "remove-stripe-method",
        "Ring removal",
        "Removes stripes in the sinograms that would appear as rings: none; fw = Fourier-wavelet "
        "filter; ti = Titarenko's filter; vo-all = Vo's combined stripe filters.",
        group="preprocessing",
        level="basic",
    ),
    ReconOption(
        "fbp-filter",
        "Filter",
        "Filter applied to the projections before back-projection: parzen suppresses noise, "
        "ramp keeps the most resolution, shepp/hann/hamming/cosine/cosine2 lie in between; "
        "none applies no filter.",
    ),
    ReconOption(
        "nsino-per-chunk",
        "Sinograms per chunk",
        "Rows reconstructed together on the GPU; larger is faster until GPU memory runs out.",
        minimum=1,
        maximum=4096,
        group="performance",
    ),
    ReconOption(
        "dtype",
        "Data type",
        "Precision of the computation and of the written slices: float32 (single) or float16 "
        "(half: faster, smaller files, less precise).",
        group="output",
    ),
    ReconOption(
        "save-format",
        "Save format",
        "File format of the reconstruction: tiff = one TIFF file per slice; h5 = one HDF5 volume; "
        "h5sino = HDF5 written sinogram by sinogram; h5nolinks = HDF5 volume without links to the "
        "scan; zarr = a Zarr volume.",
        group="output",
    ),
    ReconOption("fw-sigma", "Fourier-wavelet: damping",
                "Ring removal 'fw' only: damping of the Fourier-wavelet filter.",
                exclusive_minimum=0, group="preprocessing"),
    ReconOption("fw-filter", "Fourier-wavelet: wavelet",
                "Ring removal 'fw' only: the wavelet (haar, Daubechies db5, symlets sym5/sym16).",
                group="preprocessing"),
    ReconOption("fw-level", "Fourier-wavelet: levels",
                "Ring removal 'fw' only: decomposition levels of the Fourier-wavelet filter.",
                minimum=1, maximum=20, group="preprocessing"),
    ReconOption("ti-beta", "Titarenko: beta", "Ring removal 'ti' only: regularisation strength.",
                exclusive_minimum=0, group="preprocessing"),
    ReconOption("ti-mask", "Titarenko: mask", "Ring removal 'ti' only: mask size.",
                minimum=0, group="preprocessing"),
    ReconOption("vo-all-snr", "Vo: signal-to-noise ratio",
                "Ring removal 'vo-all' only: detection ratio for stripes.",
                exclusive_minimum=0, group="preprocessing"),
    ReconOption("vo-all-la-size", "Vo: large stripe window",
                "Ring removal 'vo-all' only: window (pixels) for large stripes.",
                minimum=1, group="preprocessing"),
    ReconOption("vo-all-sm-size", "Vo: small stripe window",
                "Ring removal 'vo-all' only: window (pixels) for small stripes.",
                minimum=1, group="preprocessing"),
    ReconOption(
        "dezinger",
        "Zinger removal radius",
        "Radius (pixels) of the median filter that removes bright outliers (zingers); 0 turns it off.",
        minimum=0,
        maximum=64,
        group="preprocessing",
    ),
    ReconOption(
        "dezinger-threshold",
        "Zinger threshold",
        "How far above its neighbourhood a pixel must be to count as a zinger.",
        minimum=0,
        group="preprocessing",
    ),
    ReconOption(
        "minus-log",
        "Take the negative logarithm",
        "Convert normalised intensities to attenuation (-log). Turn off for data that is already converted.",
        group="preprocessing",
    ),
    ReconOption(
        "flat-linear",
        "Interpolate flats",
        "Interpolate linearly between flat fields taken before and after the scan instead of averaging them.",
        group="preprocessing",
    ),
    ReconOption(
        "bright-ratio",
        "Bright ratio",
        "Exposure of the projections relative to the flat fields, when they differ.",
        exclusive_minimum=0,
        group="preprocessing",
    ),
    ReconOption(
        "file-type",
        "Scan geometry",
        "standard: a 180-degree scan; double_fov: a 360-degree scan with the axis near the detector "
        "edge (extended field of view).",
    ),
    ReconOption(
        "out-path-name",
        "Output path",
        "Where to write the reconstruction instead of tomocupy's default <folder>_rec next to the scan.",
        group="output",
    ),
    ReconOption(
        "retrieve-phase-method",
        "Phase retrieval",
        "Phase retrieval applied to the projections before reconstruction (command recon_steps "
        "only): none; paganin = Paganin's single-material filter; Gpaganin = generalised Paganin "
        "filter; FourierFilter = a Fourier-space low-pass filter; farago = Farago's method.",
        group="phase",
    ),
    ReconOption("energy", "Energy (keV)", "X-ray energy, for phase retrieval (recon_steps only).",
                exclusive_minimum=0, maximum=1000, group="phase"),
    ReconOption("propagation-distance", "Propagation distance (mm)",
                "Sample to detector distance, for phase retrieval (recon_steps only).", minimum=0,
                group="phase"),
    ReconOption("pixel-size", "Pixel size (microns)",
                "Effective detector pixel size, for phase retrieval and scale bars.", minimum=0, group="phase"),
    ReconOption("retrieve-phase-alpha", "Phase retrieval: alpha",
                "Regularisation of the Paganin filter; larger values smooth more (recon_steps only).",
                minimum=0, group="phase"),
    ReconOption("rotate-proj-angle", "Projection rotation (degrees)",
                "Rotate every projection by this angle before reconstructing (recon_steps only).",
                minimum=-360, maximum=360, group="phase"),
)

OPTIONS_BY_NAME: dict[str, ReconOption] = {o.name: o for o in RECON_OPTIONS}


def default_params(command: str = "recon") -> dict[str, Any]:
    """tomocupy's default for every exposed option valid for ``command``."""
    return {o.name: o.default(command) for o in RECON_OPTIONS if command in o.commands}


def _option_schema(option: ReconOption, command: str) -> dict[str, Any]:
    """An option's property under ``command``: tomocupy's default and choices for that command."""
    kind = option.json_type()
    schema: dict[str, Any] = {"title": option.title, "description": option.description}
    default = option.default(command)
    schema["type"] = [kind, "null"] if default is None else kind
    schema["default"] = default
    choices = option.choices(command)
    if choices:
        schema["enum"] = list(choices) + ([None] if default is None else [])
    for key, value in (
        ("minimum", option.minimum),
        ("maximum", option.maximum),
        ("exclusiveMinimum", option.exclusive_minimum),
    ):
        if value is not None:
            schema[key] = value
    return schema


def recon_property_order(names: list[str]) -> list[str]:
    """The form's order of the ``recon`` block: reconstruction type and axis first, then the
    other basic settings (the command among them), then the advanced ones."""
    basic = [o.name for o in RECON_OPTIONS if o.level == "basic"]
    first = basic[:basic.index("reconstruction-algorithm")] + ["command"] + basic[basic.index(
        "reconstruction-algorithm"):]
    order = [n for n in first if n in names]
    return order + [n for n in names if n not in order]


# Options of the experiment file and the command line that the client turns into something
# else: out-path-name names the reconstruction folder (flow input ``tomocupy.output``).
CLIENT_SIDE_OPTIONS = ("out-path-name",)


COMMAND_TITLES = {
    "recon": "recon: plain reconstruction (the usual choice)",
    "recon_steps": "recon_steps: step by step, with phase retrieval and projection rotation",
}


def recon_variant(schema: Mapping[str, Any], command: str = COMMANDS[0]) -> dict[str, Any]:
    """The form of ``command`` in a ``recon`` schema (:func:`recon_schema`)."""
    return next(v for v in schema["oneOf"] if v["properties"]["command"]["enum"] == [command])


def recon_schema(*, flow_input: bool = False) -> dict[str, Any]:
    """JSON schema of the ``recon`` block: one form per tomocupy command (``oneOf``), each with
    ``command`` fixed and exactly the options and choices tomocupy accepts for that command.

    ``flow_input``: the block as the flow receives it, without :data:`CLIENT_SIDE_OPTIONS`.

    A form draws the forms as a choice ("Kind of reconstruction") and shows each command's own
    fields, so it never offers an option or a choice that command refuses (``lprec`` only under
    ``recon``, the phase retrieval options only under ``recon_steps``), even a form that does
    not read ``if``/``then``. ``command`` may be left out for ``recon`` (tomocupy's usual
    command); ``recon_steps`` must be named.
    """
    exposed = [o for o in RECON_OPTIONS if not (flow_input and o.name in CLIENT_SIDE_OPTIONS)]
    variants = []
    for command in COMMANDS:
        properties: dict[str, Any] = {
            "command": {
                "title": "Kind of reconstruction",
                "description": "recon: plain reconstruction (the usual choice); recon_steps: step by "
                "step, adding phase retrieval and projection rotation (their settings are offered "
                "only then).",
                "type": "string",
                "enum": [command],
                "default": command,
            }
        }
        for option in exposed:
            if command in option.commands:
                properties[option.name] = _option_schema(option, command)
        variant: dict[str, Any] = {
            "title": COMMAND_TITLES[command],
            "type": "object",
            "properties": properties,
            "propertyOrder": recon_property_order(list(properties)),
            "additionalProperties": False,
        }
        if command != COMMANDS[0]:
            variant["required"] = ["command"]
        variants.append(variant)

    return {
        "title": "Reconstruction parameters",
        "description": "tomocupy options for this scan; anything left out takes tomocupy's default. "
        "Choose the kind of reconstruction first: each kind offers only what tomocupy accepts for it.",
        "type": "object",
        "oneOf": variants,
    }


Lacks = Callable[[str], Mapping[str, "frozenset[str] | None"]]
"""An engine's ``lacks(command)``: option -> the values it lacks, or None for the whole option."""


def offered_only(schema: Mapping[str, Any], lacks: Lacks) -> dict[str, Any]:
    """``schema`` (a flow's input schema, or a ``recon`` block) with every ``recon`` form offering
    only what an engine implements (``lacks``: :meth:`tomocupy_gladier.backends.Engine.lacks`):
    its missing options left out, its missing choices taken out of the enums (a default taken
    out becomes the first choice left). A form then never offers what that engine refuses, and
    validation against it refuses it by the form's own words."""
    restricted = copy.deepcopy(dict(schema))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            command = ((node.get("properties") or {}).get("command") or {}).get("enum")
            if node.get("type") == "object" and isinstance(command, list) and len(command) == 1:
                _restrict(node, lacks(str(command[0])))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(restricted)
    return restricted


def _restrict(form: dict[str, Any], lacking: Mapping[str, "frozenset[str] | None"]) -> None:
    properties = form["properties"]
    for name, values in lacking.items():
        prop = properties.get(name)
        if prop is None:
            continue
        if values is None:
            del properties[name]
            continue
        if "enum" in prop:
            prop["enum"] = [v for v in prop["enum"] if v is None or str(v) not in values]
            if prop.get("default") is not None and str(prop["default"]) in values:
                prop["default"] = next(v for v in prop["enum"] if v is not None)
    if "propertyOrder" in form:
        form["propertyOrder"] = [n for n in form["propertyOrder"] if n in properties]


def command_only_options(command: str) -> list[str]:
    """Exposed options that tomocupy accepts only for a command other than ``command``."""
    return [o.name for o in RECON_OPTIONS if command not in o.commands]


def without_tomocupy_defaults(recon: Mapping[str, Any]) -> dict[str, Any]:
    """``recon`` without the options that say nothing: a value equal to tomocupy's own default
    for the command, or an option of the other command left at its default there. A start form
    sends every field it shows; this keeps what a scientist (or the experiment file, through the
    form's defaults) set, so a changed option of the other command is still refused by name.
    ``command`` and ``reconstruction-type`` always stay: the steps of the flow read them."""
    command = str(recon.get("command", COMMANDS[0]))
    kept = {}
    for name, value in recon.items():
        option = OPTIONS_BY_NAME.get(name)
        if option is not None and name != "reconstruction-type":
            own = command if command in option.commands else option.commands[0]
            default = option.default(own)
            if _same_value(value, default):
                continue
        kept[name] = value
    return kept


def _same_value(value: Any, default: Any) -> bool:
    """Equal and of one kind (a number sent as 1 is tomocupy's 1.0; True is not 1)."""
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    if isinstance(value, (int, float)) and isinstance(default, (int, float)):
        return float(value) == float(default)
    return type(value) is type(default) and value == default
