"""The publication's part of the flow input schema: gladier-tools' Publishv2 input."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.schema import function_id_field, uuid_field

PUBLISH_PROPERTIES: dict[str, Any] = {
    "publishv2": {
        "title": "Publication",
        "description": "Catalogue the reconstruction in Globus Search and copy it to the publication "
        "collection.",
        "type": "object",
        "properties": {
            "dataset": {"title": "What to publish", "description": "Path (on the compute nodes) of "
                        "what is published, inside the reconstruction folder. Leave empty to publish "
                        "the reconstruction this run made.", "type": "string", "minLength": 1},
            "destination": {"title": "Publish to", "description": "Folder on the publication collection.",
                            "type": "string", "minLength": 1},
            "source_collection": uuid_field("Facility collection", "Collection holding the reconstruction."),
            "source_collection_basepath": {"title": "Facility collection root",
                                           "description": "POSIX path that the facility collection's / "
                                           "maps to.", "type": ["string", "null"]},
            "destination_collection": uuid_field("Publication collection", "Collection the results are "
                                                 "copied to."),
            "index": uuid_field("Search index", "Globus Search index for the record."),
            "visible_to": {"title": "Visible to", "description": "Who may find the record: 'public', "
                           "or Globus identity/group URNs (urn:globus:groups:id:...).",
                           "type": "array", "items": {"title": "Person, group or 'public'",
                                                      "type": "string", "minLength": 1},
                           "minItems": 1, "default": ["public"]},
            "entry_id": {"title": "Entry id", "type": "string", "default": "metadata"},
            "metadata": {"title": "Extra metadata", "type": "object"},
            "checksum_algorithms": {"title": "Checksums", "description": "Checksums recorded for "
                                    "every published file.", "type": "array", "minItems": 0,
                                    "items": {"title": "Checksum algorithm", "type": "string",
                                              "enum": ["md5", "sha1", "sha256", "sha512"]},
                                    "default": ["sha256"]},
            "enable_transfer": {"title": "Copy the results", "description": "Copy the reconstruction "
                                "to the publication collection.", "type": "boolean", "default": True},
            "enable_publish": {"title": "Catalogue in Globus Search", "description": "Add the record "
                               "to the search index.", "type": "boolean", "default": True},
            "enable_meta_dc": {"title": "Add DataCite metadata", "description": "Describe the dataset "
                               "with DataCite fields in the record.", "type": "boolean", "default": True},
            "enable_meta_files": {"title": "List every file in the record", "description": "Off: the "
                                  "published manifest.json lists the files with their checksums.",
                                  "type": "boolean", "default": False},
            "recursive_transfer": {"title": "Copy the folder", "type": "boolean", "default": True},
        },
        "required": ["destination", "source_collection", "destination_collection", "index",
                     "visible_to", "enable_transfer", "enable_publish", "enable_meta_dc"],
        "additionalProperties": False,
    },
    "publishv2_gather_metadata_function_id": function_id_field("publishv2_gather_metadata"),
}
PUBLISH_REQUIRED = ("publishv2", "publishv2_gather_metadata_function_id")
