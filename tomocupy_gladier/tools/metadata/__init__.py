"""The scan's metadata and the record: scan_metadata.py (compute function, Gladier tool, its tasks
in a flow), schema.py (its input). step.py names the step (``STEP``: what it adds to the house)."""
