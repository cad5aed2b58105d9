"""The publication: gladier-tools' Publishv2 with its gather step on Compute v3 and its copy a
mirror (tool.py), schema.py (its input), flow_input.py (its block), config.py (``[publish]``),
start_form.py (its defaults). step.py names the step (``STEP``: what it adds to the house)."""
