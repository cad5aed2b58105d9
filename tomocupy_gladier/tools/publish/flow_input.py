"""The publication's block of the flow input: gladier-tools' Publishv2 input, and what a run
publishes."""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from pathlib import PurePosixPath
from typing import Any, Mapping, TypedDict

from tomocupy_gladier.compute.rules import is_try

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.output_folders import previews_folder
from tomocupy_gladier.tools.publish.config import publish_config
from tomocupy_gladier.tools.step import RunFacts, ScanLocation


class Publishv2Block(TypedDict):
    """``publishv2``: gladier-tools' Publishv2 input. Every ``enable_*`` flag is explicit:
    Publishv2 silently skips a step whose flag is absent."""

    dataset: str
    destination: str
    source_collection: str
    source_collection_basepath: str | None
    destination_collection: str
    index: str
    visible_to: list[str]
    checksum_algorithms: list[str]
    metadata: dict[str, Any]
    enable_transfer: bool
    enable_publish: bool
    enable_meta_dc: bool
    enable_meta_files: bool


def published_item(output: PurePosixPath, recon: Mapping[str, Any],
                   previews: Mapping[str, Any] | None = None) -> PurePosixPath:
    """What a run publishes: the reconstruction folder; for a try, its previews (the montage)
    rather than every candidate slice."""
    if is_try(recon):
        return previews_folder(output, str((previews or {}).get("folder", "previews")))
    return output


def publish_input(config: ExperimentConfig, location: ScanLocation, output: PurePosixPath,
                  options: Mapping[str, Any], previews: Mapping[str, Any] | None = None,
                  extra_metadata: Mapping[str, Any] | None = None) -> Publishv2Block:
    """Publishv2's block; every enable flag is explicit (an absent flag silently skips the step).

    ``enable_meta_files`` is off: a per-file list of a 2000-slice volume would not fit in the
    run state. The files are described by the published ``manifest.json`` instead (per-file
    sha256 and size), whose counts and location the record carries. The reconstruction's
    parameters are not copied here: the metadata step puts those it ran with in the record
    (in an interactive run, the chosen ones).
    """
    dataset = published_item(output, options, previews)
    metadata: dict[str, Any] = {"tomography": {"experiment": config.name, "scan": location.name}}
    metadata.update(extra_metadata or {})
    publish = publish_config(config)
    if publish is None:
        # nothing to publish to: gather the metadata only (it stays in the run's output)
        return {
            "dataset": str(dataset), "destination": "/", "source_collection": config.facility.id,
            "source_collection_basepath": str(config.facility.posix_root),
            "destination_collection": config.facility.id, "index": config.facility.id,
            "visible_to": ["public"], "checksum_algorithms": ["sha256"], "metadata": metadata,
            "enable_transfer": False, "enable_publish": False, "enable_meta_dc": True,
            "enable_meta_files": False,
        }
    destination = PurePosixPath("/", publish.path, config.name)
    if is_try(options):
        # the previews folder of a try lands in try_center/<scan>/previews, one per scan
        destination = destination / "try_center" / output.name
    if publish.https_url:
        # where the published folder is on the web: the record's Zarr gets its HTTPS URL
        metadata["tomography"]["publication"] = {"https": publish.https_url.rstrip("/") + str(destination)}
    return {
        "dataset": str(dataset),
        "destination": str(destination),
        "source_collection": config.facility.id,
        "source_collection_basepath": str(config.facility.posix_root),
        "destination_collection": publish.collection,
        "index": publish.index,
        "visible_to": list(publish.visible_to),
        "checksum_algorithms": list(publish.checksums),
        "metadata": metadata,
        "enable_transfer": publish.transfer,
        "enable_publish": publish.ingest,
        "enable_meta_dc": publish.datacite,
        "enable_meta_files": False,
    }


class PublishInput(TypedDict):
    """The publication's key of the flow input."""

    publishv2: Publishv2Block


def publish_block(facts: RunFacts) -> PublishInput:
    """The publication's part of the flow input (:func:`publish_input`)."""
    options = {k: v for k, v in facts.recon.items() if k != "out-path-name"}
    return {"publishv2": publish_input(facts.config, facts.location, facts.output, options,
                                       facts.previews, facts.publish_metadata)}
