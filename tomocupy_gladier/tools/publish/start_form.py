"""The publication's defaults in the start form deployed for an experiment."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.publish.config import publish_config
from tomocupy_gladier.tools.step import Put


def publish_defaults(properties: dict[str, Any], config: ExperimentConfig, put: Put) -> None:
    """Publishv2's input from ``[publish]``: the collection and folder, index, who sees the
    record; without the section the metadata is gathered only (as ``run`` does)."""
    put(("publishv2", "source_collection"), config.facility.id)
    put(("publishv2", "source_collection_basepath"), str(config.facility.posix_root))
    put(("publishv2", "enable_meta_files"), False)
    publish = publish_config(config)
    if publish is None:
        for key, value in (("destination", "/"), ("destination_collection", config.facility.id),
                           ("index", config.facility.id), ("visible_to", ["public"]),
                           ("enable_transfer", False), ("enable_publish", False)):
            put(("publishv2", key), value)
        return
    for key, value in (("destination", f"/{str(publish.path).strip('/')}/{config.name}"),
                       ("destination_collection", publish.collection), ("index", publish.index),
                       ("visible_to", list(publish.visible_to)),
                       ("checksum_algorithms", list(publish.checksums)),
                       ("enable_transfer", publish.transfer), ("enable_publish", publish.ingest),
                       ("enable_meta_dc", publish.datacite)):
        put(("publishv2", key), value)
