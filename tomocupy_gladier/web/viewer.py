"""What neuroglancer (vendored in ``static/neuroglancer/``) opens for a run's OME-Zarr: its state.

The state goes into the viewer's address after ``#!`` (neuroglancer's own format): the volume as
an image layer read from ``serve``'s Zarr route, x-y-z axes with the voxel size as scale, the
middle slice, and the contrast the Zarr's metadata records.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

FIT_PIXELS = 800  # the slice's longer side fits this many screen pixels when the viewer opens
# NGFF axis units neuroglancer is given in metres (its state's unit); others stay unit-less
_METRES = {"micrometer": 1e-6, "nanometer": 1e-9, "millimeter": 1e-3, "meter": 1.0}


def _json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def contrast(attrs: dict[str, Any]) -> list[float] | None:
    """The grey range to show: the omero channel's display window (``start``/``end``: the
    writer's whole-volume percentiles), else an export's recorded scaling, else None
    (neuroglancer's default). An export stores ``low``..``high`` as 0..``stored_max``, so its
    range is that, in the stored values the viewer reads."""
    try:
        window = attrs["omero"]["channels"][0]["window"]
        return [float(window["start"]), float(window["end"])]
    except (KeyError, IndexError, TypeError, ValueError):
        pass
    try:
        return [0.0, float(attrs["multiscales"][0]["metadata"]["scaling"]["stored_max"])]
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def viewer_state(volume: Path, source: str) -> dict[str, Any]:
    """Neuroglancer's state for the OME-Zarr folder ``volume`` read from the absolute ``source``
    URL: one x-y panel through the middle voxel, the whole slice in view (1 screen pixel a voxel
    for a slice up to 800 px); without x, y and z axes in the metadata, neuroglancer's own axes
    and place."""
    attrs = _json(volume / ".zattrs")
    layer: dict[str, Any] = {"type": "image", "source": f"zarr://{source}", "name": volume.name}
    shown = contrast(attrs)
    if shown is not None:
        layer["shader"] = "#uicontrol invlerp normalized\nvoid main() { emitGrayscale(normalized()); }\n"
        layer["shaderControls"] = {"normalized": {"range": shown}}
    state: dict[str, Any] = {"layers": [layer], "layout": "xy"}
    try:
        image = attrs["multiscales"][0]
        axes = [a["name"] for a in image["axes"]]
        units = [a.get("unit", "") for a in image["axes"]]
        first = image["datasets"][0]
        scales = next(t["scale"] for t in first["coordinateTransformations"] if t["type"] == "scale")
        shape = _json(volume / first["path"] / ".zarray")["shape"]
        where = [axes.index(name) for name in ("x", "y", "z")]
    except (KeyError, IndexError, TypeError, ValueError, StopIteration):
        return state
    metres = [_METRES.get(units[i]) for i in where]
    state["dimensions"] = {name: [scales[i] * m, "m"] if m else [scales[i], ""]
                           for name, i, m in zip("xyz", where, metres)}
    # the middle voxel's centre: OME-NGFF (and neuroglancer) put a voxel's centre at its index
    # the whole slice in view (at most 1 voxel a screen pixel): a large one opens on a coarser level
    fit = max(1.0, round(max(shape[where[0]], shape[where[1]]) / FIT_PIXELS, 2))
    state.update(displayDimensions=["x", "y", "z"], position=[shape[i] // 2 for i in where],
                 crossSectionScale=fit, projectionScale=2 * max(shape))
    return state


def viewer_fragment(state: dict[str, Any]) -> str:
    """The address fragment neuroglancer reads its state from."""
    return "#!" + urllib.parse.quote(json.dumps(state, separators=(",", ":")), safe="")
