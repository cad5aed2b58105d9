"""The previews step's part of the flow input schema."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.schema import function_id_field

PREVIEW_PROPERTIES: dict[str, Any] = {
    "previews": {
        "title": "Previews",
        "description": "PNG previews written next to the reconstruction: three mid-sections of a full "
        "reconstruction, or a montage of the candidate centres of a try.",
        "type": "object",
        "properties": {
            "folder": {"title": "Folder", "type": "string", "minLength": 1, "default": "previews"},
            "percentiles": {"title": "Contrast percentiles", "description": "Intensities below and above "
                            "these percentiles are clipped.", "type": "array", "minItems": 2, "maxItems": 2,
                            "items": {"title": "Percentile", "type": "number", "minimum": 0,
                                      "maximum": 100},
                            "default": [0.5, 99.5]},
            "max_size": {"title": "Largest side (px)", "type": "integer", "minimum": 64, "maximum": 8192,
                         "default": 1024},
            "max_sections": {"title": "Slices read for side views", "type": "integer", "minimum": 8,
                             "default": 512},
            "pixel_size_um": {"title": "Pixel size (microns)", "description": "For the scale bar; "
                              "default: from the parameters or the scan.", "type": "number",
                              "exclusiveMinimum": 0},
            "tile_size": {"title": "Montage tile (px)", "type": "integer", "minimum": 32, "default": 192},
            "montage_max": {"title": "Most centres shown", "type": "integer", "minimum": 1, "default": 64},
        },
        "additionalProperties": False,
    },
    "make_previews_function_id": function_id_field("make_previews"),
}
PREVIEW_REQUIRED = ("previews", "make_previews_function_id")
