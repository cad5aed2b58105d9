"""The publication's section of the experiment file, ``[publish]``: the Globus Search index, the
collection and folder results are copied to, and what a full reconstruction is kept as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from tomocupy_gladier.compute.multiscale import FORMATS, volume_formats, zarr_options
from tomocupy_gladier.experiment.config import DATA_ACCESS_FIELD, ExperimentConfig, Section
from tomocupy_gladier.experiment.schema import uuid_field


@dataclass(frozen=True)
class PublishConfig:
    """Where and how results are published (the ``[publish]`` section)."""

    index: str
    collection: str
    path: str
    visible_to: tuple[str, ...] = ("public",)
    checksums: tuple[str, ...] = ("sha256",)
    transfer: bool = True
    ingest: bool = True
    datacite: bool = True
    https_url: str | None = None
    # what a full reconstruction is kept and published as: "tiff", "zarr" or both (None: both,
    # or tiff alone without the OME-Zarr; compute.multiscale.volume_formats)
    formats: tuple[str, ...] | None = None


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "index": uuid_field("Search index", ""),
        "collection": uuid_field("Publication collection", ""),
        "path": {"type": "string", "minLength": 1},
        "visible_to": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        "checksums": {"type": "array",
                      "items": {"type": "string", "enum": ["md5", "sha1", "sha256", "sha512"]}},
        "transfer": {"type": "boolean"},
        "ingest": {"type": "boolean"},
        "datacite": {"type": "boolean"},
        # the collection's HTTPS address (GCS: https://<id>.<domain>), for the Zarr's URL
        "https_url": {"type": "string", "pattern": "^https://[^/]+/?$"},
        # what a full reconstruction is kept and published as (compute/multiscale.py)
        "formats": {"type": "array", "items": {"type": "string", "enum": list(FORMATS)},
                    "minItems": 1, "uniqueItems": True},
        "data_access": DATA_ACCESS_FIELD,
    },
    "required": ["index", "collection", "path"],
    "additionalProperties": False,
}


def parse(section: Mapping[str, Any], raw: Mapping[str, Any]) -> PublishConfig:
    """``[publish]`` as :class:`PublishConfig`; refuses formats the ``[zarr]`` settings cannot
    make (the endpoint's own rule, so a bad one stops here, not on Polaris)."""
    volume_formats(section.get("formats"), zarr_options(raw.get("zarr")))
    return PublishConfig(
        index=section["index"], collection=section["collection"], path=section["path"],
        visible_to=tuple(section.get("visible_to", ["public"])),
        checksums=tuple(section.get("checksums", ["sha256"])),
        transfer=section.get("transfer", True), ingest=section.get("ingest", True),
        datacite=section.get("datacite", True), https_url=section.get("https_url"),
        formats=tuple(section["formats"]) if "formats" in section else None,
    )


TEMPLATE = """\
[publish]                       # Globus Search index and the collection results are copied to
index = "{index}"
collection = "{publication}"
path = "/published"
visible_to = ["public"]
checksums = ["sha256"]
# formats = ["zarr"]            # keep and publish the OME-Zarr alone ("tiff": the slices alone;
#                               # default both): one copy of the voxels
"""

SECTION = Section("publish", SCHEMA, parse, collection=lambda section: section["collection"],
                  data_access=False, template=TEMPLATE)


def publish_config(config: ExperimentConfig) -> PublishConfig | None:
    """The experiment's ``[publish]`` section, or None when it has none (the metadata is
    gathered only)."""
    return config.sections.get(SECTION.name)
